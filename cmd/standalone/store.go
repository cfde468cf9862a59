package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/migrations"
)

// signalStore is what the dispatcher's signal group needs of its state; pgstore.Store and
// memstore.Store both are one.
type signalStore interface {
	dispatch.Store
	dispatch.Watcher
	Ping(ctx context.Context) error
}

// newStore returns the in-memory store, or with databaseURL set the Postgres store on a
// migrated database. The returned func releases it.
func newStore(ctx context.Context, databaseURL string, log *slog.Logger) (signalStore, string, func(), error) {
	if databaseURL == "" {
		return memstore.New(recording.DefaultRule()), "in memory, lost on exit (set DATABASE_URL for Postgres)", func() {}, nil
	}
	if _, err := migrations.Up(ctx, databaseURL, log); err != nil {
		return nil, "", nil, fmt.Errorf("DATABASE_URL: migrate: %w", err)
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, "", nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	store := pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{})
	return store, "Postgres (DATABASE_URL): dispatcher.processed_recording", pool.Close, nil
}
