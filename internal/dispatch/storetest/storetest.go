// Package storetest is the conformance suite for the dispatcher's state: the behaviour every
// implementation of dispatch.Store and dispatch.Watcher must have, written once and run
// against each of them (internal/memstore and internal/pgstore), the way River runs
// riverdrivertest against every driver. A behaviour added here is checked on both stores;
// a test left in one store's package is one that only that store can have.
//
// A store's tests call Run with a Harness that builds the store and observes what it did:
//
//	func TestStore_PassesTheStoreSuite(t *testing.T) {
//		storetest.Run(t, storetest.Harness[*memstore.Store]{
//			NewStore: func(*testing.T) *memstore.Store { return memstore.New(recording.DefaultRule()) },
//			Processed: func(_ *testing.T, s *memstore.Store, recs []uuid.UUID) []recording.Complete {
//				return ... // those of s.Processed() whose recording is in recs
//			},
//		})
//	}
//
// internal/pgstore's harness shows the rest (Forget, Reopen, Shared) for a store in a database.
//
// The suite can run on a database that other tests and earlier runs also write. It touches
// only recordings with fresh random IDs, asks the Harness to forget them afterwards, and checks
// what is global to a store (the pending count) exactly only when the Harness says nothing
// else writes there. Truncate, which reaches every signal older than a version, is called
// only with versions below any real source position (see TruncateForgetsEarlierSignalsOnly).
//
// The subtests run one after another, not in parallel: ReportIncomplete claims every old
// pending recording of a shared store, and would claim another subtest's.
package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/recording"
)

// Store is what the suite tests: the dispatcher's state as the signal group uses it.
type Store = dispatch.StateStore

// Harness is what the suite needs to know of one implementation of Store.
type Harness[S Store] struct {
	// NewStore returns a store for one subtest, deciding completeness with
	// recording.DefaultRule (the suite's signals are made for it). Required.
	NewStore func(t *testing.T) S
	// Processed returns which of recs the store has processed (what its process_record
	// received), in any order. s is the subtest's store, or one reopened from it. Required.
	Processed func(t *testing.T, s S, recs []uuid.UUID) []recording.Complete
	// Forget deletes what the suite wrote for recs; it runs in a cleanup, after the subtest's
	// context is done. Nil when nothing outlives the subtest's store.
	Forget func(t *testing.T, recs []uuid.UUID)
	// Reopen returns a second store on the state of s, as a restarted process or another
	// replica has it. Nil for a store without durable state: subtests that need it are
	// skipped.
	Reopen func(t *testing.T, s S) S
	// Shared is true when other tests and earlier runs write to the same state (one
	// database for all). Pending then counts their recordings too and changes under the
	// suite's feet, so the suite checks it only as a lower bound; everything else it checks
	// of its own recordings only, either way.
	Shared bool
}

// Run runs every behaviour of the suite as a subtest of t, named for the behaviour.
func Run[S Store](t *testing.T, h Harness[S]) {
	t.Helper()
	if h.NewStore == nil || h.Processed == nil {
		t.Fatal("storetest: Harness.NewStore and Harness.Processed are required")
	}
	behaviours := []struct {
		name string
		test func(t *testing.T)
	}{
		{"AnswersPing", h.answersPing},
		{"ConcurrentHalvesOfARecordingCompleteItExactlyOnce", h.concurrentHalvesCompleteOnce},
		{"RedeliveredBatchHasNoSecondEffect", h.onOneStore(h.redeliver)},
		{"ReopenedStoreDoesNotProcessARecordingAgain", h.onReopenedStore(h.redeliver)},
		{"HalfCompleteRecordingSurvivesBetweenBatches", h.onOneStore(h.finishHalfComplete)},
		{"ReopenedStoreFinishesAHalfCompleteRecording", h.onReopenedStore(h.finishHalfComplete)},
		{"DeletedSignalDoesNotCountAndReplayDoesNotReviveIt", h.deletedSignalDoesNotCount},
		{"SignalMovedToAnotherRecordingCountsThereWhateverItsHalvesOrder", h.movedSignalCountsInItsNewRecording},
		{"SignalMovedTwiceCompletesTheRecordingItPassedThroughWhateverTheOrder", h.movedTwiceCompletesWhereItPassed},
		{"RecordingWhoseSignalsAllMovedAwayCompletesWhateverTheOrder", h.allMovedAwayCompletes},
		{"DeleteThatDoesNotSayItsRecordingFindsTheSignal", h.blindDeleteFindsTheSignal},
		{"UpdateThatMayHaveMovedTheSignalIntoAProcessedRecordingTakesItFromWhereItWas", h.movedIntoProcessedLeaves},
		{"UpdateThatMayHaveMovedTheSignalReadBeforeItsCreationKeepsItOutOfTheOldRecording", h.moveReadAheadKeepsTheSignalOut},
		{"InvalidSignalsAreReportedWhenTheyGoBad", h.invalidSignalsReportedWhenTheyGoBad},
		{"SnapshotAfterAGapTakesFromItsPartitionWhatItDoesNotRead", h.onOneStore(h.snapshotAfterAGap)},
		{"ReopenedStoreAppliesTheStartOfASnapshotAlike", h.onReopenedStore(h.snapshotAfterAGap)},
		{"TruncateForgetsEarlierSignalsOnly", h.truncateForgetsEarlierSignalsOnly},
		{"TruncateReadEarlyForgetsNothingAnOlderChangeStillJudges", h.truncateReadEarly},
		{"IncompleteRecordingsAreReportedOnceAndPendingCounted", h.incompleteReportedOnceAndPendingCounted},
		{"ProcessedRecordingIsNotPendingAgain", h.processedIsNotPendingAgain},
		{"RecordingWhoseSignalChangesIDIsNotReportedAgain", h.renamedSignalKeepsItsRecordingsReport},
		{"IncompleteIsNotReportedWhileItsPartitionIsBehind", h.incompleteWaitsForItsPartition},
		{"RecordingWithNoSignalLeftIsNotPending", h.emptyIsNotPending},
	}
	for _, b := range behaviours {
		t.Run(b.name, b.test)
	}
}

func (h Harness[S]) answersPing(t *testing.T) {
	if err := h.NewStore(t).Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// recordings returns n fresh recording IDs, forgotten when t ends.
func (h Harness[S]) recordings(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	recs := make([]uuid.UUID, n)
	for i := range recs {
		recs[i] = uuid.New()
	}
	if h.Forget != nil {
		t.Cleanup(func() { h.Forget(t, recs) })
	}
	return recs
}

// onOneStore runs a check of two stores on one store.
func (h Harness[S]) onOneStore(check func(t *testing.T, first, second S)) func(*testing.T) {
	return func(t *testing.T) {
		s := h.NewStore(t)
		check(t, s, s)
	}
}

// onReopenedStore runs a check of two stores on a store and a second one reopened on its
// state, or skips it when the store cannot be reopened.
func (h Harness[S]) onReopenedStore(check func(t *testing.T, first, second S)) func(*testing.T) {
	return func(t *testing.T) {
		if h.Reopen == nil {
			t.Skip("this store has no durable state to reopen (Harness.Reopen is nil)")
		}
		s := h.NewStore(t)
		check(t, s, h.Reopen(t, s))
	}
}

// processed returns which of recs s has processed, by recording.
func (h Harness[S]) processed(t *testing.T, s S, recs ...uuid.UUID) map[uuid.UUID]recording.Complete {
	t.Helper()
	out := map[uuid.UUID]recording.Complete{}
	for _, c := range h.Processed(t, s, recs) {
		if !slices.Contains(recs, c.Recording) {
			t.Fatalf("Harness.Processed returned %s, not one of the recordings asked for", c.Recording)
		}
		if _, twice := out[c.Recording]; twice {
			t.Fatalf("recording %s processed twice", c.Recording)
		}
		out[c.Recording] = c
	}
	return out
}

var (
	eegChannels = []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
	accChannels = []string{"x", "y", "z"}
)

// signal is the creation of a new signal of rec at version, committed now.
func signal(rec uuid.UUID, sensor string, channels []string, version int64) recording.Change {
	return recording.Change{At: time.Now(), Signal: recording.Signal{
		ID: uuid.New(), Recording: rec, SensorType: sensor, Channels: channels, SampleType: "float32", Version: version,
	}}
}

// eeg is the creation of an eeg signal of rec that recording.DefaultRule accepts.
func eeg(rec uuid.UUID, version int64) recording.Change {
	return signal(rec, "eeg", eegChannels, version)
}

// accelerometer is the creation of an accelerometer signal of rec that
// recording.DefaultRule accepts.
func accelerometer(rec uuid.UUID, version int64) recording.Change {
	return signal(rec, "accelerometer", accChannels, version)
}

// apply applies changes read from partition 0.
func apply(t *testing.T, s Store, changes ...recording.Change) recording.Applied {
	t.Helper()
	return applyFrom(t, s, 0, changes...)
}

// applyFrom applies changes read from partition.
func applyFrom(t *testing.T, s Store, partition int, changes ...recording.Change) recording.Applied {
	t.Helper()
	res, err := s.Apply(t.Context(), partition, changes)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func completed(res recording.Applied) []uuid.UUID {
	out := make([]uuid.UUID, len(res.Completed))
	for i, c := range res.Completed {
		out[i] = c.Recording
	}
	return out
}
