package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

func (r report) writeResume(w io.Writer) {
	res := r.resume
	events := benchkit.Thousands(int64(res.Events))
	fmt.Fprintf(w, "### Resume: a conversation of %s events, from serial 0\n\n", events)
	fmt.Fprintf(w, "%d conversations of %s events each, built through one front door in the normal way (a QueueConversation stream per conversation queueing %s sentences, each answered by the fake model in %s; %s for all). Then %d resumes, one at a time, round robin: a new stream whose first message is {conversation_id, resume_after: 0}, timed on the client from that message to the event with serial %s (loopback h2c, the connection already open).\n\n",
		res.Conversations, events, benchkit.Thousands(int64(res.Events/2)), dur(r.cfg.FastLatency), benchkit.Seconds(res.Build, 1), res.Runs, events)
	t := benchkit.NewTable("from the first message to", "runs", "min", "p50", "p90", "p99", "max")
	for _, row := range []struct {
		label string
		d     benchkit.Distribution
	}{{"the first event", res.First}, {"the event with serial " + events + " (all of them)", res.All}} {
		t.Add(row.label, strconv.Itoa(row.d.N), benchkit.Millis(row.d.Min), benchkit.Millis(row.d.P50), benchkit.Millis(row.d.P90), benchkit.Millis(row.d.P99), benchkit.Millis(row.d.Max))
	}
	t.Write(w)
	per := func(n int64) float64 { return float64(n) / float64(max(res.Runs, 1)) }
	fmt.Fprintf(w, "\n%d runs got events out of order, twice or not at all. Per resume (its first message to the end of the stream, after the client half-closed) the front door received %s from Postgres (%.0f rows) in %.1f round trips.\n\n",
		res.Wrong, size(per(res.Reads.ServerBytes)), per(res.Reads.Rows), per(res.Reads.RoundTrips))
}

func (r report) writeFanout(w io.Writer) {
	f := r.fanout
	fmt.Fprintf(w, "### What a front door reads from Postgres: %d conversations on 1 front door, then on %d\n\n", f.Conversations, r.cfg.FanoutDoors)
	fmt.Fprintf(w, "Each conversation is a stream that sends a sentence every %s for %s, then half-closes and reads until the server ends it; the dispatcher (WORKERS=%d, model in %s) answers every sentence. The conversations run first all on one front door, then spread evenly over %d; each time beside one more front door (quiet) whose only stream is a Watch of a conversation without traffic. Each front door's Postgres connections go through a proxy of its own, which counts what Postgres sends it: its pool's connections (reads, admissions), and its listener connection (LISTEN/NOTIFY), whose backend's CPU time in Postgres is read from /proc (schedstat). Window: from the first stream's start to %s after the last one ended.\n\n",
		dur(seconds(1/f.Rate)), dur(f.Duration), r.cfg.Workers, dur(r.cfg.FastLatency), r.cfg.FanoutDoors, dur(fanoutSettle))
	t := benchkit.NewTable("front door", "conversations", "events on them", "received from Postgres", "per event", "of which listener", "notifications", "round trips", "listener's backend CPU")
	for _, run := range f.Runs {
		var busy fanoutDoor
		for i, d := range run.PerDoor {
			label := fmt.Sprintf("%d of %d", i+1, run.Doors)
			if d.Quiet {
				label = fmt.Sprintf("quiet, beside %d", run.Doors)
			} else {
				busy = addDoor(busy, d)
			}
			t.Add(label, strconv.Itoa(d.Conversations), benchkit.Thousands(d.Events), size(float64(d.Reads().ServerBytes)),
				perEvent(d), size(float64(d.Listener.ServerBytes)), benchkit.Thousands(d.Listener.Notifications), benchkit.Thousands(d.Reads().RoundTrips), backend(d))
		}
		if run.Doors > 1 {
			t.Add(fmt.Sprintf("the %d busy ones together", run.Doors), strconv.Itoa(busy.Conversations), benchkit.Thousands(busy.Events), size(float64(busy.Reads().ServerBytes)),
				perEvent(busy), size(float64(busy.Listener.ServerBytes)), benchkit.Thousands(busy.Listener.Notifications), benchkit.Thousands(busy.Reads().RoundTrips), "")
		}
	}
	t.Write(w)
	fmt.Fprintln(w)
	for _, run := range f.Runs {
		per := func(n int64) float64 { return float64(n) / float64(max(run.Sentences, 1)) }
		var doors pgcountSum
		for _, d := range run.PerDoor {
			doors.add(d)
		}
		fmt.Fprintf(w, "On %s: %s sentences and %s events in %s, %d streams with events out of order or missing. Per sentence: the front doors made %.1f round trips (%.1f statements) and received %s; the dispatcher made %.1f round trips (%.1f statements) and received %s.\n",
			plural(run.Doors, "front door"), benchkit.Thousands(run.Sentences), benchkit.Thousands(run.Events), benchkit.Seconds(run.Window, 1), run.Wrong,
			per(doors.roundTrips), per(doors.statements), size(per(doors.serverBytes)),
			per(run.Dispatcher.RoundTrips), per(run.Dispatcher.Statements), size(per(run.Dispatcher.ServerBytes)))
		writeCPU(w, run.CPU, run.Window, r.machine.CPUs)
		writeCPUPer(w, run.CPU, run.Sentences, "sentence (and its reply)")
		fmt.Fprintln(w)
	}
}

// plural writes n things: "1 front door", "3 front doors".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// pgcountSum adds up the front doors' traffic of a run.
type pgcountSum struct{ roundTrips, statements, serverBytes int64 }

func (s *pgcountSum) add(d fanoutDoor) {
	c := d.Reads()
	s.roundTrips += c.RoundTrips
	s.statements += c.Statements
	s.serverBytes += c.ServerBytes
}

// addDoor sums two front doors' conversations, events and traffic.
func addDoor(a, b fanoutDoor) fanoutDoor {
	return fanoutDoor{Conversations: a.Conversations + b.Conversations, Sentences: a.Sentences + b.Sentences, Events: a.Events + b.Events,
		Pool: a.Pool.Add(b.Pool), Listener: a.Listener.Add(b.Listener)}
}

func perEvent(d fanoutDoor) string {
	if d.Events == 0 {
		return "–"
	}
	return size(float64(d.Reads().ServerBytes) / float64(d.Events))
}

func backend(d fanoutDoor) string {
	if d.ListenerBackend < 0 {
		return "?"
	}
	return benchkit.Millis(d.ListenerBackend)
}

// fanoutShares compares the run on several front doors with the run on one: for each busy
// front door, its share of the conversations and its reads as a share of what the single
// front door read; and the quiet front doors' reads as a share of the single one's.
func (f fanoutResult) fanoutShares() (convShare, readShare []float64, quiet float64, ok bool) {
	if len(f.Runs) < 2 || len(f.Runs[0].PerDoor) == 0 {
		return nil, nil, 0, false
	}
	one := f.Runs[0].PerDoor[0]
	base := float64(max(one.Reads().ServerBytes, 1))
	for _, run := range f.Runs {
		for _, d := range run.PerDoor {
			if d.Quiet {
				quiet = max(quiet, float64(d.Reads().ServerBytes)/base)
			}
		}
	}
	for _, d := range f.Runs[len(f.Runs)-1].PerDoor {
		if !d.Quiet {
			convShare = append(convShare, float64(d.Conversations)/float64(one.Conversations))
			readShare = append(readShare, float64(d.Reads().ServerBytes)/base)
		}
	}
	return convShare, readShare, quiet, true
}

func (r report) resumeTargets(t *benchkit.Table) {
	res := r.resume
	if res == nil {
		return
	}
	t.Add(fmt.Sprintf("resume of a conversation of %s events from serial 0 delivers them all in < %s, every one of %d runs", benchkit.Thousands(int64(res.Events)), dur(targetResume), res.Runs),
		fmt.Sprintf("max %s (p50 %s)", benchkit.Millis(res.All.Max), benchkit.Millis(res.All.P50)), benchkit.Met(res.All.N > 0 && res.All.Max < targetResume && res.Wrong == 0))
}

func (r report) fanoutTargets(t *benchkit.Table) {
	if r.fanout == nil {
		return
	}
	convShare, readShare, quiet, ok := r.fanout.fanoutShares()
	if !ok {
		return
	}
	worst, met := 0, true
	for i := range readShare {
		if readShare[i]/convShare[i] > readShare[worst]/convShare[worst] {
			worst = i
		}
		met = met && readShare[i] <= targetShareSlack*convShare[i]
	}
	t.Add(fmt.Sprintf("bytes a front door reads from Postgres follow its own conversations: with %d front doors each reads ≤ %.1f × its share of the conversations × what 1 front door read", r.cfg.FanoutDoors, targetShareSlack),
		fmt.Sprintf("%.3f with %.3f of the conversations (front door %d)", readShare[worst], convShare[worst], worst+1), benchkit.Met(met))
	t.Add(fmt.Sprintf("a front door whose conversations are quiet reads < %.0f%% of what a busy one does, whatever the system's traffic", 100*targetQuietShare),
		fmt.Sprintf("%.2f%%", 100*quiet), benchkit.Met(quiet < targetQuietShare))
}
