package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/recording"
)

// incompleteAfter is the age at which the suite reports its recordings incomplete. It is far
// beyond any real recording's, so that on a shared database ReportIncomplete claims only
// recordings the suite dated that far back, and leaves other tests' to them.
const incompleteAfter = 90 * 24 * time.Hour

// longAgo returns c as committed well before incompleteAfter.
func longAgo(c recording.Change) recording.Change {
	c.At = time.Now().Add(-2 * incompleteAfter)
	return c
}

func (h Harness[S]) incompleteReportedOnceAndPendingCounted(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 3)
	old, fresh, invalid := recs[0], recs[1], recs[2]
	before := pending(t, store)
	first := longAgo(eeg(old, 1))
	badEEG := longAgo(eeg(invalid, 3))
	badEEG.Signal.SampleType = "float128"
	apply(t, store, first, eeg(fresh, 2), badEEG, longAgo(accelerometer(invalid, 4)))
	h.checkPending(t, store, before+3, 3)

	got := reported(t, store, recs)
	if len(got) != 2 || !slices.ContainsFunc(got, func(inc recording.Incomplete) bool { return inc.Recording == old }) ||
		!slices.ContainsFunc(got, func(inc recording.Incomplete) bool { return inc.Recording == invalid }) {
		t.Fatalf("reported %v, want %s and %s, those first seen long ago", got, old, invalid)
	}
	for _, inc := range got {
		want := []string{"accelerometer"} // old has its eeg signal
		if inc.Recording == invalid {
			want = []string{"eeg"} // its eeg signal can never qualify
		} else if d := inc.FirstSeen.Sub(first.At).Abs(); d > time.Millisecond {
			t.Errorf("reported first seen at %v, want its first signal's time %v", inc.FirstSeen, first.At)
		}
		if !slices.Equal(inc.Missing, want) {
			t.Errorf("reported %s missing %v, want %v", inc.Recording, inc.Missing, want)
		}
	}
	if got := reported(t, store, recs); len(got) != 0 {
		t.Fatalf("reported twice: %v", got)
	}
	// A late signal still completes it, and it stops being pending.
	if res := apply(t, store, accelerometer(old, 3)); !slices.Equal(completed(res), []uuid.UUID{old}) {
		t.Fatalf("late completion: %+v", res)
	}
	h.checkPending(t, store, before+2, 2)
}

// renamedSignalKeepsItsRecordingsReport: the two halves of a signal's id changed within its
// recording (the delete of the old id, the upsert of the new, in one batch) leave the
// recording pending as it was: it is not judged empty between them, so it is not reported
// incomplete a second time.
func (h Harness[S]) renamedSignalKeepsItsRecordingsReport(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 1)
	rec := recs[0]
	before := pending(t, store)
	first := longAgo(eeg(rec, 1))
	apply(t, store, first)
	if got := reported(t, store, recs); len(got) != 1 {
		t.Fatalf("reported %v, want %s", got, rec)
	}
	renamed := longAgo(eeg(rec, 2))
	apply(t, store, longAgo(recording.Change{Delete: true, Signal: recording.Signal{ID: first.Signal.ID, Recording: rec, Version: 2}}), renamed)
	if got := reported(t, store, recs); len(got) != 0 {
		t.Fatalf("reported again after its signal's id changed: %v", got)
	}
	h.checkPending(t, store, before+1, 1)
}

// processedIsNotPendingAgain: a signal arriving after its recording was processed does not
// make the recording pending (or reported incomplete) again.
func (h Harness[S]) processedIsNotPendingAgain(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 1)
	rec := recs[0]
	before := pending(t, store)
	if res := apply(t, store, longAgo(eeg(rec, 1)), longAgo(accelerometer(rec, 2))); len(res.Completed) != 1 {
		t.Fatalf("complete batch: %+v", res)
	}
	apply(t, store, longAgo(signal(rec, "ignore", []string{"ignore"}, 3))) // a late extra signal
	h.checkPending(t, store, before, 0)
	if got := reported(t, store, recs); len(got) != 0 {
		t.Fatalf("processed recording reported incomplete: %v", got)
	}
}

// emptyIsNotPending: a recording whose signals were all deleted, or moved to another
// recording, waits for nothing: it is not pending, nor reported incomplete. A signal that
// comes later makes it pending again.
func (h Harness[S]) emptyIsNotPending(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 3)
	deleted, moved, to := recs[0], recs[1], recs[2]
	before := pending(t, store)
	gone := longAgo(eeg(deleted, 1))
	left := longAgo(eeg(moved, 2))
	apply(t, store, gone, left)
	h.checkPending(t, store, before+2, 2)

	apply(t, store, recording.Change{Delete: true, Signal: recording.Signal{ID: gone.Signal.ID, Recording: deleted, Version: 3}})
	away := left
	away.Signal.Recording, away.Signal.Version = to, 4
	apply(t, store, away) // the create half of a move; its delete half comes after
	apply(t, store, recording.Change{Delete: true, Signal: recording.Signal{ID: left.Signal.ID, Recording: moved, Version: 4}})
	h.checkPending(t, store, before+1, 1) // to, which has the moved signal
	if got := reported(t, store, recs); len(got) != 1 || got[0].Recording != to {
		t.Fatalf("reported %v, want only %s, the one with a signal", got, to)
	}

	apply(t, store, accelerometer(deleted, 5))
	h.checkPending(t, store, before+2, 2)
}

// incompleteWaitsForItsPartition: a recording is reported incomplete by the owner of its
// partition, once that partition is caught up with, or has been applied incompleteAfter past
// the recording's first signal; not while it has not, when the rest of its signals may be in
// the backlog. (They were reported, and the alert fired, while the dispatchers caught up on a
// backlog, although they were complete.) The partitions are the suite's own, far from any
// topic's.
func (h Harness[S]) incompleteWaitsForItsPartition(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 3)
	behind, caughtUp, later := recs[0], recs[1], recs[2]
	const behindPartition, caughtUpPartition = 9001, 9002
	first := longAgo(eeg(behind, 1))
	applyFrom(t, store, behindPartition, first)
	if got := reportedBy(t, store, recs, map[int]bool{behindPartition: false}); len(got) != 0 {
		t.Fatalf("reported %v while its partition is behind, applied no further than its first signal", got)
	}
	// The partition applied past first signal + incompleteAfter: the rest is not in its
	// backlog. The later recording is not old enough to report. Only the partition's owner
	// reports it.
	next := eeg(later, 2)
	next.At = first.At.Add(incompleteAfter + time.Hour)
	applyFrom(t, store, behindPartition, next)
	if got := reportedBy(t, store, recs, map[int]bool{}); len(got) != 0 {
		t.Fatalf("reported %v by a dispatcher that does not own its partition", got)
	}
	// Even with change capture not seen past it: what was applied was captured, and every
	// change committed before it.
	if got := reportedCaptured(t, store, recs, map[int]bool{behindPartition: false}, first.At); len(got) != 1 || got[0].Recording != behind {
		t.Fatalf("reported %v once its partition was applied past it, want %s", got, behind)
	}

	caughtUpFirst := longAgo(eeg(caughtUp, 3))
	applyFrom(t, store, caughtUpPartition, caughtUpFirst)
	if got := reportedBy(t, store, recs, map[int]bool{caughtUpPartition: false}); len(got) != 0 {
		t.Fatalf("reported %v while its partition is not caught up with", got)
	}
	// Caught up with Kafka while change capture stood still, seen not even incompleteAfter
	// past the first signal: the rest may not be in Kafka yet.
	if got := reportedCaptured(t, store, recs, map[int]bool{caughtUpPartition: true}, caughtUpFirst.At.Add(incompleteAfter-time.Second)); len(got) != 0 {
		t.Fatalf("reported %v by its caught-up partition with capture not seen past it", got)
	}
	if got := reportedCaptured(t, store, recs, map[int]bool{caughtUpPartition: true}, caughtUpFirst.At.Add(incompleteAfter)); len(got) != 1 || got[0].Recording != caughtUp {
		t.Fatalf("reported %v once its partition was caught up with and capture seen past it, want %s", got, caughtUp)
	}
}

func pending(t *testing.T, s Store) int64 {
	t.Helper()
	n, err := s.Pending(t.Context())
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	return n
}

// checkPending checks the pending count now that own of the subtest's recordings are
// pending: exactly want on a store of the subtest's own, at least own on a shared one.
func (h Harness[S]) checkPending(t *testing.T, s S, want, own int64) {
	t.Helper()
	n := pending(t, s)
	switch {
	case !h.Shared && n != want:
		t.Fatalf("pending = %d, want %d", n, want)
	case h.Shared && n < own:
		t.Fatalf("pending = %d, want at least this subtest's %d", n, own)
	}
}

// reported returns those of recs that ReportIncomplete reports now, as the owner of the
// partitions the suite applies from, caught up with each.
func reported(t *testing.T, s Store, recs []uuid.UUID) []recording.Incomplete {
	t.Helper()
	caughtUp := map[int]bool{}
	for p := range 10 {
		caughtUp[p] = true
	}
	return reportedBy(t, s, recs, caughtUp)
}

// reportedBy is reported, as the owner of partitions (each with whether it is caught up).
func reportedBy(t *testing.T, s Store, recs []uuid.UUID, partitions map[int]bool) []recording.Incomplete {
	t.Helper()
	return reportedCaptured(t, s, recs, partitions, time.Time{})
}

// reportedCaptured is reportedBy with change capture seen as far as captured (zero: not
// known).
func reportedCaptured(t *testing.T, s Store, recs []uuid.UUID, partitions map[int]bool, captured time.Time) []recording.Incomplete {
	t.Helper()
	all, err := s.ReportIncomplete(t.Context(), incompleteAfter, captured, partitions)
	if err != nil {
		t.Fatalf("report incomplete: %v", err)
	}
	return slices.DeleteFunc(all, func(inc recording.Incomplete) bool { return !slices.Contains(recs, inc.Recording) })
}
