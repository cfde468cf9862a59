package benchkit

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestVmRSS_ReadsKilobytesAsBytes(t *testing.T) {
	status := "Name:\tfrontdoor\nVmPeak:\t 2000000 kB\nVmRSS:\t   17816 kB\nThreads:\t8\n"
	got, err := vmRSS(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if got != 17816*1024 {
		t.Errorf("vmRSS = %d, want %d", got, 17816*1024)
	}
}

func TestVmRSS_FailsWithoutTheLine(t *testing.T) {
	if _, err := vmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Fatal("no error for a status without VmRSS (a kernel thread's)")
	}
}

func TestParseStat_ReadsCommandAndUserPlusSystemTime(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 120 and 30 ticks.
	tail := " S 1 1 1 0 -1 4194560 100 0 0 0 120 30 0 0 20 0 1 0 5 1000 100\n"
	for _, c := range []struct {
		name, stat, comm string
		cpu              time.Duration
		ok               bool
	}{
		{"plain", "42 (postgres)" + tail, "postgres", 150 * clockTick, true},
		{"spaces and parentheses in the command", "42 (a (b) c)" + tail, "a (b) c", 150 * clockTick, true},
		{"too few fields", "42 (java) S 1 1", "", 0, false},
		{"no command", "42 java" + tail, "", 0, false},
		{"time not a number", "42 (java) S 1 1 1 0 -1 4194560 100 0 0 0 x 30 0", "", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			comm, cpu, ok := parseStat([]byte(c.stat))
			if comm != c.comm || cpu != c.cpu || ok != c.ok {
				t.Errorf("parseStat = %q, %s, %t; want %q, %s, %t", comm, cpu, ok, c.comm, c.cpu, c.ok)
			}
		})
	}
}

func TestRSS_ReadsThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no Linux /proc")
	}
	rss, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 {
		t.Errorf("RSS = %d, want a positive size", rss)
	}
}

func TestParseSchedstat_ReadsTheOnCPUNanoseconds(t *testing.T) {
	got, err := parseSchedstat([]byte("13987956912 38874503099 356020\n"))
	if err != nil || got != 13987956912*time.Nanosecond {
		t.Errorf("parseSchedstat = %v, %v; want 13.987956912s", got, err)
	}
	for _, bad := range []string{"", "\n", "x 1 2"} {
		if _, err := parseSchedstat([]byte(bad)); err == nil {
			t.Errorf("parseSchedstat(%q): no error", bad)
		}
	}
}
