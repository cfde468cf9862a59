package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// Pauses of the interleaving scenario: short ones between the rows of a pair, and the long one
// before A's accelerometer, in which the poller (ticking every second) usually polls.
const (
	shortPause = 300 * time.Millisecond
	longPause  = 2 * time.Second
)

// interleaveResult counts the recordings of the interleaving scenario each consumer missed.
type interleaveResult struct {
	Pairs, Lanes                         int
	Elapsed                              time.Duration
	PollerMissedA, PollerMissedB         int
	DispatcherMissedA, DispatcherMissedB int
}

// runInterleave plays pairs of recordings A and B as A's eeg, B's eeg, B's accelerometer, A's
// accelerometer, with random pauses (each uniform in [0, shortPause), and [0, longPause)
// before A's accelerometer), Lanes pairs at a time, while the dispatcher and the poller run.
// A single-watermark poller misses A whenever it polls between B's accelerometer and A's.
func (b *bench) runInterleave(ctx context.Context, w *liveWorld, recs []workRecording) (interleaveResult, error) {
	n := len(recs) / 2
	res := interleaveResult{Pairs: n, Lanes: b.cfg.Lanes}
	b.log.Info("live: interleaving scenario", "pairs", n, "lanes", b.cfg.Lanes)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for lane := range b.cfg.Lanes {
		rng := rand.New(rand.NewPCG(b.seed, uint64(lane)))
		g.Go(func() error {
			for i := lane; i < n; i += b.cfg.Lanes {
				if err := b.playPair(gctx, w, rng, recs[2*i], recs[2*i+1]); err != nil {
					return fmt.Errorf("interleaved pair %d: %w", i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)

	if _, err := w.watch.WaitAll(ctx, ids(recs), 30*time.Second); err != nil {
		return res, err
	}
	if err := w.poller.WaitPolls(ctx, 2); err != nil {
		return res, err
	}
	for i := range n {
		recA, recB := recs[2*i], recs[2*i+1]
		if !w.poller.Processed(recA.ID) {
			res.PollerMissedA++
		}
		if !w.poller.Processed(recB.ID) {
			res.PollerMissedB++
		}
		if _, ok := w.watch.Seen(recA.ID); !ok {
			res.DispatcherMissedA++
		}
		if _, ok := w.watch.Seen(recB.ID); !ok {
			res.DispatcherMissedB++
		}
	}
	return res, nil
}

// playPair inserts the four rows of one pair with their pauses.
func (b *bench) playPair(ctx context.Context, w *liveWorld, rng *rand.Rand, recA, recB workRecording) error {
	steps := []struct {
		rec   workRecording
		eeg   bool
		pause time.Duration
	}{
		{recA, true, shortPause},
		{recB, true, shortPause},
		{recB, false, longPause},
		{recA, false, shortPause},
	}
	for _, s := range steps {
		sig := s.rec.accelerometer()
		if s.eeg {
			sig = s.rec.eeg()
		}
		if err := insertSignal(ctx, b.writer, sig); err != nil {
			return err
		}
		if sleep.For(ctx, time.Duration(rng.Int64N(int64(s.pause)))) != nil {
			return ctx.Err()
		}
	}
	w.watch.Add(recA.ID)
	w.watch.Add(recB.ID)
	return nil
}
