package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

func TestFormatting_ReadsAsTheReportWritesIt(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{dur(100 * time.Millisecond), "100 ms"},
		{dur(20 * time.Second), "20 s"},
		{dur(1500 * time.Microsecond), "1.5ms"},
		{kib(25395), "24.8 KiB"},
		{mib(17.5 * (1 << 20)), "17.5 MiB"},
		{size(0), "0 B"},
		{size(1023), "1023 B"},
		{size(1024), "1.0 KiB"},
		{size(25395), "24.8 KiB"},
		{size(1.25 * (1 << 20)), "1.2 MiB"},
		{plural(1, "front door"), "1 front door"},
		{plural(3, "front door"), "3 front doors"},
		{enqueueP99(enqueueResult{Latency: benchkit.Distribution{P99: 9 * time.Millisecond}}), "9.0 ms"},
		{enqueueP99(enqueueResult{Latency: benchkit.Distribution{P99: 19 * time.Second}, Unacked: 8970}), "19000.0 ms of those acknowledged; 8,970 never were"},
		{slowSeconds([]time.Duration{9 * time.Millisecond, 12 * time.Millisecond, 8 * time.Millisecond}, nil, nil, 25*time.Millisecond),
			"Every second of the window had a p99 under 25 ms; the slowest, +1 s 12.0 ms."},
		{slowSeconds([]time.Duration{9 * time.Millisecond, 88 * time.Millisecond, 25 * time.Millisecond, 8 * time.Millisecond},
			[]map[string]time.Duration{{"reserve": time.Millisecond}, {"accept": 4300 * time.Microsecond, "reserve": 2100 * time.Microsecond, "enqueue": 37 * time.Millisecond}, {}},
			nil, 25*time.Millisecond),
			"Seconds of the window (by when their sentences were sent) with a p99 of 25 ms or more: 2 of 4 (+1 s 88.0 ms (reserve 2.1, enqueue 37.0, accept 4.3 ms); +2 s 25.0 ms)."},
		// A pause of the disk shows beside the stages, or alone; one shorter than minDiskPause does not.
		{slowSeconds([]time.Duration{240 * time.Millisecond, 30 * time.Millisecond, 26 * time.Millisecond},
			[]map[string]time.Duration{{"accept": 230 * time.Millisecond}},
			[]time.Duration{120400 * time.Microsecond, 40 * time.Millisecond, 10 * time.Millisecond}, 25*time.Millisecond),
			"Seconds of the window (by when their sentences were sent) with a p99 of 25 ms or more: 3 of 3 (+0 s 240.0 ms (accept 230.0 ms; the disk paused 120.4 ms); +1 s 30.0 ms (the disk paused 40.0 ms); +2 s 26.0 ms)."},
		{diskPauseSummary(enqueueResult{SecondDiskPause: []time.Duration{120400 * time.Microsecond, 40 * time.Millisecond}, DiskPauses: 2}, "vda"),
			"The disk of Postgres's data (vda) paused for 20 ms or more 2 times in the window, the longest 120.4 ms."},
		{diskPauseSummary(enqueueResult{SecondDiskPause: []time.Duration{10 * time.Millisecond, 0}}, "vda"),
			"The disk of Postgres's data (vda) never paused for 20 ms or more in the window."},
		{slowSeconds(nil, nil, nil, 25*time.Millisecond), "No second of the window was measured."},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestReport_JudgesTheEnqueueTargetOnEveryConsecutiveRunAndNotTheWarmUp(t *testing.T) {
	cfg, err := parseConfig([]string{"-enqueue-runs", "3", "-only", "enqueue"})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	run := func(n int, dispatcher bool, p99 time.Duration) enqueueResult {
		return enqueueResult{Dispatcher: dispatcher, Rate: 1000, Run: n, Runs: 3, Window: 20 * time.Second, Sent: 20000, Acked: 20000,
			Latency: benchkit.Distribution{N: 20000, P99: p99}}
	}
	warmup := run(1, true, 300*ms) // reported, and judged with neither phase
	warmup.Warmup, warmup.Runs = true, 1
	rep := report{cfg: cfg, runID: "bench-llm-test", enqueue: []enqueueResult{
		warmup, run(1, true, 20*ms), run(1, false, 9*ms), run(2, true, 50*ms), run(2, false, 31*ms), run(3, true, 45*ms), run(3, false, 12*ms),
	}}
	writeReport(t, rep,
		"jobs answered (dispatcher, WORKERS=0, model in 0 ms), in each of 3 consecutive runs |",
		"| 1 of 3 under: 20.0 ms, 50.0 ms, 45.0 ms |  NO |",
		"| 1,000/s, answered (dispatcher, WORKERS=0, model in 0 ms), warm-up 1 of 1 (not judged) ",
		"Before them, 1 warm-up run(s) at 1,000/s with a dispatcher",
		"jobs left on the topic (no dispatcher), in each of 3 consecutive runs ",
		"2 of 3 under: 9.0 ms, 31.0 ms, 12.0 ms |  NO |",
		"| 1,000/s, left on the topic (no dispatcher), run 2 of 3 ",
		"Each rate was measured 3 times in a row",
	)
}

// writeReport writes rep and fails t for each of wants the report lacks; it returns the report.
func writeReport(t *testing.T, rep report, wants ...string) string {
	t.Helper()
	var out strings.Builder
	rep.write(&out)
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	return out.String()
}

func TestReport_WritesEachMeasurementAndItsTargets(t *testing.T) {
	cfg, err := parseConfig([]string{"-rate", "1000,300"})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	rep := report{cfg: cfg, runID: "bench-llm-test",
		enqueue: []enqueueResult{
			{Dispatcher: true, Workers: 64, ModelDelay: 10 * ms, Rate: 1000, Window: 20 * time.Second, Sent: 20000, Acked: 20000, Latency: benchkit.Distribution{N: 20000, P99: 30 * ms}},
			{Rate: 300, Window: 20 * time.Second, Sent: 6000, Acked: 6000, Latency: benchkit.Distribution{N: 6000, P99: 9 * ms}},
		},
		resume: &resumeResult{Conversations: 5, Events: 1000, Runs: 50, All: benchkit.Distribution{N: 50, P50: 60 * ms, Max: 90 * ms}},
		fanout: &fanoutResult{Conversations: 60, Rate: 2, Duration: 10 * time.Second, Runs: []fanoutRun{
			{Doors: 1, PerDoor: []fanoutDoor{doorRead(60, false, 900, 100), doorRead(1, true, 0, 0)}},
			{Doors: 3, PerDoor: []fanoutDoor{doorRead(20, false, 300, 30), doorRead(20, false, 330, 40), doorRead(20, false, 290, 30), doorRead(1, true, 0, 0)}},
		}},
	}
	out := writeReport(t, rep,
		"| enqueue latency p99 < 25 ms at 1,000 sentences/s, jobs answered (dispatcher, WORKERS=64, model in 10 ms)",
		"| 300/s, left on the topic (no dispatcher)",
		"max 90.0 ms (p50 60.0 ms) | yes |",
		"| 0.370 with 0.333 of the conversations (front door 2) | yes |",
		"| quiet, beside 3",
		"| the 3 busy ones together",
		"On 3 front doors:",
	)
	if strings.Contains(out, "at 300 sentences/s, jobs") {
		t.Error("the report judges the 300/s run against the target, which is at 1,000/s")
	}
}

func TestPausesBySecond_KeepsEachSecondsLongestAndCountsThoseWorthReporting(t *testing.T) {
	from := time.Date(2026, 12, 5, 10, 40, 0, 0, time.UTC)
	ms := time.Millisecond
	pauses := []benchkit.DiskPause{
		{Start: from.Add(-5 * ms), Length: 50 * ms},   // began before the window: counted, in no second
		{Start: from.Add(200 * ms), Length: 30 * ms},  // second 0
		{Start: from.Add(900 * ms), Length: 120 * ms}, // second 0, the longer; ends in second 1
		{Start: from.Add(2100 * ms), Length: 10 * ms}, // second 2, too short to count
		{Start: from.Add(3500 * ms), Length: 40 * ms}, // after the window: counted, in no second
	}
	longest, n := pausesBySecond(pauses, from, 3)
	if want := []time.Duration{120 * ms, 0, 10 * ms}; !slices.Equal(longest, want) || n != 4 {
		t.Fatalf("longest by second %v, %d counted; want %v, 4", longest, n, want)
	}
}
