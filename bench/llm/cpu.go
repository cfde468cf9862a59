package main

import (
	"os"
	"slices"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// cpuGroup names the processes whose CPU time a run reports.
type cpuGroup string

// The groups, in the order the report lists them.
const (
	cpuFrontdoor  cpuGroup = "front door"
	cpuDispatcher cpuGroup = "dispatcher"
	cpuKafka      cpuGroup = "kafka broker"
	cpuPostgres   cpuGroup = "postgres"
	cpuHarness    cpuGroup = "harness (clients + fake model)"
	// cpuOther is the machine's busy time less the groups above.
	cpuOther cpuGroup = "everything else"
)

var cpuGroups = []cpuGroup{cpuFrontdoor, cpuDispatcher, cpuKafka, cpuPostgres, cpuHarness, cpuOther}

// cpuTimes returns the CPU time (user + system) used so far by the front doors (together),
// the dispatcher (pid 0: none), the Kafka broker, Postgres (all its processes, every
// database's backends included) and the harness, and by the rest of the machine. It returns
// an empty map where /proc is not Linux's.
func cpuTimes(frontdoorPIDs []int, dispatcherPID int) map[cpuGroup]time.Duration {
	harness := os.Getpid()
	return benchkit.CPUTimes(func(p benchkit.ProcInfo) (cpuGroup, bool) {
		switch {
		case slices.Contains(frontdoorPIDs, p.PID):
			return cpuFrontdoor, true
		case p.PID == dispatcherPID:
			return cpuDispatcher, true
		case p.PID == harness:
			return cpuHarness, true
		case p.Comm == "java" && p.CmdlineHas("kafka.Kafka"):
			return cpuKafka, true
		case p.Comm == "postgres":
			return cpuPostgres, true
		}
		return "", false
	}, cpuOther)
}
