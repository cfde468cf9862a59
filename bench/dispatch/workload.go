package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/headband/pgwriter"
)

// workRecording is a recording the benchmark inserts: the eeg signal (with the five
// channels) and the accelerometer signal of a recording of the headband simulator's
// generator, real sample data included, in the generator's order. The second row completes it.
type workRecording struct {
	ID      uuid.UUID
	Signals [2]headband.Signal
}

// eeg and accelerometer return the recording's signal of that sensor type.
func (r workRecording) eeg() headband.Signal           { return r.signal(headband.EEG) }
func (r workRecording) accelerometer() headband.Signal { return r.signal(headband.Accelerometer) }

func (r workRecording) signal(sensorType string) headband.Signal {
	if r.Signals[0].SensorType == sensorType {
		return r.Signals[0]
	}
	return r.Signals[1]
}

// generateRecordings returns n complete recordings from the simulator's generator: those of its
// recordings that kept a valid eeg and an accelerometer signal, without their ignore signal.
func generateRecordings(seed uint64, n int) []workRecording {
	gen := headband.NewGenerator(seed, 0)
	out := make([]workRecording, 0, n)
	for len(out) < n {
		rec := gen.Next()
		var kept []headband.Signal
		for _, s := range rec.Signals() {
			valid := s.SensorType == headband.Accelerometer ||
				(s.SensorType == headband.EEG && slices.Equal(s.Channels, headband.EEGChannels()))
			if valid {
				kept = append(kept, s)
			}
		}
		if len(kept) == 2 {
			out = append(out, workRecording{ID: rec.ID, Signals: [2]headband.Signal{kept[0], kept[1]}})
		}
	}
	return out
}

// committed is called when recording i's last row has been committed, at the time it was.
type committed func(i int, at time.Time)

// insertSteady starts one recording every 1/rate seconds and inserts its two rows one after the
// other, each in its own transaction, as the headband does. Recordings whose inserts are slow
// overlap rather than delay the schedule. It returns the time from the first start to the last
// commit.
func insertSteady(ctx context.Context, w *pgwriter.Writer, recs []workRecording, rate float64, done committed) (time.Duration, error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(256)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	start := time.Now()
	for i, rec := range recs {
		if i > 0 {
			select {
			case <-ctx.Done():
				if err := g.Wait(); err != nil {
					return 0, err
				}
				return 0, ctx.Err()
			case <-tick.C:
			}
		}
		g.Go(func() error {
			for _, s := range rec.Signals {
				if err := insertSignal(ctx, w, s); err != nil {
					return err
				}
			}
			done(i, time.Now())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// insertSignal inserts one row on its own.
func insertSignal(ctx context.Context, w *pgwriter.Writer, s headband.Signal) error {
	inserted, err := w.Insert(ctx, s)
	if err != nil {
		return err
	}
	if !inserted {
		return fmt.Errorf("signal %s already existed", s.ID)
	}
	return nil
}
