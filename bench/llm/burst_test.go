package main

import (
	"testing"
	"time"
)

func TestCallPhases_SplitsTheCallsAtTheLastSampleBeforeTheLastAdmission(t *testing.T) {
	r := burstResult{Workers: 2, Took: 2 * time.Second, Admitted: 1200 * time.Millisecond, Calls: []callSample{
		{At: 0, Calls: 10, Sum: 1},
		{At: 500 * time.Millisecond, Calls: 14, Sum: 1.48},
		{At: time.Second, Calls: 18, Sum: 1.96}, // the last before Admitted: 8 calls of 120 ms
		{At: 1500 * time.Millisecond, Calls: 23, Sum: 2.46},
		{At: 2 * time.Second, Calls: 28, Sum: 2.96}, // 10 calls of 100 ms after
	}}
	admitting, after, admittingMean, afterMean := r.CallPhases()
	if admitting != 8 || after != 10 || admittingMean != 120*time.Millisecond || afterMean != 100*time.Millisecond {
		t.Fatalf("CallPhases() = %d, %d, %s, %s; want 8, 10, 120ms, 100ms", admitting, after, admittingMean, afterMean)
	}
	if got := r.ModelShare(); got < 0.489 || got > 0.491 {
		t.Fatalf("ModelShare() = %g, want 1.96 s of calls / (2 workers × 2 s) = 0.49", got)
	}
}

func TestCallPhases_IsEmptyWithoutTwoSamples(t *testing.T) {
	r := burstResult{Workers: 2, Took: time.Second, Calls: []callSample{{Calls: 3, Sum: 1}}}
	if a, b, am, bm := r.CallPhases(); a != 0 || b != 0 || am != 0 || bm != 0 || r.ModelShare() != 0 {
		t.Fatalf("one sample: %d %d %s %s %g, want zeros", a, b, am, bm, r.ModelShare())
	}
}
