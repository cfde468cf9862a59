package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// Process groups whose CPU time the backlog drain reports.
const (
	cpuDispatcher = "dispatcher"
	cpuPostgres   = "postgres"
	cpuKafka      = "kafka broker"
	cpuConnect    = "kafka connect"
	// cpuOther is the machine's busy time less the groups above: the harness, and whatever
	// else runs on the machine (a reason for numbers to vary between runs).
	cpuOther = "everything else"
)

// cpuTimes returns the CPU time (user + system) used so far by the dispatcher process, by
// Postgres's processes, and by the Kafka broker and Kafka Connect JVMs, read from /proc. It
// returns an empty map where /proc is not Linux's. Postgres backends that already exited are
// not counted, which is fine across a window in which the dispatcher's connections stay open.
func cpuTimes(dispatcherPID int) map[string]time.Duration {
	out := map[string]time.Duration{}
	busy, ok := machineBusy()
	if !ok {
		return out
	}
	defer func() {
		out[cpuOther] = max(busy-out[cpuDispatcher]-out[cpuPostgres]-out[cpuKafka]-out[cpuConnect], 0)
	}()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return out
	}
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		comm, cpu, ok := procCPU(dir)
		if !ok {
			continue
		}
		switch {
		case pid == dispatcherPID:
			out[cpuDispatcher] += cpu
		case comm == "postgres":
			out[cpuPostgres] += cpu
		case comm == "java":
			cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
			if err != nil {
				continue
			}
			switch {
			case bytes.Contains(cmdline, []byte("ConnectDistributed")):
				out[cpuConnect] += cpu
			case bytes.Contains(cmdline, []byte("kafka.Kafka")):
				out[cpuKafka] += cpu
			}
		}
	}
	return out
}

// procCPU reads a process's command name and CPU time from its stat file.
func procCPU(dir string) (string, time.Duration, bool) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ... : comm may hold spaces, so split around the last ')'.
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	fields := strings.Fields(string(stat[closing+1:]))
	if len(fields) < 13 {
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(stat[open+1 : closing]), time.Duration(utime+stime) * clockTick, true
}

// cpuDelta returns after − before for each group.
func cpuDelta(before, after map[string]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// machineBusy returns the CPU time all CPUs spent not idle since boot, from /proc/stat.
func machineBusy() (time.Duration, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, true
}
