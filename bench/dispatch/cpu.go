package main

import (
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
	return benchkit.CPUTimes(func(p benchkit.ProcInfo) (string, bool) {
		switch {
		case p.PID == dispatcherPID:
			return cpuDispatcher, true
		case p.Comm == "postgres":
			return cpuPostgres, true
		case p.Comm != "java":
			return "", false
		case p.CmdlineHas("ConnectDistributed"):
			return cpuConnect, true
		case p.CmdlineHas("kafka.Kafka"):
			return cpuKafka, true
		}
		return "", false
	}, cpuOther)
}
