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
// (Store.Snapshot, on second: a restarted or other replica) takes from that partition's
// pending recordings every signal it has not read yet, once:
//   - a recording whose eeg the gap deleted is not completed with it, neither when the
//     snapshot reads its other row nor by an accelerometer streamed after, whether the
//     snapshot reads it at all or not;
//   - one the gap completed is completed once by the snapshot's rows;
//   - what a transaction in flight at the snapshot inserted (streamed after it, with a
//     position before it) counts, and the snapshot's start read again does not sweep it away;
//   - a pending recording of another partition, where the snapshot has not begun, keeps its
//     signals.
//
// The partitions are the subtest's own, so that no other recording of a shared store is swept.
func (h Harness[S]) snapshotAfterAGap(t *testing.T, first, second S) {
	const at = 100 // the snapshot's position, above every change before the gap
	p := int(rand.Int32N(1 << 30))
	other := p + 1
	recs := h.recordings(t, 5)
	read, unread, done, elsewhere, flight := recs[0], recs[1], recs[2], recs[3], recs[4]
	kept := signal(read, "ppg", []string{"a"}, 11)
	doneEEG := eeg(done, 13)
	applyFrom(t, first, p, eeg(read, 10), kept, eeg(unread, 12), doneEEG, eeg(flight, 15)) // the eegs of read, unread and flight deleted in the gap
	applyFrom(t, first, other, eeg(elsewhere, 14))

	snapshot := func(partition int, want bool) {
		t.Helper()
		if recorded, err := second.Snapshot(t.Context(), partition, at); err != nil || recorded != want {
			t.Fatalf("snapshot at %d on partition %d: recorded %v (%v), want %v", at, partition, recorded, err, want)
		}
	}
	readAgain := func(c recording.Change) recording.Change {
		c.Signal.Version = at
		return c
	}
	snapshot(p, true)
	doneACC := accelerometer(done, at) // inserted in the gap
	res := applyFrom(t, second, p, readAgain(kept), readAgain(doneEEG), doneACC)
	if !slices.Equal(completed(res), []uuid.UUID{done}) {
		t.Fatalf("the snapshot's rows completed %v, want only the recording the gap completed", completed(res))
	}
	snapshot(p, false)
	for _, rec := range []uuid.UUID{read, unread} {
		if res := applyFrom(t, second, p, accelerometer(rec, 120)); len(res.Completed) != 0 {
			t.Fatalf("an accelerometer streamed after the snapshot completed %s with the eeg deleted in the gap", rec)
		}
	}
	if res := applyFrom(t, second, other, accelerometer(elsewhere, 122)); !slices.Equal(completed(res), []uuid.UUID{elsewhere}) {
		t.Fatalf("on the partition where no snapshot began: completed %v, want the recording with its eeg", completed(res))
	}
	inFlight := eeg(flight, 90)
	applyFrom(t, second, p, inFlight)
	snapshot(p, false)
	if res := applyFrom(t, second, p, accelerometer(flight, 123)); !slices.Equal(completed(res), []uuid.UUID{flight}) {
		t.Fatalf("after the in-flight transaction's eeg, an accelerometer: completed %v, want the recording", completed(res))
	}
	fresh := eeg(read, 130)
	if res := applyFrom(t, second, p, fresh); !slices.Equal(completed(res), []uuid.UUID{read}) {
		t.Fatalf("a new eeg: completed %v, want the recording", completed(res))
	}
	got := h.processed(t, second, recs...)
	if _, ok := got[unread]; ok {
		t.Errorf("the recording the snapshot did not read was processed: %+v", got[unread])
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
