// Command dispatch is the benchmark harness behind `make bench-dispatch`. It measures the CDC
// dispatcher (the real binary, built from ./cmd/dispatcher) on the local stack and prints a
// Markdown report; BENCHMARKS.md explains the method and keeps a run's numbers.
//
// It runs two phases, each with its own dispatcher process under a consumer group named for
// the run (bench-<time>-live, bench-<time>-backlog):
//
//  1. Live, on the connector's real topic, the group's offsets set to the topic's end first so
//     that history is not replayed. Recordings (an eeg and an accelerometer row from the
//     headband simulator's generator, each row its own transaction) are inserted at a steady
//     rate; a group-less reader of the topic records each change event's Kafka timestamp, and
//     a watch on dispatcher.processed_recording records when each row appears. That splits the
//     latency into Debezium's part and the dispatcher's. The dispatcher's and a baseline
//     poller's (package poller) database connections go through counting proxies (package
//     pgcount), which gives statements per processed recording over the same workload and in
//     an idle window. Last, the interleaving scenario counts the recordings each misses.
//  2. Backlog, on a topic of its own (bench.signal.<time>, 3 partitions, deleted afterwards):
//     synthetic change events in the connector's exact shape (package synth) are produced,
//     read once with a bare kafka-go loop, then drained by the dispatcher, each timed.
//
// At the end it deletes what it created — rows, topics, groups — and stops every process it
// started. It needs the stack of `make stack-up` and runs from the repository's root.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

func main() { benchkit.Main("bench-dispatch", parseConfig, run) }

func run(ctx context.Context, log *slog.Logger, cfg config) error {
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	b, err := newBench(ctx, cfg, log, seed)
	if err != nil {
		return err
	}
	defer b.close()
	rep, runErr := b.run(ctx)
	return benchkit.Finish(ctx, log, benchkit.Outcome{Err: runErr, Cleanup: b.cleanup, Dir: b.dir, Out: cfg.Out, Report: rep.write, Figures: rep.figures})
}

// run checks the stack, builds the dispatcher and runs both phases.
func (b *bench) run(ctx context.Context) (report, error) {
	rep := report{cfg: b.cfg, runID: b.runID, seed: b.seed}
	var err error
	if rep.machine, err = preflight(ctx, b.cfg, b.pool); err != nil {
		return rep, err
	}
	b.log.Info("building the dispatcher", "run", b.runID, "seed", b.seed)
	if err := benchkit.Build(ctx, b.dir, "./cmd/dispatcher"); err != nil {
		return rep, err
	}
	b.bin = filepath.Join(b.dir, "dispatcher")
	if rep.live, err = b.runLive(ctx); err != nil {
		return rep, fmt.Errorf("live phase: %w", err)
	}
	if rep.backlog, err = b.runBacklog(ctx); err != nil {
		return rep, fmt.Errorf("backlog phase: %w", err)
	}
	return rep, nil
}
