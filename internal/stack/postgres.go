package stack

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/pguuid"
	"github.com/beacon/eventdispatch/migrations"
)

// Pool returns a connection pool to url set up as the binaries set theirs up (uuid.UUID
// through internal/pguuid), then by each of configure, closed when the test ends.
func Pool(t testing.TB, url string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = pguuid.AfterConnect
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// FreshDatabase creates a database of its own for t on the local stack's Postgres, migrated
// and dropped when t ends, and returns its URL: for tests whose state must not meet the
// shared database's (a plan chosen from its statistics, or what a real truncate left).
func FreshDatabase(t testing.TB) string {
	t.Helper()
	url := EmptyDatabase(t)
	if _, err := migrations.Up(t.Context(), url, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate %s: %v", url, err)
	}
	return url
}

// EmptyDatabase is FreshDatabase not migrated: no schema of the project's at all.
func EmptyDatabase(t testing.TB) string {
	t.Helper()
	base := Require(t, Postgres).DatabaseURL
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := admin.Exec(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	url := strings.Replace(base, "/"+cfg.Database+"?", "/"+name+"?", 1)
	if url == base {
		t.Fatalf("cannot name database %s in %s", name, base)
	}
	return url
}
