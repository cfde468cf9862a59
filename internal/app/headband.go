package app

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/headband/debeziumpub"
	"github.com/beacon/eventdispatch/internal/headband/pgwriter"
	"github.com/beacon/eventdispatch/internal/headband/simulate"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/migrations"
)

// OpenSignalTable returns the simulator's writer of datastore.signal rows in the Postgres at
// url. The process is not ready while the database does not answer.
func (s *System) OpenSignalTable(ctx context.Context, url string) (*pgwriter.Writer, error) {
	w, err := pgwriter.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	// A database that refuses the credentials or does not exist stops the simulator here, as
	// it stops the other binaries (System.pool): each row was retried as a passing fault for
	// HEADBAND_RETRY_FOR, then given up, one after another. One that is not up yet is left
	// to the inserts' retries.
	checkCtx, cancel := context.WithTimeout(ctx, checkWithin)
	defer cancel()
	if err := w.Ping(checkCtx); migrations.RefusedForGood(err) {
		w.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w: %w", migrations.ErrUnusable, err)
	}
	s.OnClose(w.Close)
	s.addReady(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*pingTimeout)
		defer cancel()
		return w.Ping(ctx)
	})
	return w, nil
}

// AddHeadband adds the headband simulator: a recording every HEADBAND_INTERVAL, each signal
// written on its own through w (rows of datastore.signal, or in standalone mode the change
// events Debezium would publish). Once HEADBAND_RECORDINGS recordings are done the whole
// process stops if stopWhenDone, else only the simulator does. It returns the seed, drawn at
// random unless HEADBAND_SEED is set.
//
// On shutdown it starts no more recordings and gives the inserts in flight half of
// SHUTDOWN_GRACE.
func (s *System) AddHeadband(cfg Headband, w simulate.Writer, stopWhenDone bool) uint64 {
	seed := rand.Uint64()
	if cfg.Seed != nil {
		seed = *cfg.Seed
	}
	sim := simulate.New(simulate.Config{
		Interval:    cfg.Interval,
		Fast:        cfg.Fast,
		Recordings:  cfg.Recordings,
		MaxInFlight: cfg.MaxInFlight,
		RetryFor:    cfg.RetryFor,
		Grace:       s.ShutdownGrace() / 2,
	}, headband.NewGenerator(seed, cfg.MaxPause), w, s.Log, simulate.NewMetrics(s.Registry))
	attrs := []any{"seed", seed, "recordings", cfg.Recordings, "fast", cfg.Fast}
	if !cfg.Fast { // fast starts recordings back to back: no interval or pause to say
		attrs = append(attrs, "interval", cfg.Interval, "max_pause", cfg.MaxPause)
	}
	s.Log.Info("simulating headband", attrs...)
	s.addIntake(task("headband simulator", func(ctx context.Context) error {
		err := sim.Run(ctx)
		if !stopWhenDone {
			// Standalone's other parts go on; each signal given up was logged.
			<-ctx.Done()
			return nil
		}
		return err
	}))
	return seed
}

// PublishSignalEvents returns a simulator writer that publishes, for each signal, the change
// event Debezium's connector would for its INSERT, on topic: standalone mode's stand-in for
// Postgres and Debezium.
func (s *System) PublishSignalEvents(bus *kafkabus.Bus, topic string) simulate.Writer {
	w := bus.Writer(topic)
	s.OnClose(func() { _ = w.Close() })
	return debeziumpub.New(w, topic)
}
