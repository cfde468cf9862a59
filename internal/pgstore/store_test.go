package pgstore_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/migrations"
)

var (
	eegChannels = []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
	accChannels = []string{"x", "y", "z"}
)

func newStore(t *testing.T) (*pgstore.Store, *pgxpool.Pool) {
	t.Helper()
	ep := stack.Require(t, stack.Postgres)
	if _, err := migrations.Up(t.Context(), ep.DatabaseURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{}), pool
}

// forget removes what a test wrote for its recordings.
func forget(t *testing.T, pool *pgxpool.Pool, recs []uuid.UUID) {
	t.Cleanup(func() {
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
	})
}

func change(rec uuid.UUID, sensor string, channels []string, version int64) recording.Change {
	return recording.Change{At: time.Now(), Signal: recording.Signal{
		ID: uuid.New(), Recording: rec, SensorType: sensor, Channels: channels, SampleType: "float32", Version: version,
	}}
}

func processedCount(t *testing.T, pool *pgxpool.Pool, recs []uuid.UUID) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM dispatcher.processed_recording WHERE recording = ANY($1)`, recs).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStore_ConcurrentHalvesOfARecordingCompleteItExactlyOnce(t *testing.T) {
	store, pool := newStore(t)
	recs := make([]uuid.UUID, 40)
	for i := range recs {
		recs[i] = uuid.New()
	}
	forget(t, pool, recs)

	// Each recording's eeg and accelerometer arrive at the same moment through two
	// transactions, as they would from two partitions owned by two replicas.
	var wg sync.WaitGroup
	var mu sync.Mutex
	completed := map[uuid.UUID]int{}
	for i, rec := range recs {
		for _, c := range []recording.Change{change(rec, "eeg", eegChannels, int64(2*i+1)), change(rec, "accelerometer", accChannels, int64(2*i+2))} {
			wg.Go(func() {
				res, err := store.Apply(t.Context(), []recording.Change{c})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, done := range res.Completed {
					completed[done.Recording]++
				}
			})
		}
	}
	wg.Wait()
	for _, rec := range recs {
		if completed[rec] != 1 {
			t.Errorf("recording %s completed %d times", rec, completed[rec])
		}
	}
	if n := processedCount(t, pool, recs); n != len(recs) {
		t.Fatalf("%d processed rows, want %d", n, len(recs))
	}
}

func TestStore_RedeliveredBatchHasNoSecondEffect(t *testing.T) {
	store, pool := newStore(t)
	rec := uuid.New()
	forget(t, pool, []uuid.UUID{rec})
	batch := []recording.Change{change(rec, "eeg", eegChannels, 1), change(rec, "accelerometer", accChannels, 2)}
	first, err := store.Apply(t.Context(), batch)
	if err != nil || len(first.Completed) != 1 {
		t.Fatalf("first delivery: %+v %v", first, err)
	}
	again, err := store.Apply(t.Context(), batch)
	if err != nil || len(again.Completed) != 0 {
		t.Fatalf("redelivery: %+v %v", again, err)
	}
	if n := processedCount(t, pool, []uuid.UUID{rec}); n != 1 {
		t.Fatalf("%d processed rows, want 1", n)
	}
}

func TestStore_HalfCompleteRecordingSurvivesBetweenBatches(t *testing.T) {
	store, pool := newStore(t)
	rec := uuid.New()
	forget(t, pool, []uuid.UUID{rec})
	if res, err := store.Apply(t.Context(), []recording.Change{change(rec, "eeg", eegChannels, 1)}); err != nil || len(res.Completed) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// A fresh store (a restarted or different replica) finishes it.
	other := pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{})
	res, err := other.Apply(t.Context(), []recording.Change{change(rec, "accelerometer", accChannels, 2)})
	if err != nil || len(res.Completed) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestStore_DeletedSignalDoesNotCountAndReplayDoesNotReviveIt(t *testing.T) {
	store, pool := newStore(t)
	rec := uuid.New()
	forget(t, pool, []uuid.UUID{rec})
	eeg := change(rec, "eeg", eegChannels, 1)
	del := recording.Change{Delete: true, Signal: recording.Signal{ID: eeg.Signal.ID, Version: 2}}
	if _, err := store.Apply(t.Context(), []recording.Change{eeg, del}); err != nil {
		t.Fatal(err)
	}
	// The create is redelivered after the delete, then the accelerometer arrives.
	res, err := store.Apply(t.Context(), []recording.Change{eeg, change(rec, "accelerometer", accChannels, 3)})
	if err != nil || len(res.Completed) != 0 {
		t.Fatalf("completed with a deleted eeg: %+v %v", res, err)
	}
}

func TestStore_InvalidSignalsAreReportedOnce(t *testing.T) {
	store, pool := newStore(t)
	rec := uuid.New()
	forget(t, pool, []uuid.UUID{rec})
	bad := change(rec, "eeg", []string{"foo", "foo"}, 1)
	res, err := store.Apply(t.Context(), []recording.Change{bad})
	if err != nil || len(res.Invalid) != 1 {
		t.Fatalf("first sight: %+v %v", res, err)
	}
	bad.Signal.Version = 2
	if res, err := store.Apply(t.Context(), []recording.Change{bad}); err != nil || len(res.Invalid) != 0 {
		t.Fatalf("second sight reported again: %+v %v", res, err)
	}
}

func TestStore_IncompleteRecordingsAreReportedOnceAndPendingCounted(t *testing.T) {
	store, pool := newStore(t)
	rec := uuid.New()
	forget(t, pool, []uuid.UUID{rec})
	old := change(rec, "eeg", eegChannels, 1)
	old.At = time.Now().Add(-time.Hour)
	if _, err := store.Apply(t.Context(), []recording.Change{old}); err != nil {
		t.Fatal(err)
	}
	if n, err := store.Pending(t.Context()); err != nil || n < 1 {
		t.Fatalf("pending = %d, %v", n, err)
	}
	found := func() bool {
		got, err := store.ReportIncomplete(t.Context(), 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range got {
			if inc.Recording == rec {
				return true
			}
		}
		return false
	}
	if !found() {
		t.Fatal("an hour-old incomplete recording was not reported")
	}
	if found() {
		t.Fatal("reported twice")
	}
	// A late signal still completes it, and it stops being pending.
	res, err := store.Apply(t.Context(), []recording.Change{change(rec, "accelerometer", accChannels, 2)})
	if err != nil || len(res.Completed) != 1 {
		t.Fatalf("late completion: %+v %v", res, err)
	}
}
