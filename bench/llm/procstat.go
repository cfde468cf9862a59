package main

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

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// rss returns a process's resident set size (VmRSS of /proc/PID/status) in bytes.
func rss(pid int) (int64, error) {
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

// cpuGroup names the processes whose CPU time a throughput run reports.
type cpuGroup string

// The groups, in the order the report lists them.
const (
	cpuFrontdoor  cpuGroup = "front door"
	cpuDispatcher cpuGroup = "dispatcher"
	cpuKafka      cpuGroup = "kafka broker"
	cpuHarness    cpuGroup = "harness (clients + fake model)"
	// cpuOther is the machine's busy time less the groups above.
	cpuOther cpuGroup = "everything else"
)

var cpuGroups = []cpuGroup{cpuFrontdoor, cpuDispatcher, cpuKafka, cpuHarness, cpuOther}

// cpuTimes returns the CPU time (user + system) used so far by the front door, the
// dispatcher (pid 0: none), the Kafka broker and the harness, and by the rest of the machine.
// It returns an empty map where /proc is not Linux's.
func cpuTimes(frontdoorPID, dispatcherPID int) map[cpuGroup]time.Duration {
	out := map[cpuGroup]time.Duration{}
	busy, ok := benchkit.MachineBusy()
	if !ok {
		return out
	}
	for group, pid := range map[cpuGroup]int{cpuFrontdoor: frontdoorPID, cpuDispatcher: dispatcherPID, cpuHarness: os.Getpid()} {
		if pid == 0 {
			continue
		}
		if _, cpu, ok := benchkit.ProcCPU(fmt.Sprintf("/proc/%d", pid)); ok {
			out[group] = cpu
		}
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, cpu, ok := benchkit.ProcCPU(dir)
		if !ok || comm != "java" {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && bytes.Contains(cmdline, []byte("kafka.Kafka")) {
			out[cpuKafka] += cpu
		}
	}
	out[cpuOther] = busy
	for _, g := range cpuGroups[:len(cpuGroups)-1] {
		out[cpuOther] -= out[g]
	}
	out[cpuOther] = max(out[cpuOther], 0)
	return out
}

// cpuDelta returns after − before for each group; never negative (cpuOther is a difference
// of readings taken a moment apart).
func cpuDelta(before, after map[cpuGroup]time.Duration) map[cpuGroup]time.Duration {
	out := map[cpuGroup]time.Duration{}
	for k, v := range after {
		out[k] = max(v-before[k], 0)
	}
	return out
}
