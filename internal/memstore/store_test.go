package memstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/dispatch/storetest"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/recording"
)

// TestStore_PassesTheStoreSuite runs the behaviour every dispatcher store shares. A memory
// store starts empty and dies with the test, so there is nothing to forget or reopen.
func TestStore_PassesTheStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Harness[*memstore.Store]{
		NewStore: func(*testing.T) *memstore.Store { return memstore.New(recording.DefaultRule()) },
		Processed: func(_ *testing.T, s *memstore.Store, recs []uuid.UUID) []recording.Complete {
			return slices.DeleteFunc(s.Processed(), func(c recording.Complete) bool { return !slices.Contains(recs, c.Recording) })
		},
	})
}

func TestStore_ProcessedListsRecordingsInTheOrderTheyCompleted(t *testing.T) {
	store := memstore.New(recording.DefaultRule())
	first, second := uuid.New(), uuid.New()
	rule := recording.DefaultRule()
	for _, c := range []recording.Change{
		signal(first, rule.EEG, 1), signal(second, rule.EEG, 2),
		signal(second, rule.Accelerometer, 3), signal(first, rule.Accelerometer, 4),
	} {
		if _, err := store.Apply(t.Context(), 0, []recording.Change{c}); err != nil {
			t.Fatal(err)
		}
	}
	got := store.Processed()
	if len(got) != 2 || got[0].Recording != second || got[1].Recording != first {
		t.Fatalf("processed %+v, want %s then %s", got, second, first)
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
	store := memstore.New(recording.DefaultRule())
	for i, want := range []bool{true, false} {
		if recorded, err := store.Truncate(t.Context(), 10); err != nil || recorded != want {
			t.Fatalf("truncate %d: recorded %v (%v), want %v", i+1, recorded, err, want)
		}
	}
}
