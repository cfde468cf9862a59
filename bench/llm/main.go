// Command llm is the benchmark harness behind `make bench-llm`. It measures queued
// conversations (QueueConversation on the real front door, jobs through Kafka to the real
// dispatcher's worker pool, answered by a fake OpenAI-compatible model served by the harness,
// every event recorded in the conversations' transcript in Postgres) on the local stack, and
// prints a Markdown report; BENCHMARKS.md explains the method and keeps a run's numbers.
//
// It runs these measurements, each with its own front doors, dispatcher, fake model, topics
// (bench.jobs.<run>.<name>) and consumer groups:
//
//  1. throughput: C streams keep work waiting for N workers and a model answering in R;
//     replies per second against the ideal min(N, C)/R;
//  2. the same with the dispatcher's LLM_RPM set, whose cap RPM/60 is then the ideal;
//  3. burst: C conversations send S sentences each at once; the time to the last reply
//     against the pool's ideal C·S/(min(N, C)/R), ramp-up and tail included;
//  4. enqueue latency: sentences at a steady rate over many streams, each timed from Send to
//     its "enqueued" acknowledgement (Reserve, Kafka, Accept in the transcript), on the
//     client; once with a dispatcher and a fast model answering the jobs meanwhile, once with
//     the front door alone (no dispatcher);
//  5. resume: conversations of many events are built, then resumed from serial 0 one at a
//     time, each timed until its last event arrives;
//  6. fan-out: one conversation workload on one front door, then spread over several, with
//     each front door's Postgres traffic counted by a proxy of its own (bytes, rows,
//     notifications of its listener connection): what a front door reads as replicas grow;
//  7. memory: many streams held open on one front door, its RSS and Go heap read before and
//     after.
//
// The harness chooses the id of every conversation it starts. At the end it deletes those
// conversations from the transcript (their jobs and events go with them), its topics and
// groups, and stops every process it started. It needs the stack of `make stack-up` (Kafka,
// and Postgres with the migrations applied) and runs from the repository's root.
package main

import (
	"context"
	"log/slog"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

func main() { benchkit.Main("bench-llm", parseConfig, run) }

func run(ctx context.Context, log *slog.Logger, cfg config) error {
	if err := raiseFileLimit(log); err != nil {
		return err
	}
	b, err := newBench(cfg, log)
	if err != nil {
		return err
	}
	rep, runErr := b.run(ctx)
	// Every process has stopped by now, so the run's groups can go.
	return benchkit.Finish(ctx, log, benchkit.Outcome{Err: runErr, Cleanup: b.cleanup, Dir: b.dir, Out: cfg.Out, Report: rep.write, Figures: rep.figures})
}

// run checks the stack, builds the binaries and runs the measurements one after the other.
func (b *bench) run(ctx context.Context) (report, error) {
	rep := report{cfg: b.cfg, runID: b.runID}
	var err error
	if rep.machine, err = preflight(ctx, b.cfg); err != nil {
		return rep, err
	}
	b.log.Info("building the front door and the dispatcher", "run", b.runID, "dir", b.dir)
	if err := benchkit.Build(ctx, b.dir, "./cmd/frontdoor", "./cmd/dispatcher"); err != nil {
		return rep, err
	}
	if b.cfg.runs("throughput") {
		rpms := []int{0}
		if b.cfg.RPM > 0 {
			rpms = append(rpms, b.cfg.RPM)
		}
		for _, rpm := range rpms {
			res, err := b.runThroughput(ctx, rpm)
			if err != nil {
				return rep, err
			}
			rep.throughput = append(rep.throughput, res)
		}
	}
	if b.cfg.runs("burst") {
		res, err := b.runBurst(ctx)
		if err != nil {
			return rep, err
		}
		rep.burst = &res
	}
	if b.cfg.runs("enqueue") {
		b.findDisk(ctx)
		rep.disk = b.disk
		for run := 1; run <= b.cfg.EnqueueWarmupRuns; run++ {
			res, err := b.runEnqueueLatency(ctx, b.cfg.Rates[0], true, run, true)
			if err != nil {
				return rep, err
			}
			rep.enqueue = append(rep.enqueue, res)
		}
		for _, rate := range b.cfg.Rates {
			for run := 1; run <= b.cfg.EnqueueRuns; run++ {
				for _, withDispatcher := range []bool{true, false} {
					res, err := b.runEnqueueLatency(ctx, rate, withDispatcher, run, false)
					if err != nil {
						return rep, err
					}
					rep.enqueue = append(rep.enqueue, res)
				}
			}
		}
	}
	if b.cfg.runs("resume") {
		res, err := b.runResume(ctx)
		if err != nil {
			return rep, err
		}
		rep.resume = &res
	}
	if b.cfg.runs("fanout") {
		res, err := b.runFanout(ctx)
		if err != nil {
			return rep, err
		}
		rep.fanout = &res
	}
	if b.cfg.runs("memory") {
		res, err := b.runMemory(ctx)
		if err != nil {
			return rep, err
		}
		rep.memory = &res
	}
	return rep, nil
}
