// Package migrations holds the versioned SQL that defines the project's Postgres schemas
// (datastore for the headband's signals, dispatcher for what the dispatcher has done,
// transcript for the queued conversations, access for clients, tokens and usage) and applies it. The same embedded files serve the local stack, the tests and Kubernetes, so the
// schema has one source.
//
// Files are named NNNNN_name.sql and use goose annotations; applied versions are recorded in
// public.schema_migrations. A Postgres advisory lock serialises concurrent appliers, so several
// pods may run Up at once.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// VersionTable records which migrations have been applied.
const VersionTable = "public.schema_migrations"

// Up applies every migration not yet applied to the database at databaseURL and returns the
// schema version the database is at afterwards.
func Up(ctx context.Context, databaseURL string, log *slog.Logger) (int64, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return 0, fmt.Errorf("parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return up(ctx, db, log)
}

func up(ctx context.Context, db *sql.DB, log *slog.Logger) (int64, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("create migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithTableName(VersionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	version, err := provider.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return version, nil
}
