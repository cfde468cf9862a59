package benchkit

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ProcInfo is a running process as /proc shows it, for the classifier of CPUTimes.
type ProcInfo struct {
	PID int
	// Comm is the command name: "postgres", "java", a binary's file name.
	Comm string
}

// CmdlineHas reports whether the process's command line contains s, e.g. the main class that
// tells one JVM from another ("kafka.Kafka", "ConnectDistributed"). It reports false if the
// command line cannot be read (the process has gone).
func (p ProcInfo) CmdlineHas(s string) bool {
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "cmdline"))
	return err == nil && bytes.Contains(cmdline, []byte(s))
}

// CPUTimes returns the CPU time (user + system) each group of processes has used so far, and
// under other the machine's busy time less the groups' (never negative): the harness and
// whatever else runs, where group does not count them. group names a process's group (never
// other), or reports false to count it in none. Processes that have exited are not counted,
// which is fine across a window in which the processes of interest live. CPUTimes reads /proc;
// it returns an empty map where /proc is not Linux's.
func CPUTimes[G comparable](group func(ProcInfo) (G, bool), other G) map[G]time.Duration {
	out := map[G]time.Duration{}
	busy, ok := machineBusy()
	if !ok {
		return out
	}
	var grouped time.Duration
	dirs, _ := filepath.Glob("/proc/[0-9]*") // only a malformed pattern fails
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		comm, cpu, ok := procCPU(dir)
		if !ok {
			continue
		}
		if g, ok := group(ProcInfo{PID: pid, Comm: comm}); ok {
			out[g] += cpu
			grouped += cpu
		}
	}
	out[other] = max(busy-grouped, 0)
	return out
}

// CPUDelta returns after − before for each group of two CPUTimes readings, never negative
// (other is a difference of readings taken a moment apart, and a group loses the time of its
// processes that exited).
func CPUDelta[G comparable](before, after map[G]time.Duration) map[G]time.Duration {
	out := map[G]time.Duration{}
	for k, v := range after {
		out[k] = max(v-before[k], 0)
	}
	return out
}
