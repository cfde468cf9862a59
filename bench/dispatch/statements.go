package main

import (
	"context"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// consumerCost is what one consumer (the dispatcher, or the baseline poller) cost the database
// over the measured workload.
type consumerCost struct {
	Counts pgcount.Counts
	// Processed is how many recordings it processed in the window (any recording, as its
	// statements are for any recording).
	Processed int
	// Missed is how many of the workload's recordings it had not processed at the window's end.
	Missed int
	// Idle is what it sent in the idle window.
	Idle pgcount.Counts
}

// statementsResult compares the dispatcher's and the poller's database work.
type statementsResult struct {
	Window, IdleWindow time.Duration
	Workload           int
	Dispatcher, Poller consumerCost
	Poll               pollCost
}

// windowCost computes both consumers' costs between two snapshots of the latency workload;
// missing is how many of the workload's recordings the dispatcher had not processed.
func windowCost(w *liveWorld, before, after snapshot, workload []workRecording, missing int) statementsResult {
	st := statementsResult{Window: after.at.Sub(before.at), Workload: len(workload)}
	st.Dispatcher = consumerCost{
		Counts: after.disp.Sub(before.disp), Processed: int(benchkit.Delta(before.metrics, after.metrics, mCompleted)), Missed: missing,
	}
	st.Poller = consumerCost{Counts: after.poll.Sub(before.poll), Processed: after.pollerCount - before.pollerCount}
	for _, r := range workload {
		if !w.poller.Processed(r.ID) {
			st.Poller.Missed++
		}
	}
	return st
}

// idleCost waits out the idle window and adds what each consumer sent in it to st.
func (b *bench) idleCost(ctx context.Context, w *liveWorld, st *statementsResult, from snapshot) error {
	b.log.Info("live: idle window", "duration", b.cfg.Idle)
	st.IdleWindow = b.cfg.Idle
	if sleep.For(ctx, b.cfg.Idle) != nil {
		return ctx.Err()
	}
	idle, err := b.snapshot(ctx, w)
	if err != nil {
		return err
	}
	st.Dispatcher.Idle, st.Poller.Idle = idle.disp.Sub(from.disp), idle.poll.Sub(from.poll)
	return nil
}
