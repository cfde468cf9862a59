package pgstore_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/dispatch/storetest"
	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/migrations"
)

// TestStore_PassesTheStoreSuite runs the behaviour every dispatcher store shares against the
// local stack's Postgres. That database holds other tests' and earlier runs' rows, so the
// suite is told it is shared and the rows of its recordings are deleted after each subtest.
func TestStore_PassesTheStoreSuite(t *testing.T) {
	pool := migratedPool(t)
	newStore := func(*testing.T) *pgstore.Store {
		return pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{})
	}
	storetest.Run(t, storetest.Harness[*pgstore.Store]{
		NewStore: newStore,
		Processed: func(t *testing.T, _ *pgstore.Store, recs []uuid.UUID) []recording.Complete {
			return processed(t, pool, recs)
		},
		Forget: func(t *testing.T, recs []uuid.UUID) { forget(t, pool, recs) },
		// Another Store on the same pool is what a restarted process or another replica has.
		Reopen: func(t *testing.T, _ *pgstore.Store) *pgstore.Store { return newStore(t) },
		Shared: true,
	})
}

var errProcessRecord = errors.New("process_record failed")

type failingProcessor struct{}

func (failingProcessor) ProcessRecords(context.Context, pgx.Tx, []recording.Complete) error {
	return errProcessRecord
}

// The processor runs inside the batch's transaction: when it fails, the signals, the pending
// row and the processed mark all roll back with it, and the redelivered batch completes.
func TestStore_FailedProcessRecordLeavesNothingAndTheRetryCompletes(t *testing.T) {
	pool := migratedPool(t)
	rec := uuid.New()
	t.Cleanup(func() { forget(t, pool, []uuid.UUID{rec}) })
	rule := recording.DefaultRule()
	batch := []recording.Change{signal(rec, rule.EEG, 1), signal(rec, rule.Accelerometer, 2)}

	failing := pgstore.New(pool, rule, failingProcessor{})
	if _, err := failing.Apply(t.Context(), batch); !errors.Is(err, errProcessRecord) {
		t.Fatalf("apply with a failing process_record: %v, want %v", err, errProcessRecord)
	}
	var rows int
	err := pool.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM dispatcher.signal_state WHERE recording = $1)
		     + (SELECT count(*) FROM dispatcher.pending_recording WHERE recording = $1)
		     + (SELECT count(*) FROM dispatcher.processed_recording WHERE recording = $1)`, rec).Scan(&rows)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("a failed batch left %d rows of its recording", rows)
	}

	working := pgstore.New(pool, rule, pgstore.ProcessedRecordingWriter{})
	res, err := working.Apply(t.Context(), batch)
	if err != nil || len(res.Completed) != 1 {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	if got := processed(t, pool, []uuid.UUID{rec}); len(got) != 1 || got[0] != res.Completed[0] {
		t.Fatalf("processed %+v, want %+v", got, res.Completed[0])
	}
}

// migratedPool returns a pool on the local stack's migrated database, closed when t ends.
func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ep := stack.Require(t, stack.Postgres)
	if _, err := migrations.Up(t.Context(), ep.DatabaseURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return stack.Pool(t, ep.DatabaseURL)
}

// processed returns the processed_recording rows of recs.
func processed(t *testing.T, pool *pgxpool.Pool, recs []uuid.UUID) []recording.Complete {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT recording, eeg_signal, accelerometer_signal
		FROM dispatcher.processed_recording WHERE recording = ANY($1)`, recs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[recording.Complete])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forget deletes every row the tests wrote for recs. It runs in cleanups, after the test's
// context is done.
func forget(t *testing.T, pool *pgxpool.Pool, recs []uuid.UUID) {
	ctx := context.Background()
	for _, q := range []string{
		`DELETE FROM dispatcher.processed_recording WHERE recording = ANY($1)`,
		`DELETE FROM dispatcher.pending_recording WHERE recording = ANY($1)`,
		`DELETE FROM dispatcher.signal_state WHERE recording = ANY($1)`,
	} {
		if _, err := pool.Exec(ctx, q, recs); err != nil {
			t.Errorf("clean up: %v", err)
		}
	}
}

// signal is the creation of a signal of rec that meets req.
func signal(rec uuid.UUID, req recording.Requirement, version int64) recording.Change {
	return recording.Change{At: time.Now(), Signal: recording.Signal{
		ID: uuid.New(), Recording: rec, SensorType: req.SensorType, Channels: req.Channels, SampleType: "float32", Version: version,
	}}
}
