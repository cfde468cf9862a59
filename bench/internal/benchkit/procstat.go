package benchkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procCPU reads a process's command name and CPU time (user + system) from the stat file in
// dir, a /proc/PID directory. It reports false if the file is missing or malformed.
func procCPU(dir string) (string, time.Duration, bool) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return "", 0, false
	}
	return parseStat(stat)
}

// parseStat reads the command name and CPU time of a /proc/PID/stat file's contents.
func parseStat(stat []byte) (string, time.Duration, bool) {
	// pid (comm) state ppid ...: comm may hold spaces, so split around the last ')'.
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

// machineBusy returns the CPU time all CPUs spent not idle since boot, from /proc/stat. It
// reports false where /proc/stat is missing or not Linux's.
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

// RSS returns a process's resident set size (VmRSS of /proc/PID/status) in bytes.
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read VmRSS: %w", err)
	}
	defer f.Close()
	return vmRSS(f)
}

// vmRSS finds the VmRSS line of a /proc/PID/status file ("VmRSS:    12345 kB").
func vmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "VmRSS" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS %q: %w", v, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read VmRSS: %w", err)
	}
	return 0, errors.New("no VmRSS line")
}

// SchedCPU returns the time a process has spent on a CPU, from the first field of
// /proc/PID/schedstat, in nanoseconds: finer than the clock ticks of /proc/PID/stat, for
// processes that use little CPU (a Postgres backend woken now and then).
func SchedCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return 0, fmt.Errorf("read schedstat: %w", err)
	}
	return parseSchedstat(b)
}

// parseSchedstat reads the on-CPU time of a /proc/PID/schedstat file's contents ("run-ns
// wait-ns timeslices").
func parseSchedstat(b []byte) (time.Duration, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, errors.New("empty schedstat")
	}
	ns, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse schedstat %q: %w", fields[0], err)
	}
	return time.Duration(ns), nil
}
