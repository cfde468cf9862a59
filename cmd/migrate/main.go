// Command migrate applies the project's SQL migrations to DATABASE_URL and exits. The local
// stack runs it after starting Postgres; in Kubernetes it runs as an init container of the
// front door's, dispatcher's and headband's pods, and waits for Postgres, which starts beside
// them, within MIGRATE_TIMEOUT.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/beacon/eventdispatch/internal/app"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/migrations"
)

func main() {
	done, err := app.Usage("migrate", app.DefaultMigrate(), os.Args[1:], os.Stdout)
	if err == nil && !done {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(app.ExitCode(err))
	}
}

func run() error {
	cfg, err := config.Load(app.DefaultMigrate())
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log, err := logging.New(os.Stderr, cfg.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	signalled, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(signalled, cfg.Timeout)
	defer cancel()

	version, err := migrations.Up(ctx, cfg.DatabaseURL, log)
	switch {
	case signalled.Err() != nil && err != nil:
		// Each migration is recorded once applied; the next run applies the rest.
		return fmt.Errorf("interrupted (SIGTERM or SIGINT) before done: %w", err)
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("not done within MIGRATE_TIMEOUT (%s): %w", config.FormatDuration(cfg.Timeout), err)
	}
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	if version > latest {
		// A newer release migrated it; this one's binaries run on it (a schema ahead is
		// allowed for a rolling upgrade), so nothing is wrong, but it is not this build's.
		log.Warn("database schema is newer than this migrate knows: nothing applied", "version", version, "known", latest)
		return nil
	}
	log.Info("database schema is current", "version", version)
	return nil
}
