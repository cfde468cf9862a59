// Command headband simulates the EEG headband service: every HEADBAND_INTERVAL it starts a
// recording and inserts its eeg, accelerometer and ignore signals into datastore.signal one
// row at a time, in shuffled order with random pauses, some dropped, as internal/headband
// generates them and internal/headband/simulate schedules them. /metrics, /healthz and
// /readyz (not ready while the database does not answer) are on ADMIN_ADDR.
//
// A database that is down is never fatal: inserts retry for HEADBAND_RETRY_FOR, then skip the
// row. On SIGTERM or SIGINT it starts no more recordings, gives inserts in flight up to
// SHUTDOWN_GRACE, and exits 0; it also exits 0 once HEADBAND_RECORDINGS recordings are done.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/headband/pgwriter"
	"github.com/beacon/eventdispatch/internal/headband/simulate"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/logging"
)

// readyTimeout bounds the database ping behind /readyz, below a typical probe timeout.
const readyTimeout = 2 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "headband:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load[settings]()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log, err := logging.New(os.Stderr, cfg.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	writer, err := pgwriter.Open(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("configuration: DATABASE_URL: %w", err)
	}
	defer writer.Close()
	seed := rand.Uint64()
	if cfg.Seed != nil {
		seed = *cfg.Seed
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one ends the process at once.
	defer context.AfterFunc(ctx, stop)()

	reg := admin.NewRegistry()
	adminLn, err := httpserve.Listen(ctx, "admin (ADMIN_ADDR)", cfg.AdminAddr)
	if err != nil {
		return err
	}
	adminSrv := admin.NewServer(cfg.AdminAddr, admin.NewHandler(reg, func() error {
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		pingCtx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		return writer.Ping(pingCtx)
	}))
	sim := simulate.New(simulate.Config{
		Interval:    cfg.Interval,
		Fast:        cfg.Fast,
		Recordings:  cfg.Recordings,
		MaxInFlight: cfg.MaxInFlight,
		RetryFor:    cfg.RetryFor,
		Grace:       cfg.ShutdownGrace,
	}, headband.NewGenerator(seed, cfg.MaxPause), writer, log, simulate.NewMetrics(reg))
	log.Info("simulating headband", "seed", seed, "interval", cfg.Interval, "max_pause", cfg.MaxPause,
		"fast", cfg.Fast, "recordings", cfg.Recordings)

	// The admin port stays up until the simulator has finished, so probes see "not ready"
	// while inserts drain; an admin failure stops the simulator.
	g, gctx := errgroup.WithContext(ctx)
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	g.Go(func() error {
		defer stopAdmin()
		sim.Run(gctx)
		return nil
	})
	g.Go(func() error {
		return httpserve.Serve(adminCtx, log, "admin", adminSrv, adminLn, cfg.ShutdownGrace)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}
