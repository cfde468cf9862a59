package storetest

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/recording"
)

// snapshotAfterAGap: after a gap in the capture the table is read again by a snapshot, which
// sends the rows there are and nothing of the gap's deletes. Its start on a partition
// (Store.Snapshot; on first, then read again on second: a restarted or other replica) takes
// from that partition's pending recordings every signal it has not read yet, once:
//   - a recording whose eeg the gap deleted is not completed with it, neither when the
//     snapshot reads its other row nor by an accelerometer streamed after, whether the
//     snapshot reads it at all or not;
//   - one the gap completed is completed once by the snapshot's rows;
//   - what a transaction in flight at the snapshot inserted (streamed after it, with a
//     position before it) counts, and the snapshot's start read again, or an older one read
//     after it, does not sweep it away;
//   - a pending recording of another partition, where the snapshot has not begun, keeps its
//     signals;
//   - a recording the snapshot reads again keeps its first signal's time and is not reported
//     incomplete a second time; one left with no signal is neither counted nor reported, and
//     once the snapshot's rows are read (Store.SnapshotRead) waits for nothing: a signal that
//     comes later starts its wait afresh, and it is reported again.
//
// The partitions are the subtest's own, so that no other recording of a shared store is swept.
func (h Harness[S]) snapshotAfterAGap(t *testing.T, first, second S) {
	const at = 100 // the snapshot's position, above every change before the gap
	p := int(rand.Int32N(1 << 30))
	other := p + 1
	recs := h.recordings(t, 6)
	read, unread, done, elsewhere, flight, gone := recs[0], recs[1], recs[2], recs[3], recs[4], recs[5]
	before := pending(t, first)
	kept := longAgo(signal(read, "ppg", []string{"a"}, 11))
	doneEEG := eeg(done, 13)
	// The eegs of read, unread, flight and gone are deleted in the gap.
	applyFrom(t, first, p, longAgo(eeg(read, 10)), kept, longAgo(eeg(unread, 12)), doneEEG, eeg(flight, 15))
	applyFrom(t, first, other, eeg(elsewhere, 14))
	if got := reportedBy(t, first, []uuid.UUID{read, unread}, map[int]bool{p: true, other: true}); len(got) != 2 {
		t.Fatalf("reported %+v before the gap, want the two recordings waiting long", got)
	}
	applyFrom(t, first, p, longAgo(eeg(gone, 16)))

	snapshot := func(s S, version int64, want bool) {
		t.Helper()
		if recorded, err := s.Snapshot(t.Context(), p, version); err != nil || recorded != want {
			t.Fatalf("snapshot at %d on partition %d: recorded %v (%v), want %v", version, p, recorded, err, want)
		}
	}
	readAgain := func(c recording.Change) recording.Change {
		c.Signal.Version = at
		return c
	}
	snapshot(first, at, true)
	doneACC := accelerometer(done, at) // inserted in the gap
	res := applyFrom(t, second, p, readAgain(kept), readAgain(doneEEG), doneACC)
	if !slices.Equal(completed(res), []uuid.UUID{done}) {
		t.Fatalf("the snapshot's rows completed %v, want only the recording the gap completed", completed(res))
	}
	if got := reportedBy(t, second, recs, map[int]bool{p: true, other: true}); len(got) != 0 {
		t.Fatalf("reported after the snapshot %+v, want none: one reported already, one with no signal", got)
	}
	h.checkPending(t, second, before+2, 2) // read and elsewhere
	snapshot(second, at, false)
	if err := second.SnapshotRead(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []recording.Change{accelerometer(read, 120), longAgo(accelerometer(unread, 121))} {
		if res := applyFrom(t, second, p, c); len(res.Completed) != 0 {
			t.Fatalf("an accelerometer streamed after the snapshot completed %s with the eeg deleted in the gap", c.Signal.Recording)
		}
	}
	if got := reportedBy(t, second, recs, map[int]bool{p: true, other: true}); len(got) != 1 || got[0].Recording != unread {
		t.Fatalf("reported %+v, want the recording the snapshot did not read, waiting anew since its accelerometer", got)
	}
	if res := applyFrom(t, second, other, accelerometer(elsewhere, 122)); !slices.Equal(completed(res), []uuid.UUID{elsewhere}) {
		t.Fatalf("on the partition where no snapshot began: completed %v, want the recording with its eeg", completed(res))
	}
	inFlight := eeg(flight, 90)
	applyFrom(t, second, p, inFlight)
	snapshot(second, at, false)
	snapshot(second, at-5, false) // an older one, read after it
	if res := applyFrom(t, second, p, accelerometer(flight, 123)); !slices.Equal(completed(res), []uuid.UUID{flight}) {
		t.Fatalf("after the in-flight transaction's eeg, an accelerometer: completed %v, want the recording", completed(res))
	}
	fresh := eeg(read, 130)
	if res := applyFrom(t, second, p, fresh); !slices.Equal(completed(res), []uuid.UUID{read}) {
		t.Fatalf("a new eeg: completed %v, want the recording", completed(res))
	}
	got := h.processed(t, second, recs...)
	for _, rec := range []uuid.UUID{unread, gone} {
		if _, ok := got[rec]; ok {
			t.Errorf("recording %s, whose eeg the gap deleted, was processed: %+v", rec, got[rec])
		}
	}
	for rec, eegID := range map[uuid.UUID]uuid.UUID{read: fresh.Signal.ID, flight: inFlight.Signal.ID, done: doneEEG.Signal.ID} {
		if got[rec].EEGSignal != eegID {
			t.Errorf("recording %s processed with eeg %s, want %s", rec, got[rec].EEGSignal, eegID)
		}
	}
	if got[done].AccelerometerSignal != doneACC.Signal.ID {
		t.Errorf("the recording the gap completed was processed with %+v, want its accelerometer", got[done])
	}
}
