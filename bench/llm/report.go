package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/frontdoor"
)

// Targets of the issues.
const (
	targetThroughputRatio = 0.9
	targetBurstRatio      = 0.95
	targetEnqueueP99      = 25 * time.Millisecond
	targetEnqueueRate     = 1000
	targetBytesPerStream  = 64 << 10
	targetResume          = 200 * time.Millisecond
	// targetShareSlack is how far above its share of the conversations a front door's share
	// of the reads may be, for the reads to count as scaling with its own conversations.
	targetShareSlack = 1.2
	// targetQuietShare is the most a front door with quiet conversations may read, as a
	// share of what a busy one reads.
	targetQuietShare = 0.01
)

// report is everything a run measured.
type report struct {
	machine    machine
	cfg        config
	runID      string
	throughput []throughputResult
	enqueue    []enqueueResult
	// burst, resume, fanout and memory are nil when not run.
	burst  *burstResult
	resume *resumeResult
	fanout *fanoutResult
	memory *memoryResult
	// disk is the disk of Postgres's data the enqueue runs watched, nil when none.
	disk *benchkit.Disk
}

func (r report) write(w io.Writer) {
	m := r.machine
	m.WriteHeader(w, "bench-llm", r.runID)
	fmt.Fprintf(w, "- versions: %s, Kafka %s, %s\n\n", m.Go, m.Kafka, m.Postgres)
	if len(r.throughput) > 0 {
		r.writeThroughput(w)
	}
	if r.burst != nil {
		r.writeBurst(w)
	}
	if len(r.enqueue) > 0 {
		r.writeEnqueue(w)
	}
	if r.resume != nil {
		r.writeResume(w)
	}
	if r.fanout != nil {
		r.writeFanout(w)
	}
	if r.memory != nil {
		r.writeMemory(w)
	}
	r.writeTargets(w)
}

func (r report) writeThroughput(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "### Throughput: fake model answering in %s, WORKERS=%d, %d conversations with work waiting\n\n", dur(c.Latency), c.Workers, c.Conversations)
	fmt.Fprintf(w, "Each of the %d streams keeps %d jobs waiting (sends %d sentences, then one per reply; QUEUE_LIMIT %d); %s warm-up, then the measured window. Replies counted on the streams; ideal = min(N, C)/R, capped by LLM_RPM/60 when set.\n\n",
		c.Conversations, c.PerConversation, c.PerConversation, throughputQueueLimit, dur(c.Warmup))
	t := benchkit.NewTable("configuration", "window", "ideal", "replies/s", "model calls/s", "achieved / ideal")
	for _, res := range r.throughput {
		t.Add(throughputLabel(res), benchkit.Seconds(res.Window, 1), fmt.Sprintf("%.0f/s", res.Ideal), fmt.Sprintf("%.1f", res.RepliesPerSecond()),
			fmt.Sprintf("%.1f", float64(res.ModelCalls)/res.Window.Seconds()), fmt.Sprintf("%.3f", res.RepliesPerSecond()/res.Ideal))
	}
	t.Write(w)
	fmt.Fprintln(w)
	for _, res := range r.throughput {
		fmt.Fprintf(w, "%s. Dispatcher over the window: model call %s on average (HTTP, the fake's latency included); a job %s with the model (rate limiter included, which held calls %s on average); %.0f retries; at least %s TCP connections to the model closed (%.2f per call). Whole run: %d error replies, %d \"queue is full!\", %d other refusals.\n",
			throughputLabel(res), benchkit.Millis(res.CallMean), benchkit.Millis(res.JobModelMean), benchkit.Millis(res.RateWaitMean), res.Retries,
			benchkit.Thousands(int64(res.ModelConnsClosed)), float64(res.ModelConnsClosed)/max(float64(res.ModelCalls), 1), res.FailedReplies, res.Refused, res.Invalid)
		writeCPU(w, res.CPU, res.Window, r.machine.CPUs)
		writeCPUPer(w, res.CPU, res.Replies, "reply")
		fmt.Fprintln(w)
	}
}

func (r report) writeBurst(w io.Writer) {
	b := r.burst
	jobs := b.Conversations * b.Sentences
	fmt.Fprintf(w, "### Burst: %s conversations send %d sentences each at once\n\n", benchkit.Thousands(int64(b.Conversations)), b.Sentences)
	fmt.Fprintf(w, "WORKERS=%d, fake model answering in %s, QUEUE_LIMIT %d. A conversation's jobs run one after another, so the pool can be full only while at least %d conversations have work. Ideal = %s jobs ÷ (min(N, C)/R) = %s: the pool busy from the first sentence to the last reply. Timed on the clients, from the first sentence sent to the last reply received.\n\n",
		b.Workers, dur(b.Latency), b.Sentences, b.Workers, benchkit.Thousands(int64(jobs)), benchkit.Seconds(b.Ideal, 2))
	t := benchkit.NewTable("jobs", "ideal", "took", "ideal / took", "first sentence enqueued", "first reply", "every conversation's first reply by", "every sentence enqueued by", "first conversation done")
	t.Add(benchkit.Thousands(int64(jobs)), benchkit.Seconds(b.Ideal, 2), benchkit.Seconds(b.Took, 2), fmt.Sprintf("%.3f", b.Ratio()),
		benchkit.Millis(b.FirstAdmitted), benchkit.Millis(b.FirstReply), benchkit.Seconds(b.LastFirstReply, 2), benchkit.Seconds(b.Admitted, 2), benchkit.Seconds(b.FirstDone, 2))
	t.Write(w)
	fmt.Fprintf(w, "\n%s replies of %s; %d error replies, %d \"queue is full!\", %d other refusals.\n",
		benchkit.Thousands(b.Replies), benchkit.Thousands(int64(jobs)), b.FailedReplies, b.Refused, b.Invalid)
	admitting, after, admittingMean, afterMean := b.CallPhases()
	fmt.Fprintf(w, "Model calls, timed by the dispatcher (HTTP, the fake's %s included): %s while the front door was still admitting sentences, %s on average; %s after, %s on average. They took %.1f %% of the pool's %d workers × %s.\n",
		dur(b.Latency), benchkit.Thousands(admitting), benchkit.Millis(admittingMean), benchkit.Thousands(after), benchkit.Millis(afterMean),
		100*b.ModelShare(), b.Workers, benchkit.Seconds(b.Took, 2))
	writeCPU(w, b.CPU, b.Took, r.machine.CPUs)
	writeCPUPer(w, b.CPU, b.Replies, "reply")
	fmt.Fprintln(w)
}

func throughputLabel(res throughputResult) string {
	s := fmt.Sprintf("N=%d, C=%d, R=%s", res.Workers, res.Conversations, dur(res.Latency))
	if res.RPM > 0 {
		return s + fmt.Sprintf(", LLM_RPM=%d", res.RPM)
	}
	return s + ", no LLM_RPM"
}

func (r report) writeEnqueue(w io.Writer) {
	c := r.cfg
	var rates, intervals []string
	for _, rate := range c.Rates {
		rates = append(rates, benchkit.Thousands(int64(rate)))
		intervals = append(intervals, fmt.Sprintf("%s at %s/s", dur(time.Duration(float64(c.Streams)/rate*float64(time.Second)).Round(time.Millisecond)), benchkit.Thousands(int64(rate))))
	}
	fmt.Fprintf(w, "### Enqueue latency: %s sentences/s over %d streams\n\n", strings.Join(rates, " and "), c.Streams)
	fmt.Fprintf(w, "Send → its \"enqueued\" received (the front door's Reserve in the transcript, the Kafka write and Accept in the transcript), timed on the client over loopback h2c (%d streams per connection), so the network hop and the harness's own scheduling are included; each stream sends every %s; %s warm-up, then %s measured, then %s more sent and not measured (-enqueue-cooldown: the streams close after it, all within one interval, and their ends are work of their own); QUEUE_LIMIT %d, so nothing is refused. Achieved: sentences sent in the window and acknowledged (the sample); acknowledged: acknowledgements received in the window, whenever sent (what the front door kept up with). Under each run, the machine's speed just before it (benchkit.MachineSpeed: one decode of the same 5 KB of JSON, on one core, the run's processes not yet started; this kind of machine's speed moved by up to twice within minutes, so runs compare like with like only at a like speed), and its seconds with a p99 of %s or more, each with the p99 of each stage of the front door's admissions that ended in it (frontdoor_admission_stage_seconds, scraped every second: reserve, the Kafka write, accept)%s.\n\n",
		c.StreamsPerConn, strings.Join(intervals, ", "), dur(c.EnqueueWarmup), dur(c.EnqueueDuration), dur(c.EnqueueCooldown), enqueueQueueLimit, dur(targetEnqueueP99), r.diskMethod())
	if c.EnqueueRuns > 1 {
		fmt.Fprintf(w, "Each rate was measured %d times in a row (-enqueue-runs), each time with a dispatcher and then alone, every run on a system of its own; the plot shows the first run of each.\n\n", c.EnqueueRuns)
	}
	if c.EnqueueWarmupRuns > 0 {
		fmt.Fprintf(w, "Before them, %d warm-up run(s) at %s/s with a dispatcher (-enqueue-warmup-runs), reported here and not judged: a stack just started is slower for its first minutes of load (its Kafka broker's JIT compiles for the first half-minute).\n\n", c.EnqueueWarmupRuns, benchkit.Thousands(int64(c.Rates[0])))
	}
	t := benchkit.NewTable("sentences/s, jobs meanwhile", "sentences measured", "achieved", "acknowledged", "p50", "p90", "p99", "p99.9", "max")
	for _, e := range r.enqueue {
		d := e.Latency
		t.Add(enqueueRunLabel(e), benchkit.Thousands(e.Sent), fmt.Sprintf("%.1f/s", e.AchievedRate()), fmt.Sprintf("%.1f/s", e.AckedRate()),
			benchkit.Millis(d.P50), benchkit.Millis(d.P90), benchkit.Millis(d.P99), benchkit.Millis(d.P999), benchkit.Millis(d.Max))
	}
	t.Write(w)
	fmt.Fprintln(w)
	for _, e := range r.enqueue {
		fmt.Fprintf(w, "%s. Whole run: %s enqueued, %d refused, %d invalid or unavailable, %s never acknowledged; %s replies received; sends at most %s behind schedule. The machine's speed just before it: %s.\n",
			enqueueRunLabel(e), benchkit.Thousands(e.Enqueued), e.Refused, e.Invalid, benchkit.Thousands(e.Unacked), benchkit.Thousands(e.Replies), benchkit.Millis(e.MaxLag), benchkit.Micros(e.Speed))
		fmt.Fprintln(w, slowSeconds(e.SecondP99, e.SecondStages, e.SecondDiskPause, targetEnqueueP99))
		if r.disk != nil {
			fmt.Fprintln(w, diskPauseSummary(e, r.disk.Name))
		}
		writeCPU(w, e.CPU, e.Window, r.machine.CPUs)
		writeCPUPer(w, e.CPU, e.Acked, "acknowledged sentence")
		fmt.Fprintln(w)
	}
	for _, e := range r.enqueue {
		if e.ProfileCPU == "" {
			continue
		}
		fmt.Fprintf(w, "#### The front door's profiles, %s (-profile %s)\n\n", enqueueRunLabel(e), r.cfg.Profile)
		fmt.Fprintf(w, "CPU over the measured window (%s), top %d by flat time:\n\n```\n%s\n```\n\n", dur(e.ProfiledFor), benchkit.ProfileTop, e.ProfileCPU)
		fmt.Fprintf(w, "Allocations since the process started, top %d by bytes allocated:\n\n```\n%s\n```\n\n", benchkit.ProfileTop, e.ProfileAllocs)
	}
}

// diskMethod is what the report's method says of the disk the enqueue runs watched.
func (r report) diskMethod() string {
	if r.disk == nil {
		return ""
	}
	return fmt.Sprintf(", and the disk's longest pause that began in it, when %s or more: the disk that holds Postgres's data (%s, whose WAL every commit the front door waits for is flushed to), sampled every %s from /proc/diskstats, paused while requests were in flight and none completed",
		dur(minDiskPause), r.disk.Name, dur(diskSampleEvery))
}

// diskPauseSummary says how often the disk of Postgres's data paused in a run's window.
func diskPauseSummary(e enqueueResult, disk string) string {
	longest := time.Duration(0)
	for _, p := range e.SecondDiskPause {
		longest = max(longest, p)
	}
	if e.DiskPauses == 0 {
		return fmt.Sprintf("The disk of Postgres's data (%s) never paused for %s or more in the window.", disk, dur(minDiskPause))
	}
	return fmt.Sprintf("The disk of Postgres's data (%s) paused for %s or more %s in the window, the longest %s.", disk, dur(minDiskPause), plural(e.DiskPauses, "time"), benchkit.Millis(longest))
}

// slowSeconds says which seconds of an enqueue run's window had a p99 at or above target
// (each with its p99, from the window's start, the p99 of each admission stage that ended in
// that second, when known, and the longest pause of the disk of Postgres's data that began in
// it, when one did), or, when none had, which was the slowest.
func slowSeconds(p99s []time.Duration, stages []map[string]time.Duration, pauses []time.Duration, target time.Duration) string {
	if len(p99s) == 0 {
		return "No second of the window was measured."
	}
	second := func(i int) string {
		s := fmt.Sprintf("+%d s %s", i, benchkit.Millis(p99s[i]))
		var why []string
		if i < len(stages) && len(stages[i]) > 0 {
			why = append(why, stageP99s(stages[i]))
		}
		if i < len(pauses) && pauses[i] >= minDiskPause {
			why = append(why, "the disk paused "+benchkit.Millis(pauses[i]))
		}
		if len(why) > 0 {
			s += " (" + strings.Join(why, "; ") + ")"
		}
		return s
	}
	var slow []string
	slowest := 0
	for i, p := range p99s {
		if p > p99s[slowest] {
			slowest = i
		}
		if p >= target {
			slow = append(slow, second(i))
		}
	}
	if len(slow) == 0 {
		return fmt.Sprintf("Every second of the window had a p99 under %s; the slowest, %s.", dur(target), second(slowest))
	}
	return fmt.Sprintf("Seconds of the window (by when their sentences were sent) with a p99 of %s or more: %d of %d (%s).", dur(target), len(slow), len(p99s), strings.Join(slow, "; "))
}

// stageP99s lists the stages of one second: "reserve 2.1, enqueue 37.0, accept 4.3 ms".
func stageP99s(p99s map[string]time.Duration) string {
	var parts []string
	for _, stage := range frontdoor.AdmissionStages() {
		if p, ok := p99s[stage]; ok {
			parts = append(parts, stage+" "+strings.TrimSuffix(benchkit.Millis(p), " ms"))
		}
	}
	return strings.Join(parts, ", ") + " ms"
}

// enqueueTarget adds the enqueue target's row for the runs at the target rate with a
// dispatcher or without: met when every run's p99 is under the target.
func (r report) enqueueTarget(t *benchkit.Table, dispatcher bool) {
	var runs []enqueueResult
	for _, e := range r.enqueue {
		if e.Rate == targetEnqueueRate && e.Dispatcher == dispatcher && !e.Warmup {
			runs = append(runs, e) // the target is at one rate; the others show where it would hold
		}
	}
	if len(runs) == 0 {
		return
	}
	target := fmt.Sprintf("enqueue latency p99 < %s at %s sentences/s, jobs %s", dur(targetEnqueueP99), benchkit.Thousands(int64(targetEnqueueRate)), enqueueLabel(runs[0]))
	under := 0
	var p99s []string
	for _, e := range runs {
		if e.Latency.N > 0 && e.Unacked == 0 && e.Latency.P99 < targetEnqueueP99 {
			under++
		}
		p99s = append(p99s, enqueueP99(e))
	}
	measured := p99s[0]
	if len(runs) > 1 {
		target += fmt.Sprintf(", in each of %d consecutive runs", len(runs))
		measured = fmt.Sprintf("%d of %d under: %s", under, len(runs), strings.Join(p99s, ", "))
	}
	t.Add(target, measured, benchkit.Met(under == len(runs)))
}

// enqueueP99 is a run's p99, said to be of the acknowledged sentences only when some never
// were (then it understates the run's).
func enqueueP99(e enqueueResult) string {
	if e.Unacked == 0 {
		return benchkit.Millis(e.Latency.P99)
	}
	return fmt.Sprintf("%s of those acknowledged; %s never were", benchkit.Millis(e.Latency.P99), benchkit.Thousands(e.Unacked))
}

// figures are the report's plots: enqueue latency by run, and each throughput run's replies
// per second against its ideal.
func (r report) figures() []benchkit.Figure {
	var figs []benchkit.Figure
	if len(r.enqueue) > 0 {
		var series []benchkit.Series
		for _, e := range r.enqueue {
			if e.Run > 1 || e.Warmup {
				continue // one curve per rate and phase: the first measured run's (the table has them all)
			}
			series = append(series, benchkit.Series{Name: enqueueRunLabel(e), Sample: e.Samples})
		}
		figs = append(figs, benchkit.Figure{Name: "enqueue", Plot: benchkit.LatencyCDF(
			"Enqueue latency: Send of a sentence → its acknowledgement", series...)})
	}
	if b := r.burst; b != nil {
		figs = append(figs, benchkit.Figure{Name: "burst", Plot: benchkit.OverTime(
			fmt.Sprintf("Burst: replies received, %d conversations × %d sentences (ideal %s)", b.Conversations, b.Sentences, benchkit.Seconds(b.Ideal, 1)),
			"replies", false, benchkit.Line{Name: fmt.Sprintf("WORKERS=%d, model in %s", b.Workers, dur(b.Latency)), Points: b.Progress})})
	}
	if len(r.throughput) > 0 {
		var lines []benchkit.Line
		for _, t := range r.throughput {
			name := fmt.Sprintf("replies/s, WORKERS=%d, model in %s", t.Workers, dur(t.Latency))
			if t.RPM > 0 {
				name += fmt.Sprintf(", LLM_RPM=%d", t.RPM)
			}
			lines = append(lines, benchkit.Line{Name: name, Points: t.Progress})
		}
		figs = append(figs, benchkit.Figure{Name: "throughput", Plot: benchkit.OverTime(
			fmt.Sprintf("Throughput: replies per second over each run (ideal %s)", idealLabel(r.throughput)), "replies/s", true, lines...)})
	}
	return figs
}

// idealLabel lists the throughput runs' ideals.
func idealLabel(runs []throughputResult) string {
	var parts []string
	for _, t := range runs {
		parts = append(parts, fmt.Sprintf("%.0f/s", t.Ideal))
	}
	return strings.Join(parts, ", ")
}

// enqueueRunLabel names an enqueue run by its rate and what answered the jobs meanwhile.
func enqueueRunLabel(e enqueueResult) string {
	label := benchkit.Thousands(int64(e.Rate)) + "/s, " + enqueueLabel(e)
	switch {
	case e.Warmup:
		label += fmt.Sprintf(", warm-up %d of %d (not judged)", e.Run, e.Runs)
	case e.Runs > 1:
		label += fmt.Sprintf(", run %d of %d", e.Run, e.Runs)
	}
	return label
}

func enqueueLabel(e enqueueResult) string {
	if e.Dispatcher {
		return fmt.Sprintf("answered (dispatcher, WORKERS=%d, model in %s)", e.Workers, dur(e.ModelDelay))
	}
	return "left on the topic (no dispatcher)"
}

func (r report) writeMemory(w io.Writer) {
	m := r.memory
	fmt.Fprintf(w, "### Memory per open idle QueueConversation stream: %s streams\n\n", benchkit.Thousands(int64(m.Streams)))
	limit := strconv.Itoa(m.QueueLimit)
	if m.QueueLimit == defaultQueueLimit {
		limit += ", the default"
	}
	fmt.Fprintf(w, "One front door (QUEUE_LIMIT %s); %s streams over %d h2c connections (%d each), all open %s after the first; each reading after %s without traffic. Per stream = (reading − before) / %s.\n\n",
		limit, benchkit.Thousands(int64(m.Streams)), m.Conns, r.cfg.StreamsPerConn, benchkit.Seconds(m.Opened, 1), dur(r.cfg.Settle), benchkit.Thousands(int64(m.Streams)))
	t := benchkit.NewTable("front door", "open streams", "RSS", "RSS per stream", "Go heap in use per stream", "goroutine stacks per stream", "goroutines per stream")
	t.Add(m.Baseline.Label, fmt.Sprintf("%.0f", m.Baseline.OpenStreams), mib(float64(m.Baseline.RSS)), "", "", "", "")
	for _, rd := range []memoryReading{m.Idle, m.Answered, m.Closed} {
		rssPer, heapPer, stackPer, gPer := m.perStream(rd)
		t.Add(rd.Label, fmt.Sprintf("%.0f", rd.OpenStreams), mib(float64(rd.RSS)), kib(rssPer), kib(heapPer), kib(stackPer), fmt.Sprintf("%.2f", gPer))
	}
	t.Write(w)
	fmt.Fprintf(w, "\n%d streams did not get an enqueued-then-reply for their sentence.\n\n", m.Unanswered)
}

func (r report) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "### Targets\n\n")
	t := benchkit.NewTable("target", "measured", "met")
	for _, res := range r.throughput {
		ratio := res.RepliesPerSecond() / res.Ideal
		t.Add(fmt.Sprintf("throughput ≥ %.1f × ideal, %s (ideal %.0f/s)", targetThroughputRatio, throughputLabel(res), res.Ideal),
			fmt.Sprintf("%.1f/s = %.3f", res.RepliesPerSecond(), ratio), benchkit.Met(ratio >= targetThroughputRatio))
	}
	if b := r.burst; b != nil {
		t.Add(fmt.Sprintf("burst ≥ %.2f × ideal, %d conversations × %d sentences, N=%d, R=%s (ideal %s)", targetBurstRatio, b.Conversations, b.Sentences, b.Workers, dur(b.Latency), benchkit.Seconds(b.Ideal, 2)),
			fmt.Sprintf("%s = %.3f", benchkit.Seconds(b.Took, 2), b.Ratio()), benchkit.Met(b.Replies == int64(b.Conversations*b.Sentences) && b.Ratio() >= targetBurstRatio))
	}
	for _, dispatcher := range []bool{true, false} {
		r.enqueueTarget(t, dispatcher)
	}
	r.resumeTargets(t)
	r.fanoutTargets(t)
	if m := r.memory; m != nil {
		for _, rd := range []memoryReading{m.Idle, m.Answered} {
			per, _, _, _ := m.perStream(rd)
			t.Add(fmt.Sprintf("front-door RSS per open idle stream < 64 KiB, %s streams, %s", benchkit.Thousands(int64(m.Streams)), rd.Label),
				kib(per), benchkit.Met(per < targetBytesPerStream))
		}
	}
	t.Write(w)
}

// writeCPU writes one line: each group's CPU time over a window.
func writeCPU(w io.Writer, cpu map[cpuGroup]time.Duration, window time.Duration, cpus int) {
	if len(cpu) == 0 {
		return
	}
	var parts []string
	var busy time.Duration
	for _, g := range cpuGroups {
		busy += cpu[g]
		parts = append(parts, fmt.Sprintf("%s %.1f s", g, cpu[g].Seconds()))
	}
	capacity := float64(cpus) * window.Seconds()
	fmt.Fprintf(w, "CPU over the window (%s × %d cores = %.0f core-s, %.0f%% busy): %s.\n",
		benchkit.Seconds(window, 1), cpus, capacity, 100*busy.Seconds()/capacity, strings.Join(parts, ", "))
}

// writeCPUPer writes one line: each group's CPU time over a window divided by n, the things
// of that window named what ("acknowledged sentence").
func writeCPUPer(w io.Writer, cpu map[cpuGroup]time.Duration, n int64, what string) {
	if len(cpu) == 0 || n <= 0 {
		return
	}
	var parts []string
	var all time.Duration
	for _, g := range cpuGroups {
		all += cpu[g]
		parts = append(parts, fmt.Sprintf("%s %.2f ms", g, per(cpu[g], n)))
	}
	fmt.Fprintf(w, "CPU per %s: %.2f ms in all; %s.\n", what, per(all, n), strings.Join(parts, ", "))
}

// per returns d / n in milliseconds.
func per(d time.Duration, n int64) float64 { return d.Seconds() * 1000 / float64(n) }

// dur writes a configured duration briefly: "100 ms", "20 s".
func dur(d time.Duration) string {
	switch {
	case d >= time.Second && d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + " s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + " ms"
	default:
		return d.String()
	}
}

func kib(b float64) string { return strconv.FormatFloat(b/1024, 'f', 1, 64) + " KiB" }

func mib(b float64) string { return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB" }

// size writes a byte count in the unit that suits it: "512 B", "24.8 KiB", "1.2 MiB".
func size(b float64) string {
	switch {
	case b < 1024:
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	case b < 1<<20:
		return kib(b)
	default:
		return mib(b)
	}
}
