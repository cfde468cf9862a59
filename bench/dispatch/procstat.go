package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

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
	busy, ok := benchkit.MachineBusy()
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
		comm, cpu, ok := benchkit.ProcCPU(dir)
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

// cpuDelta returns after − before for each group.
func cpuDelta(before, after map[string]time.Duration) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}
