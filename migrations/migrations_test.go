package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/migrations"
)

func TestUp_IsIdempotentAndAcceptsTheInsertByHand(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	first, err := migrations.Up(ctx, ep.DatabaseURL, log)
	if err != nil {
		t.Fatal(err)
	}
	second, err := migrations.Up(ctx, ep.DatabaseURL, log)
	if err != nil || second != first || first < 2 {
		t.Fatalf("second Up: version %d then %d, err %v", first, second, err)
	}

	db, err := pgx.Connect(ctx, ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // leave no rows behind

	tag, err := tx.Exec(ctx, stack.HandInsert, "6f1e0a52-2b53-4f7b-9d55-1f3c1c1f0a01")
	if err != nil {
		t.Fatalf("insert by hand: %v", err)
	}
	if tag.RowsAffected() != 2 {
		t.Fatalf("inserted %d rows, want 2", tag.RowsAffected())
	}
	var lower, upper int64
	if err := tx.QueryRow(ctx, `SELECT lower(span), upper(span) FROM datastore.signal WHERE sensor_type = 'accelerometer' AND recording = $1`,
		"6f1e0a52-2b53-4f7b-9d55-1f3c1c1f0a01").Scan(&lower, &upper); err != nil {
		t.Fatal(err)
	}
	if lower != 0 || upper != 60_000_000_000 {
		t.Fatalf("span = [%d,%d), want [0,60000000000)", lower, upper)
	}
}

// In Kubernetes migrate starts beside Postgres, which may take minutes to take connections:
// Up waits for it, saying so, within its context. Before, it failed at the first refusal, and
// with it the pod and skaffold's first deploy.
func TestUp_WaitsForADatabaseNotYetUp(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	u, err := url.Parse(ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	pg := proctest.NewProxy(t, u.Host)
	pg.Down()
	u.Host = pg.Addr()
	var logged proctest.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	time.AfterFunc(1500*time.Millisecond, pg.Up)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := migrations.Up(ctx, u.String(), log); err != nil {
		t.Fatalf("Up with the database up after 1.5 s: %v", err)
	}
	if n := strings.Count(logged.String(), "waiting for the database to take connections"); n < 2 {
		t.Errorf("logged %d waits, want one per try before the database was up:\n%s", n, logged.String())
	}
}

func TestSchema_RejectsValuesOutsideItsTypes(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := migrations.Up(ctx, ep.DatabaseURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	for name, expr := range map[string]string{
		"label with capitals": `'EEG'::datastore.signal_label`,
		"label with spaces":   `'eeg signal'::datastore.signal_label`,
		"unknown sample type": `'float16'::datastore.sample_type`,
		"span of wrong shape": `'[5,1)'::datastore.time_span`,
	} {
		if _, err := db.Exec(ctx, "SELECT "+expr); err == nil {
			t.Errorf("%s: %s was accepted", name, expr)
		}
	}
	if _, err := db.Exec(ctx, `SELECT 'snake_case_2'::datastore.signal_label`); err != nil {
		t.Errorf("a snake_case label was rejected: %v", err)
	}
}

// A binary checks its database at start (app's pool): one it cannot use, which waiting will
// not mend, is an error (unmigrated, or behind this build; refused credentials), and one not
// up yet is not (the work retries it). A dispatcher with a wrong password took its partitions
// and failed every batch of them; one on a database without the schema was even ready.
func TestCheck_RefusesADatabaseThisBuildCannotUse(t *testing.T) {
	empty := stack.EmptyDatabase(t)
	check := func(url string) error {
		t.Helper()
		pool := stack.Pool(t, url)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return migrations.Check(ctx, pool)
	}
	latest, err := migrations.Latest()
	if err != nil || latest < 25 {
		t.Fatalf("latest migration %d, %v", latest, err)
	}
	if err := check(empty); !errors.Is(err, migrations.ErrUnusable) || !strings.Contains(err.Error(), "schema is at version 0") || !strings.Contains(err.Error(), "run migrate") {
		t.Errorf("a database without the schema: %v", err)
	}
	if _, err := migrations.Up(t.Context(), empty, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := check(empty); err != nil {
		t.Errorf("migrated: %v", err)
	}
	wrong, err := url.Parse(empty)
	if err != nil {
		t.Fatal(err)
	}
	wrong.User = url.UserPassword(wrong.User.Username(), "not-the-password")
	if err := check(wrong.String()); !errors.Is(err, migrations.ErrUnusable) || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("a wrong password: %v", err)
	}
	wrong.User = url.UserPassword(wrong.User.Username(), "demo")
	wrong.Host = "127.0.0.1:1"
	if err := check(wrong.String()); err == nil || errors.Is(err, migrations.ErrUnusable) {
		t.Errorf("nothing listening (a database not up yet): %v, want an error that is not ErrUnusable", err)
	}
}

// Only what waiting will not mend stops a binary at start: a server that is out of
// connections in a rolling update (53300), shutting down or recovering (57P01, 57P02), or
// starting (57P03) is waited for by the work, as is a role that may not read the version table
// (42501, a grant being fixed).
func TestCheck_OnlyRefusalsForGoodAreUnusable(t *testing.T) {
	for code, forGood := range map[string]bool{
		"28P01": true, "28000": true, "3D000": true,
		"53300": false, "57P01": false, "57P02": false, "57P03": false, "42501": false, "08006": false,
	} {
		err := fmt.Errorf("connect: %w", &pgconn.PgError{Code: code})
		if got := migrations.RefusedForGood(err); got != forGood {
			t.Errorf("SQLSTATE %s: refused for good %t, want %t", code, got, forGood)
		}
	}
}
