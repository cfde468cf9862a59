package memstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/recording"
)

// The Store stands in for pgstore wherever the dispatcher takes one.
var (
	_ dispatch.Store   = (*memstore.Store)(nil)
	_ dispatch.Watcher = (*memstore.Store)(nil)
)

var (
	eegChannels = []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
	accChannels = []string{"x", "y", "z"}
)

func newStore() *memstore.Store { return memstore.New(recording.DefaultRule()) }

func change(rec uuid.UUID, sensor string, channels []string, version int64) recording.Change {
	return recording.Change{At: time.Now(), Signal: recording.Signal{
		ID: uuid.New(), Recording: rec, SensorType: sensor, Channels: channels, SampleType: "float32", Version: version,
	}}
}

func apply(t *testing.T, s *memstore.Store, changes ...recording.Change) recording.Applied {
	t.Helper()
	res, err := s.Apply(t.Context(), changes)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestStore_ConcurrentHalvesOfARecordingCompleteItExactlyOnce(t *testing.T) {
	store := newStore()
	recs := make([]uuid.UUID, 40)
	for i := range recs {
		recs[i] = uuid.New()
	}
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
	if n := len(store.Processed()); n != len(recs) {
		t.Fatalf("%d processed recordings, want %d", n, len(recs))
	}
}

func TestStore_RedeliveredBatchHasNoSecondEffect(t *testing.T) {
	store := newStore()
	rec := uuid.New()
	batch := []recording.Change{change(rec, "eeg", eegChannels, 1), change(rec, "accelerometer", accChannels, 2)}
	if first := apply(t, store, batch...); len(first.Completed) != 1 {
		t.Fatalf("first delivery: %+v", first)
	}
	again := apply(t, store, batch...)
	if len(again.Completed) != 0 {
		t.Fatalf("redelivery completed again: %+v", again)
	}
	if got := store.Processed(); len(got) != 1 || got[0].Recording != rec {
		t.Fatalf("processed %v, want only %s", got, rec)
	}
}

func TestStore_HalfCompleteRecordingCompletesInALaterBatch(t *testing.T) {
	store := newStore()
	rec := uuid.New()
	if res := apply(t, store, change(rec, "eeg", eegChannels, 1)); len(res.Completed) != 0 {
		t.Fatalf("completed with one signal: %+v", res)
	}
	if res := apply(t, store, change(rec, "accelerometer", accChannels, 2)); len(res.Completed) != 1 {
		t.Fatalf("second half: %+v", res)
	}
}

func TestStore_DeletedSignalDoesNotCountAndReplayDoesNotReviveIt(t *testing.T) {
	store := newStore()
	rec := uuid.New()
	eeg := change(rec, "eeg", eegChannels, 1)
	del := recording.Change{Delete: true, Signal: recording.Signal{ID: eeg.Signal.ID, Version: 2}}
	apply(t, store, eeg, del)
	// The create is redelivered after the delete, then the accelerometer arrives.
	if res := apply(t, store, eeg, change(rec, "accelerometer", accChannels, 3)); len(res.Completed) != 0 {
		t.Fatalf("completed with a deleted eeg: %+v", res)
	}
}

func TestStore_InvalidSignalsAreReportedOnce(t *testing.T) {
	store := newStore()
	bad := change(uuid.New(), "eeg", []string{"foo", "foo"}, 1)
	if res := apply(t, store, bad); len(res.Invalid) != 1 {
		t.Fatalf("first sight: %+v", res)
	}
	bad.Signal.Version = 2
	if res := apply(t, store, bad); len(res.Invalid) != 0 {
		t.Fatalf("second sight reported again: %+v", res)
	}
}

func TestStore_IncompleteRecordingsAreReportedOnceAndPendingCounted(t *testing.T) {
	store := newStore()
	rec, fresh := uuid.New(), uuid.New()
	old := change(rec, "eeg", eegChannels, 1)
	old.At = time.Now().Add(-time.Hour)
	apply(t, store, old, change(fresh, "eeg", eegChannels, 2))
	if n, err := store.Pending(t.Context()); err != nil || n != 2 {
		t.Fatalf("pending = %d, %v; want 2", n, err)
	}
	report := func() []recording.Incomplete {
		got, err := store.ReportIncomplete(t.Context(), 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := report(); len(got) != 1 || got[0].Recording != rec {
		t.Fatalf("reported %v, want only the hour-old recording", got)
	}
	if got := report(); len(got) != 0 {
		t.Fatalf("reported twice: %v", got)
	}
	// A late signal still completes it, and it stops being pending.
	if res := apply(t, store, change(rec, "accelerometer", accChannels, 3)); len(res.Completed) != 1 {
		t.Fatalf("late completion: %+v", res)
	}
	if n, _ := store.Pending(t.Context()); n != 1 {
		t.Fatalf("pending = %d after completion, want 1", n)
	}
}

func TestStore_ProcessedRecordingIsNotPendingAgain(t *testing.T) {
	store := newStore()
	rec := uuid.New()
	apply(t, store, change(rec, "eeg", eegChannels, 1), change(rec, "accelerometer", accChannels, 2))
	apply(t, store, change(rec, "ignore", []string{"ignore"}, 3)) // a late extra signal
	if n, _ := store.Pending(t.Context()); n != 0 {
		t.Fatalf("pending = %d, want 0", n)
	}
}

func TestStore_TruncateForgetsEarlierSignalsOnly(t *testing.T) {
	store := newStore()
	rec := uuid.New()
	apply(t, store, change(rec, "eeg", eegChannels, 1))
	if err := store.Truncate(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	if res := apply(t, store, change(rec, "accelerometer", accChannels, 6)); len(res.Completed) != 0 {
		t.Fatalf("completed with a signal from before the truncate: %+v", res)
	}
	if res := apply(t, store, change(rec, "eeg", eegChannels, 7)); len(res.Completed) != 1 {
		t.Fatalf("signals after the truncate did not complete the recording: %+v", res)
	}
}
