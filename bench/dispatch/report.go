package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
)

// Targets of the issue that asked for the dispatcher, then of issue 15 (performance).
const (
	targetDispatcherP99 = 50 * time.Millisecond
	targetThroughput    = 5000.0 // events per second

	targetDispatcherP99Now = 20 * time.Millisecond
	targetThroughputNow    = 45000.0 // events per second
	targetDrainRatio       = 0.33    // of the bare kafka-go loop's events per second
)

// report is everything a run measured.
type report struct {
	machine machine
	cfg     config
	runID   string
	seed    uint64
	live    liveResult
	backlog backlogResult
}

func (r report) write(w io.Writer) {
	m := r.machine
	m.WriteHeader(w, "bench-dispatch", r.runID)
	fmt.Fprintf(w, "- versions: %s, PostgreSQL %s, Kafka %s, Debezium %s\n", m.Go, m.Postgres, m.Kafka, m.Debezium)
	fmt.Fprintf(w, "- seed: %d\n\n", r.seed)
	r.writeLatency(w)
	r.writeThroughput(w)
	r.writeStatements(w)
	r.writeInterleave(w)
	r.writeTargets(w)
}

// figures are the report's plots: the latency parts' distributions, and the drain's pace.
func (r report) figures() []benchkit.Figure {
	var series []benchkit.Series
	for _, part := range []string{partDebezium, partDispatcher, partDispatcherVisible, partTotalVisible} {
		series = append(series, benchkit.Series{Name: strings.TrimSpace(part), Sample: r.live.Latency.Samples[part]})
	}
	return []benchkit.Figure{
		{Name: "latency", Plot: benchkit.LatencyCDF(
			fmt.Sprintf("Latency at %g recordings/s: distribution of each part", r.cfg.Rate), series...)},
		{Name: "drain", Plot: benchkit.OverTime(
			fmt.Sprintf("Draining %s events: the dispatcher's pace", benchkit.Thousands(r.backlog.Events)), "events/s", true,
			benchkit.Line{Name: "dispatcher_events_total, per second", Points: r.backlog.Progress})},
	}
}

func (r report) writeLatency(w io.Writer) {
	l := r.live.Latency
	fmt.Fprintf(w, "### Latency, INSERT commit → processed row, steady %g recordings/s\n\n", r.cfg.Rate)
	fmt.Fprintf(w, "%d recordings (eeg + accelerometer row, each its own transaction) in %s, %.1f/s achieved, after a %s warm-up; %d left out for want of an event or row.\n\n",
		l.Recordings, l.Elapsed.Round(100*time.Millisecond), l.Rate, r.cfg.Warmup, l.Unmatched)
	t := benchkit.NewTable("part (of the recording's completing row)", "p50", "p99", "max")
	for _, p := range l.Parts {
		t.Add(p.Name, benchkit.Millis(p.Dist.P50), benchkit.Millis(p.Dist.P99), benchkit.Millis(p.Dist.Max))
	}
	t.Write(w)
	if l.Batches > 0 {
		fmt.Fprintf(w, "\nDispatcher in the window: %.0f batches of %.1f events on average, Store.Apply %.1f ms per batch on average.\n",
			l.Batches, l.Events/l.Batches, 1000*l.ApplySeconds/l.Batches)
	}
	fmt.Fprintln(w)
}

func (r report) writeThroughput(w io.Writer) {
	b := r.backlog
	fmt.Fprintf(w, "### Throughput, draining a backlog of %s events\n\n", benchkit.Thousands(b.Events))
	form := "without the converter's schema, as the connector writes them (value.converter.schemas.enable=false)"
	if r.cfg.Schemas {
		form = "with the converter's schema (-schemas)"
	}
	fmt.Fprintf(w, "Topic %s, %d partitions, %s recordings × (eeg, accelerometer) create events rendered from the connector's captured events, %s (%.1f KB each on average), keyed by recording; produced in %s.\n\n",
		b.Topic, backlogPartitions, benchkit.Thousands(int64(b.Recordings)), form, float64(b.Bytes)/float64(b.Events)/1000, b.Produce.Round(100*time.Millisecond))
	t := benchkit.NewTable("reader, same topic, same run", "events/s", "time")
	t.Add("bare kafka-go read loop (3 partition readers, no decode, no DB; mean of 2)", rate(b.Events, b.BareRead), benchkit.Seconds(b.BareRead, 2))
	t.Add("  same, through the dispatcher's dialer (reads of 256 KiB; mean of 2)", rate(b.Events, b.BareReadBuffered), benchkit.Seconds(b.BareReadBuffered, 2))
	t.Add("dispatcher: ready → every event durable and committed", rate(b.Events, b.Drain), benchkit.Seconds(b.Drain, 2))
	t.Add("dispatcher: process start → every event durable (incl. group join)", rate(b.Events, b.Startup+b.Drain), benchkit.Seconds(b.Startup+b.Drain, 2))
	t.Write(w)
	fmt.Fprintln(w)
	if b.Drain > 0 {
		fmt.Fprintf(w, "The drain (ready → durable) is %.3f of the bare kafka-go loop's speed (issue 15: ≥ 0.33), and %.3f of the same loop's through the dispatcher's dialer.\n\n",
			b.BareRead.Seconds()/b.Drain.Seconds(), b.BareReadBuffered.Seconds()/b.Drain.Seconds())
	}
	fmt.Fprintf(w, "The machine's speed (benchkit.MachineSpeed: one decode of the same 5 KB of JSON, on one core, idle otherwise): %s just before the bare loop, %s just after the drain. The drain's ratio to the bare loop compares like with like only when the two are close: this kind of machine's speed moved by up to twice within minutes (BENCHMARKS.md).\n\n",
		benchkit.Micros(b.SpeedBefore), benchkit.Micros(b.SpeedAfter))
	if b.Batches > 0 {
		fmt.Fprintf(w, "Dispatcher: %.0f batches (%.0f events each on average), Store.Apply %.1f ms per batch on average (%.1f s summed over the 3 partitions' workers); %d of %d recordings processed; %.0f retries, %.0f dead-lettered.\n",
			b.Batches, float64(b.Events)/b.Batches, 1000*b.ApplySeconds/b.Batches, b.ApplySeconds, b.Processed, b.Recordings, b.Retries, b.DeadLettered)
	}
	if len(b.CPU) > 0 {
		var parts []string
		for _, k := range []string{cpuDispatcher, cpuPostgres, cpuKafka, cpuConnect, cpuOther} {
			parts = append(parts, fmt.Sprintf("%s %.1f s (%.0f%% of one core)", k, b.CPU[k].Seconds(), 100*b.CPU[k].Seconds()/b.Drain.Seconds()))
		}
		fmt.Fprintf(w, "CPU during the drain (%s wall, %d cores = %.1f core-s): %s.\n",
			benchkit.Seconds(b.Drain, 2), r.machine.CPUs, float64(r.machine.CPUs)*b.Drain.Seconds(), strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if b.ProfileCPU != "" {
		fmt.Fprintf(w, "#### The dispatcher's profiles of the drain (-profile %s)\n\n", r.cfg.Profile)
		fmt.Fprintf(w, "CPU, the first %d s from ready (the drain took %s), top %d by flat time:\n\n```\n%s\n```\n\n",
			r.cfg.ProfileSeconds, benchkit.Seconds(b.Drain, 1), benchkit.ProfileTop, b.ProfileCPU)
		fmt.Fprintf(w, "Allocations since the process started, top %d by bytes allocated:\n\n```\n%s\n```\n\n", benchkit.ProfileTop, b.ProfileAllocs)
	}
}

func (r report) writeStatements(w io.Writer) {
	s := r.live.Statements
	d, p := s.Dispatcher, s.Poller
	fmt.Fprintf(w, "### Database statements per processed recording\n\n")
	fmt.Fprintf(w, "Over the latency workload's measured window (%s, %d recordings), counted on the wire by a proxy in front of each consumer's connections; then an idle window of %s.\n\n",
		s.Window.Round(100*time.Millisecond), s.Workload, s.IdleWindow)
	t := benchkit.NewTable("", "dispatcher", fmt.Sprintf("baseline: %s poller", r.cfg.PollInterval))
	t.Add("recordings processed in the window", strconv.Itoa(d.Processed), strconv.Itoa(p.Processed))
	t.Add("statements per processed recording", per(d.Counts.Statements, d.Processed), per(p.Counts.Statements, p.Processed))
	t.Add("  of which BEGIN/COMMIT", per(2*d.Counts.Transactions, d.Processed), per(2*p.Counts.Transactions, p.Processed))
	t.Add("round trips per processed recording", per(d.Counts.RoundTrips, d.Processed), per(p.Counts.RoundTrips, p.Processed))
	t.Add("transactions per processed recording", per(d.Counts.Transactions, d.Processed), per(p.Counts.Statements, p.Processed)+" (autocommit)")
	t.Add("statements in the window", strconv.FormatInt(d.Counts.Statements, 10), strconv.FormatInt(p.Counts.Statements, 10))
	t.Add("pool pings in the window (not counted above)", strconv.FormatInt(d.Counts.Pings, 10), strconv.FormatInt(p.Counts.Pings, 10))
	t.Add(fmt.Sprintf("statements while idle (%s)", s.IdleWindow), idle(d.Idle), idle(p.Idle))
	t.Add(fmt.Sprintf("workload recordings missed (of %d)", s.Workload), strconv.Itoa(d.Missed), strconv.Itoa(p.Missed))
	t.Write(w)
	fmt.Fprintf(w, "\nOne baseline poll with nothing new (EXPLAIN ANALYZE): reads %s rows of datastore.signal (%s in the table) in %.1f ms; the dispatcher's are index lookups by key.\n\n",
		benchkit.Thousands(s.Poll.RowsRead), benchkit.Thousands(s.Poll.TableRows), float64(s.Poll.Time.Microseconds())/1000)
}

func (r report) writeInterleave(w io.Writer) {
	i := r.live.Interleave
	fmt.Fprintf(w, "### Interleaving: A's eeg, B's eeg, B's accelerometer, A's accelerometer\n\n")
	fmt.Fprintf(w, "%d pairs, %d at a time, in %s; pauses uniform in [0, %s) between rows and [0, %s) before A's accelerometer; the poller polls every %s throughout.\n\n",
		i.Pairs, i.Lanes, i.Elapsed.Round(100*time.Millisecond), shortPause, longPause, r.cfg.PollInterval)
	t := benchkit.NewTable("recordings missed", "dispatcher", "baseline poller")
	t.Add("A (first signal before B's, last after)", frac(i.DispatcherMissedA, i.Pairs), frac(i.PollerMissedA, i.Pairs))
	t.Add("B", frac(i.DispatcherMissedB, i.Pairs), frac(i.PollerMissedB, i.Pairs))
	t.Write(w)
	fmt.Fprintln(w)
}

func (r report) writeTargets(w io.Writer) {
	l, b := r.live.Latency, r.backlog
	fmt.Fprintf(w, "### Targets\n\n")
	t := benchkit.NewTable("target", "measured", "met")
	t.Add("dispatcher's part of the latency, p99 < 50 ms (processed_at − Kafka timestamp)", benchkit.Millis(l.Dispatcher.P99), benchkit.Met(l.Dispatcher.N > 0 && l.Dispatcher.P99 < targetDispatcherP99))
	t.Add("  same, to the row being visible to a reader", benchkit.Millis(l.DispatcherVisible.P99), benchkit.Met(l.DispatcherVisible.N > 0 && l.DispatcherVisible.P99 < targetDispatcherP99))
	drain := float64(b.Events) / b.Drain.Seconds()
	t.Add("backlog drain ≥ 5,000 events/s (ready → all durable)", rate(b.Events, b.Drain)+"/s", benchkit.Met(drain >= targetThroughput))
	t.Add("issue 15: dispatcher's part of the latency, p99 < 20 ms", benchkit.Millis(l.Dispatcher.P99), benchkit.Met(l.Dispatcher.N > 0 && l.Dispatcher.P99 < targetDispatcherP99Now))
	t.Add("issue 15: backlog drain ≥ 45,000 events/s", rate(b.Events, b.Drain)+"/s", benchkit.Met(drain >= targetThroughputNow))
	ratio := 0.0
	if b.Drain > 0 {
		ratio = b.BareRead.Seconds() / b.Drain.Seconds()
	}
	t.Add("issue 15: backlog drain ≥ 0.33 of the bare kafka-go loop's events/s", strconv.FormatFloat(ratio, 'f', 3, 64), benchkit.Met(ratio >= targetDrainRatio))
	t.Write(w)
}

func rate(events int64, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return benchkit.Thousands(int64(math.Round(float64(events) / d.Seconds())))
}

func per(n int64, recordings int) string {
	if recordings == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(n)/float64(recordings), 'f', 2, 64)
}

func idle(c pgcount.Counts) string {
	return fmt.Sprintf("%d (+%d pings)", c.Statements, c.Pings)
}

func frac(n, of int) string { return fmt.Sprintf("%d / %d", n, of) }
