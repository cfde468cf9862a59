package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/dispatch/storetest"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/stack"
)

// TestStore_PassesTheStoreSuite runs the behaviour every dispatcher store shares against the
// local stack's Postgres, in a database of its own (migratedPool). Its subtests share it, so
// the suite is told it is shared and the rows of its recordings are deleted after each one.
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

// The processor runs inside the batch's transaction: when it fails, the signals, the pending
// row and the processed mark all roll back with it, and the redelivered batch completes.
func TestStore_FailedProcessRecordLeavesNothingAndTheRetryCompletes(t *testing.T) {
	pool := migratedPool(t)
	rec := uuid.New()
	t.Cleanup(func() { forget(t, pool, []uuid.UUID{rec}) })
	rule := recording.DefaultRule()
	batch := []recording.Change{signal(rec, rule.EEG, 1), signal(rec, rule.Accelerometer, 2)}

	failing := pgstore.New(pool, rule, processorFunc(func(context.Context, pgx.Tx, []recording.Complete) error {
		return errProcessRecord
	}))
	if _, err := failing.Apply(t.Context(), 0, batch); !errors.Is(err, errProcessRecord) {
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
	res, err := working.Apply(t.Context(), 0, batch)
	if err != nil || len(res.Completed) != 1 {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	if got := processed(t, pool, []uuid.UUID{rec}); len(got) != 1 || got[0] != res.Completed[0] {
		t.Fatalf("processed %+v, want %+v", got, res.Completed[0])
	}
}

// A processed recording's signals are not kept unless they already had a row: one completed
// within its batch leaves none, one completed across two batches keeps its first half's, and
// a redelivery of either finds nothing to change.
func TestStore_KeepsNoRowsForSignalsOfRecordingsCompletedInTheirBatch(t *testing.T) {
	pool := migratedPool(t)
	within, across := uuid.New(), uuid.New()
	t.Cleanup(func() { forget(t, pool, []uuid.UUID{within, across}) })
	rule := recording.DefaultRule()
	store := pgstore.New(pool, rule, pgstore.ProcessedRecordingWriter{})
	apply := func(changes ...recording.Change) recording.Applied {
		t.Helper()
		res, err := store.Apply(t.Context(), 0, changes)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	rows := func(rec uuid.UUID) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM dispatcher.signal_state WHERE recording = $1`, rec).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	batch := []recording.Change{signal(within, rule.EEG, 1), signal(within, rule.Accelerometer, 2)}
	if res := apply(batch...); len(res.Completed) != 1 {
		t.Fatalf("recording completed within its batch: %+v", res)
	}
	first, second := signal(across, rule.EEG, 3), signal(across, rule.Accelerometer, 4)
	apply(first)
	if res := apply(second); len(res.Completed) != 1 {
		t.Fatalf("recording completed across batches: %+v", res)
	}
	if n := rows(within); n != 0 {
		t.Errorf("recording completed within its batch kept %d signal rows, want 0", n)
	}
	if n := rows(across); n != 1 {
		t.Errorf("recording completed across batches kept %d signal rows, want 1 (its first half's)", n)
	}
	for _, redelivered := range [][]recording.Change{batch, {second}} {
		if res := apply(redelivered...); len(res.Completed) != 0 || res.Ignored != len(redelivered) {
			t.Errorf("redelivery: %+v, want all %d changes ignored", res, len(redelivered))
		}
	}
	if n := rows(within) + rows(across); n != 1 {
		t.Errorf("redeliveries left %d signal rows, want 1", n)
	}
}

// Apply's statements find their rows through indexes whatever the planner makes of the
// tables' statistics: a connection keeps a prepared statement's plan, and a plan made while
// the tables looked empty would scan them however large they grew. Here the connections are
// told that a random read costs a million sequential ones, which makes any scan look cheaper
// than an index, and the batch's own counts, read by process_record inside its transaction,
// must show no sequential scan of the dispatcher's tables.
func TestStore_ApplyFindsRowsThroughIndexesWhateverTheStatistics(t *testing.T) {
	pool := stack.Pool(t, stack.FreshDatabase(t), func(cfg *pgxpool.Config) {
		cfg.ConnConfig.RuntimeParams["random_page_cost"] = "1000000"
	})
	rec := uuid.New()
	t.Cleanup(func() { forget(t, pool, []uuid.UUID{rec}) })
	rule := recording.DefaultRule()
	spy := &scanCounter{}
	store := pgstore.New(pool, rule, spy)
	// Two batches, so that the second loads what the first wrote.
	for _, c := range []recording.Change{signal(rec, rule.EEG, 1), signal(rec, rule.Accelerometer, 2)} {
		if _, err := store.Apply(t.Context(), 0, []recording.Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	if !spy.ran {
		t.Fatal("process_record did not run: the recording did not complete")
	}
	if len(spy.scanned) > 0 {
		t.Fatalf("the batch scanned tables (sequential scans): %v", spy.scanned)
	}
}

// BATCH_SIZE's bound holds on the local stack's configuration: a batch of MaxBatch changes,
// each of another recording (the most locks a batch can take), from each of three partitions,
// with all three transactions holding their locks at once (process_record, which runs after
// the locks are taken, waits for the other two).
func TestStore_BatchesOfMaxBatchFromThreePartitionsHoldTheirLocksAtOnce(t *testing.T) {
	pool := migratedPool(t)
	const partitions = 3
	rule := recording.DefaultRule()
	var recs []uuid.UUID
	batches := make([][]recording.Change, partitions)
	for p := range batches {
		// One recording completes, so that process_record runs; every other change is the
		// first signal of a recording of its own.
		done := uuid.New()
		batches[p] = append(batches[p], signal(done, rule.EEG, 1), signal(done, rule.Accelerometer, 2))
		recs = append(recs, done)
		for len(batches[p]) < pgstore.MaxBatch {
			rec := uuid.New()
			batches[p] = append(batches[p], signal(rec, rule.EEG, 3))
			recs = append(recs, rec)
		}
	}
	t.Cleanup(func() { forget(t, pool, recs) })

	var arrived sync.WaitGroup
	arrived.Add(partitions)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	waitForAll := processorFunc(func(ctx context.Context, tx pgx.Tx, done []recording.Complete) error {
		arrived.Done()
		select {
		case <-all:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the other batches to hold their locks: %w", ctx.Err())
		}
		return pgstore.ProcessedRecordingWriter{}.ProcessRecords(ctx, tx, done)
	})
	store := pgstore.New(pool, rule, waitForAll)
	g, ctx := errgroup.WithContext(t.Context())
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for p, batch := range batches {
		g.Go(func() error {
			res, err := store.Apply(ctx, p, batch)
			if err == nil && len(res.Completed) != 1 {
				err = fmt.Errorf("completed %d recordings, want 1", len(res.Completed))
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("%d batches of %d changes at once: %v", partitions, pgstore.MaxBatch, err)
	}
}

// processorFunc is a process_record of a function.
// A truncate waits for the batches in flight that read the truncates before it: its sweep of
// the pending recordings then sees what they wrote. Before, a batch that had read no truncate
// left a recording pending whose only signal the truncate, committed meanwhile, had taken, and
// the recording stayed pending with nothing to wait for.
func TestStore_ATruncateWaitsForTheBatchesInFlight(t *testing.T) {
	pool := migratedPool(t) // a database of its own: Pending is exact
	rule := recording.DefaultRule()
	inside, release := make(chan struct{}), make(chan struct{})
	let := sync.OnceFunc(func() { close(release) })
	defer let() // a failure below must not leave the batch holding its connection
	store := pgstore.New(pool, rule, processorFunc(func(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error {
		close(inside)
		<-release
		return pgstore.ProcessedRecordingWriter{}.ProcessRecords(ctx, tx, recs)
	}))
	waiting, complete := uuid.New(), uuid.New()
	applied := make(chan error, 1)
	go func() {
		// waiting becomes pending; complete completes, so the batch stops in its processor.
		_, err := store.Apply(t.Context(), 0, []recording.Change{signal(waiting, rule.EEG, 1), signal(complete, rule.EEG, 2), signal(complete, rule.Accelerometer, 3)})
		applied <- err
	}()
	<-inside
	truncated := make(chan error, 1)
	go func() { _, err := store.Truncate(t.Context(), 10); truncated <- err }()
	select {
	case err := <-truncated:
		t.Fatalf("the truncate returned (%v) while a batch that read no truncate was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	let()
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if err := <-truncated; err != nil {
		t.Fatal(err)
	}
	if n, err := store.Pending(t.Context()); err != nil || n != 0 {
		t.Fatalf("pending %d (%v), want 0: the truncate took the only signal of %s", n, err, waiting)
	}
}

type processorFunc func(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error

func (f processorFunc) ProcessRecords(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error {
	return f(ctx, tx, recs)
}

// scanCounter is process_record that notes the sequential scans of the dispatcher's tables
// in its transaction so far (every statement of the batch but its own), then writes
// processed_recording.
type scanCounter struct {
	ran     bool
	scanned []string
}

func (s *scanCounter) ProcessRecords(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error {
	rows, _ := tx.Query(ctx, `SELECT relname || ': ' || seq_scan FROM pg_stat_xact_user_tables
		WHERE schemaname = 'dispatcher' AND seq_scan > 0 ORDER BY relname`)
	scanned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	s.ran, s.scanned = true, scanned
	return pgstore.ProcessedRecordingWriter{}.ProcessRecords(ctx, tx, recs)
}

// A batch's signal states are written in one statement; what it writes reads back as it was
// sent: channel names with the characters of JSON and array syntax, a delete of a signal
// never seen that does not say its recording (a tombstone of the nil recording), and an older
// change of a signal that does not overwrite a newer one from an earlier batch.
func TestStore_SavesEachSignalsStateAsItWas(t *testing.T) {
	pool := migratedPool(t)
	rec := uuid.New()
	t.Cleanup(func() { forget(t, pool, []uuid.UUID{rec}) })
	store := pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{})

	odd := recording.Change{At: time.Now(), Signal: recording.Signal{
		ID: uuid.New(), Recording: rec, SensorType: `eeg "raw"`, SampleType: "int16",
		Channels: []string{`a"b`, `c,d`, `{e}`, `f\g`, "NULL", "", "ünï"}, Version: 20,
	}}
	newer := signal(rec, recording.DefaultRule().Accelerometer, 30)
	unseen := recording.Change{Delete: true, At: time.Now(), Signal: recording.Signal{ID: uuid.New(), Version: 25}}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DELETE FROM dispatcher.signal_state WHERE signal = $1`, unseen.Signal.ID)
	})
	if _, err := store.Apply(t.Context(), 0, []recording.Change{odd, newer, unseen}); err != nil {
		t.Fatal(err)
	}
	older := newer
	older.Signal.SensorType, older.Signal.Version = "stale", 10
	if _, err := store.Apply(t.Context(), 0, []recording.Change{older}); err != nil {
		t.Fatal(err)
	}

	type state struct {
		Recording              uuid.UUID
		SensorType, SampleType string
		Channels               []string
		Deleted                bool
		SourceLSN              int64
	}
	read := func(signal uuid.UUID) state {
		var st state
		err := pool.QueryRow(t.Context(), `SELECT recording, sensor_type, sample_type, channels, deleted, source_lsn
			FROM dispatcher.signal_state WHERE signal = $1`, signal).
			Scan(&st.Recording, &st.SensorType, &st.SampleType, &st.Channels, &st.Deleted, &st.SourceLSN)
		if err != nil {
			t.Fatalf("read signal %s: %v", signal, err)
		}
		return st
	}
	if got := read(odd.Signal.ID); got.Recording != rec || got.SensorType != odd.Signal.SensorType ||
		got.SampleType != "int16" || !slices.Equal(got.Channels, odd.Signal.Channels) || got.Deleted || got.SourceLSN != 20 {
		t.Errorf("signal with odd channel names read back as %+v, want %+v", got, odd.Signal)
	}
	if got := read(newer.Signal.ID); got.SensorType != newer.Signal.SensorType || got.SourceLSN != 30 {
		t.Errorf("a signal changed at LSN 30, then by an older change at 10, reads back as %+v", got)
	}
	if got := read(unseen.Signal.ID); got.Recording != uuid.Nil || !got.Deleted || got.SourceLSN != 25 || got.Channels == nil {
		t.Errorf("the tombstone of a signal never seen reads back as %+v, want no recording, deleted, at 25", got)
	}
}

// migratedPool returns a pool on a migrated database of the test's own (stack.FreshDatabase),
// closed when t ends: the tests' small source positions and their counts never meet what
// other tests and the demo's data left in the shared database.
func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return stack.Pool(t, stack.FreshDatabase(t))
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

// A truncate says whether it is new: the dispatcher warns of it only then.
func TestStore_ATruncateSaysWhetherItIsNew(t *testing.T) {
	store := pgstore.New(migratedPool(t), recording.DefaultRule(), pgstore.ProcessedRecordingWriter{}) // a database of its own
	for i, want := range []bool{true, false} {
		if recorded, err := store.Truncate(t.Context(), 10); err != nil || recorded != want {
			t.Fatalf("truncate %d: recorded %v (%v), want %v", i+1, recorded, err, want)
		}
	}
}

// Under REPLICA IDENTITY DEFAULT a delete does not say its recording, and may be read from
// another partition than the signal's creation, by another batch at the same moment. The
// delete's batch looks up which recordings hold the signal, then locks them. Here the test
// holds the nil recording's lock (where the delete's tombstone goes), so that the delete's
// batch stops after its lookup, and the creation's batch is started then. Had the creation
// run meanwhile, unseen by the lookup, and not seen the tombstone not yet committed, the
// signal would stay present in its recording for good, and could complete it.
func TestStore_ABlindDeleteAndTheCreationOfItsSignalInAnotherBatchAtOnce(t *testing.T) {
	pool := migratedPool(t) // a database of its own: the locks below are this test's alone
	rule := recording.DefaultRule()
	store := pgstore.New(pool, rule, pgstore.ProcessedRecordingWriter{})
	rec := uuid.New()
	created := signal(rec, rule.EEG, 1)
	blind := recording.Change{Delete: true, At: time.Now(), Signal: recording.Signal{ID: created.Signal.ID, Version: 2}}

	holder, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback(context.Background()) }()
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_xact_lock(0)`); err != nil { // lockKey(uuid.Nil)
		t.Fatal(err)
	}
	waiting := func() int {
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deleted, createdDone := make(chan error, 1), make(chan error, 1)
	go func() { _, err := store.Apply(t.Context(), 0, []recording.Change{blind}); deleted <- err }()
	kafkatest.Eventually(t, 10*time.Second, func() bool { return waiting() == 1 }, func() string { return "the delete's batch never waited for the nil recording's lock" })
	go func() { _, err := store.Apply(t.Context(), 0, []recording.Change{created}); createdDone <- err }()
	// Either the creation waits too, or (without the blind lock) it commits unhindered.
	kafkatest.Eventually(t, 10*time.Second, func() bool { return waiting() == 2 || len(createdDone) == 1 }, func() string { return "the creation's batch neither waited nor finished" })
	if err := holder.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, done := range []chan error{deleted, createdDone} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var present int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM dispatcher.signal_state WHERE signal = $1 AND recording = $2 AND NOT deleted`,
		created.Signal.ID, rec).Scan(&present); err != nil {
		t.Fatal(err)
	}
	if present != 0 {
		t.Fatal("the signal deleted after its creation is present in its recording")
	}
	// And the recording does not complete with it.
	res, err := store.Apply(t.Context(), 0, []recording.Change{signal(rec, rule.Accelerometer, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Completed) != 0 {
		t.Fatalf("completed %+v with a deleted signal", res.Completed)
	}
}

// Each consumer group goes by its own progress through a partition: a group started afresh on
// a database another has used (GROUP_ID changed, to read the topic again) does not report a
// recording because the other group applied the partition far past it. (A probe's new group
// reported a recording whose other signal it had not reached yet.)
func TestStore_AGroupGoesByItsOwnProgressThroughAPartition(t *testing.T) {
	pool := migratedPool(t)
	rule := recording.DefaultRule()
	const age, partition = time.Hour, 0
	old, later := uuid.New(), uuid.New()
	first := signal(old, rule.EEG, 1)
	first.At = time.Now().Add(-3 * age)
	next := signal(later, rule.EEG, 2)
	next.At = time.Now().Add(-age / 2) // an hour and a half past first
	ahead := pgstore.New(pool, rule, pgstore.ProcessedRecordingWriter{}).ForGroup("ahead")
	if _, err := ahead.Apply(t.Context(), partition, []recording.Change{first, next}); err != nil {
		t.Fatal(err)
	}
	fresh := pgstore.New(pool, rule, pgstore.ProcessedRecordingWriter{}).ForGroup("fresh")
	if _, err := fresh.Apply(t.Context(), partition, []recording.Change{first}); err != nil {
		t.Fatal(err)
	}
	got, err := fresh.ReportIncomplete(t.Context(), age, time.Time{}, map[int]bool{partition: false})
	if err != nil || len(got) != 0 {
		t.Fatalf("the fresh group, behind on its partition, reported %v (%v), want none: the other group's progress is not its", got, err)
	}
	got, err = ahead.ReportIncomplete(t.Context(), age, time.Time{}, map[int]bool{partition: false})
	if err != nil || len(got) != 1 || got[0].Recording != old {
		t.Fatalf("the group ahead reported %v (%v), want %s", got, err, old)
	}
}
