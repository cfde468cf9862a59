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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/beacon/eventdispatch/internal/sleep"
)

//go:embed *.sql
var files embed.FS

// VersionTable records which migrations have been applied.
const VersionTable = "public.schema_migrations"

// Up applies every migration not yet applied to the database at databaseURL and returns the
// schema version the database is at afterwards. It first waits, until ctx ends, for the
// database to take a connection (awaitDatabase).
func Up(ctx context.Context, databaseURL string, log *slog.Logger) (int64, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return 0, fmt.Errorf("parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := awaitDatabase(ctx, db, log); err != nil {
		return 0, err
	}
	return up(ctx, db, log)
}

// awaitDatabase waits until db takes a connection, trying again with backoff (0.5 s doubling
// to 5 s, each try logged) while nothing listens yet or the server is starting, until ctx
// ends. In Kubernetes migrate is an init container that starts beside Postgres, whose image
// may still be pulling or whose data directory may still be initialising; failing at once,
// it failed its pod, and skaffold's first deploy with it. Anything else (a wrong password, a
// database that does not exist) fails at once: waiting does not mend it.
func awaitDatabase(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	wait := 500 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		if !notYetUp(err) || ctx.Err() != nil {
			return fmt.Errorf("connect to the database: %w", err)
		}
		log.Info("waiting for the database to take connections", "error", err, "retry_in", wait)
		if sleep.For(ctx, wait) != nil {
			return fmt.Errorf("connect to the database: %w", err) // the last try's error says why
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// notYetUp reports an error of connecting that a server on its way up gives: nothing
// listening (refused, a name not resolving yet, no answer) or Postgres starting up
// (57P03, "the database system is starting up").
func notYetUp(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "57P03" // cannot_connect_now
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
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

// RefusedForGood reports a server's refusal that waiting will not mend: the credentials
// (28P01 invalid_password, 28000 invalid_authorization_specification) or the database
// (3D000 invalid_catalog_name).
func RefusedForGood(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && (pgErr.Code == "28P01" || pgErr.Code == "28000" || pgErr.Code == "3D000")
}

// Latest is the version of the last migration embedded in this build: the schema it needs.
func Latest() (int64, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		digits, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: not NNNNN_name.sql", e.Name())
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// ErrUnusable is a database that this build cannot use: Check's errors wrap it.
var ErrUnusable = errors.New("the database cannot be used")

// Check returns an error wrapping ErrUnusable when the database pool connects to cannot be
// used by this build, which waiting will not mend: its server refuses the credentials or
// does not have the database, or its schema is behind this build's migrations (migrate has
// not run). Anything else it could not tell (a database not up yet, shutting down, out of
// connections in a rolling update) is returned as it is, not wrapping ErrUnusable: the work
// that needs the database retries until it answers. A binary checks at start rather than take
// its share of the work and fail every batch of it.
func Check(ctx context.Context, pool *pgxpool.Pool) error {
	latest, err := Latest()
	if err != nil {
		return err
	}
	var version *int64
	err = pool.QueryRow(ctx, `SELECT max(version_id) FROM `+VersionTable+` WHERE is_applied`).Scan(&version)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P01" { // undefined_table
		version, err = new(int64), nil
	}
	switch {
	case err != nil && RefusedForGood(err):
		return fmt.Errorf("%w: %w", ErrUnusable, err)
	case err != nil:
		return fmt.Errorf("check the database's schema: %w", err)
	case version == nil || *version < latest:
		at := int64(0)
		if version != nil {
			at = *version
		}
		return fmt.Errorf("%w: its schema is at version %d, and this build needs %d: run migrate (`go run ./cmd/migrate` with the same DATABASE_URL)", ErrUnusable, at, latest)
	}
	return nil
}
