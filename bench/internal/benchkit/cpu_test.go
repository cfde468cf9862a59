package benchkit

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestCPUTimes_CountsAGroupsProcessesAndTheRestAsOther(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no Linux /proc")
	}
	me := os.Getpid()
	// Spin until this process has used a clock tick (10 ms) of CPU time, so there is some to count.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if _, cpu, ok := procCPU(fmt.Sprintf("/proc/%d", me)); ok && cpu > 0 {
			break
		}
	}
	cpu := CPUTimes(func(p ProcInfo) (string, bool) {
		return "test", p.PID == me
	}, "other")
	if cpu["test"] <= 0 {
		t.Errorf("this process's CPU time = %s, want some", cpu["test"])
	}
	if _, ok := cpu["other"]; !ok || cpu["other"] < 0 {
		t.Errorf("other = %s (present: %t), want a non-negative time", cpu["other"], ok)
	}
	if len(cpu) != 2 {
		t.Errorf("groups %v, want test and other only", cpu)
	}
}

func TestCPUDelta_IsAfterMinusBeforeNeverNegative(t *testing.T) {
	before := map[string]time.Duration{"a": time.Second, "b": 3 * time.Second}
	after := map[string]time.Duration{"a": 4 * time.Second, "b": 2 * time.Second, "c": time.Second}
	got := CPUDelta(before, after)
	want := map[string]time.Duration{"a": 3 * time.Second, "b": 0, "c": time.Second}
	if len(got) != len(want) {
		t.Errorf("CPUDelta = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("CPUDelta[%s] = %s, want %s", k, got[k], v)
		}
	}
}
