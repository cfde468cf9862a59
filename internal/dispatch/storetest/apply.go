package storetest

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/recording"
)

// concurrentHalvesCompleteOnce applies each recording's eeg and accelerometer at the same
// moment through two calls, as two partitions owned by two replicas would.
func (h Harness[S]) concurrentHalvesCompleteOnce(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 40)
	var wg sync.WaitGroup
	var mu sync.Mutex
	completions := map[uuid.UUID]int{}
	for i, rec := range recs {
		for _, c := range []recording.Change{eeg(rec, int64(2*i+1)), accelerometer(rec, int64(2*i+2))} {
			wg.Go(func() {
				res, err := store.Apply(t.Context(), 0, []recording.Change{c})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, done := range completed(res) {
					completions[done]++
				}
			})
		}
	}
	wg.Wait()
	for _, rec := range recs {
		if completions[rec] != 1 {
			t.Errorf("recording %s completed %d times", rec, completions[rec])
		}
	}
	if n := len(h.processed(t, store, recs...)); n != len(recs) {
		t.Fatalf("%d processed recordings, want %d", n, len(recs))
	}
}

// redeliver applies a batch completing a recording to first, then again to second, as a batch
// whose offsets were not committed is redelivered (to a restarted or other replica when second
// is reopened), and checks that the recording was completed and processed once.
func (h Harness[S]) redeliver(t *testing.T, first, second S) {
	t.Helper()
	rec := h.recordings(t, 1)[0]
	batch := []recording.Change{eeg(rec, 1), accelerometer(rec, 2)}
	delivered := apply(t, first, batch...)
	if len(delivered.Completed) != 1 {
		t.Fatalf("first delivery: %+v", delivered)
	}
	if again := apply(t, second, batch...); len(again.Completed) != 0 || again.Ignored != len(batch) {
		t.Fatalf("redelivery: %+v, want nothing completed and all %d changes ignored", again, len(batch))
	}
	if got := h.processed(t, second, rec); len(got) != 1 || got[rec] != delivered.Completed[0] {
		t.Fatalf("processed %v, want only %+v", got, delivered.Completed[0])
	}
}

// finishHalfComplete applies a recording's eeg to first and then its accelerometer to second
// (a restarted or other replica when second is reopened), and checks that the second half, not
// the first, completes it.
func (h Harness[S]) finishHalfComplete(t *testing.T, first, second S) {
	t.Helper()
	rec := h.recordings(t, 1)[0]
	if res := apply(t, first, eeg(rec, 1)); len(res.Completed) != 0 {
		t.Fatalf("completed with one signal: %+v", res)
	}
	if res := apply(t, second, accelerometer(rec, 2)); !slices.Equal(completed(res), []uuid.UUID{rec}) {
		t.Fatalf("second half: %+v", res)
	}
	if got := h.processed(t, second, rec); len(got) != 1 {
		t.Fatalf("processed %v, want %s", got, rec)
	}
}

func (h Harness[S]) deletedSignalDoesNotCount(t *testing.T) {
	store := h.NewStore(t)
	rec := h.recordings(t, 1)[0]
	created := eeg(rec, 1)
	deleted := recording.Change{Delete: true, Signal: recording.Signal{ID: created.Signal.ID, Recording: rec, Version: 2}}
	apply(t, store, created, deleted)
	// The create is redelivered after the delete, then the accelerometer arrives.
	if res := apply(t, store, created, accelerometer(rec, 3)); len(res.Completed) != 0 {
		t.Fatalf("completed with a deleted eeg: %+v", res)
	}
	if got := h.processed(t, store, rec); len(got) != 0 {
		t.Fatalf("processed %v with a deleted eeg", got)
	}
}

// move is c's signal moved to recording to at version, as Debezium sends it on a topic keyed
// by recording: gone, the delete under the recording it leaves, and arrived, the create
// under to, each on its recording's partition.
func move(c recording.Change, to uuid.UUID, version int64) (gone, arrived recording.Change) {
	gone = recording.Change{Delete: true, At: time.Now(), Signal: recording.Signal{ID: c.Signal.ID, Recording: c.Signal.Recording, Version: version}}
	arrived = c
	arrived.Signal.Recording, arrived.Signal.Version = to, version
	return gone, arrived
}

// applyInTurn applies batches one after another and returns the recordings they completed.
func applyInTurn(t *testing.T, s Store, batches [][]recording.Change) []uuid.UUID {
	t.Helper()
	var done []uuid.UUID
	for _, batch := range batches {
		done = append(done, completed(apply(t, s, batch...))...)
	}
	return done
}

// movedSignalCountsInItsNewRecording: an update of a signal's recording reaches the
// dispatcher as Debezium sends a change of its Kafka key, a delete under the old recording and
// a create under the new one at one source position. The halves come in one batch or two, and
// on different partitions in either order; whichever way, the signal then counts in its new
// recording only.
func (h Harness[S]) movedSignalCountsInItsNewRecording(t *testing.T) {
	orders := []struct {
		name    string
		batches func(gone, moved recording.Change) [][]recording.Change
	}{
		{"one batch", func(gone, moved recording.Change) [][]recording.Change { return [][]recording.Change{{gone, moved}} }},
		{"delete first", func(gone, moved recording.Change) [][]recording.Change { return [][]recording.Change{{gone}, {moved}} }},
		{"create first", func(gone, moved recording.Change) [][]recording.Change { return [][]recording.Change{{moved}, {gone}} }},
	}
	for _, order := range orders {
		t.Run(order.name, func(t *testing.T) {
			store := h.NewStore(t)
			recs := h.recordings(t, 2)
			from, to := recs[0], recs[1]
			created := eeg(from, 1)
			apply(t, store, created, accelerometer(to, 2))
			gone, moved := move(created, to, 3)
			if done := applyInTurn(t, store, order.batches(gone, moved)); !slices.Equal(done, []uuid.UUID{to}) {
				t.Fatalf("completed %v, want %s, the recording the eeg signal moved to", done, to)
			}
			if got := h.processed(t, store, to); len(got) != 1 || got[to].EEGSignal != created.Signal.ID {
				t.Fatalf("processed %+v, want %s with its eeg signal %s", got, to, created.Signal.ID)
			}
			// Redelivered halves change nothing, and the eeg signal no longer counts where it was.
			if res := apply(t, store, gone, moved, accelerometer(from, 4)); len(res.Completed) != 0 {
				t.Fatalf("completed %+v after the move: the eeg signal counted in %s again", res.Completed, from)
			}
			if got := h.processed(t, store, from); len(got) != 0 {
				t.Fatalf("processed %v, which its eeg signal left", got)
			}
		})
	}
}

// movedTwiceCompletesWhereItPassed: an eeg signal moves from x to y, where an accelerometer
// is, then on to z. Each recording's changes travel on its own partition (the topic is keyed
// by recording), so they may be read in any order across recordings: y, complete between the
// two moves, is completed whichever is read first, and z once it gets an accelerometer.
func (h Harness[S]) movedTwiceCompletesWhereItPassed(t *testing.T) {
	orders := map[string]func(x, y, z []recording.Change) [][]recording.Change{
		"as made": func(x, y, z []recording.Change) [][]recording.Change { return [][]recording.Change{x, y[:1], z, y[1:]} },
		"z first": func(x, y, z []recording.Change) [][]recording.Change { return [][]recording.Change{z, y, x} },
		"z and y together": func(x, y, z []recording.Change) [][]recording.Change {
			return [][]recording.Change{append(slices.Clone(z), y...), x}
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			store := h.NewStore(t)
			recs := h.recordings(t, 3)
			x, y, z := recs[0], recs[1], recs[2]
			acc, created := accelerometer(y, 1), eeg(x, 2)
			apply(t, store, acc, created)
			id := created.Signal.ID
			leftX, intoY := move(created, y, 3)
			leftY, intoZ := move(intoY, z, 4)
			done := applyInTurn(t, store, order([]recording.Change{leftX}, []recording.Change{intoY, leftY}, []recording.Change{intoZ}))
			if !slices.Equal(done, []uuid.UUID{y}) {
				t.Fatalf("completed %v, want only %s, which had the eeg signal and an accelerometer between the moves", done, y)
			}
			if got := h.processed(t, store, y); got[y].EEGSignal != id || got[y].AccelerometerSignal != acc.Signal.ID {
				t.Fatalf("processed %+v, want %s with both its signals", got, y)
			}
			if got := completed(apply(t, store, accelerometer(z, 5))); !slices.Equal(got, []uuid.UUID{z}) {
				t.Fatalf("completed %v, want %s, where the eeg signal is now", got, z)
			}
		})
	}
}

// allMovedAwayCompletes: y has an eeg signal and an accelerometer, and is complete; then
// both move away, each to a recording of its own. Each recording's changes travel on its own
// partition, so the two recordings they went to may be read before y: y is completed when its
// own changes are read, whatever the order, and no other recording is.
func (h Harness[S]) allMovedAwayCompletes(t *testing.T) {
	orders := map[string]func(y, x1, x2 []recording.Change) [][]recording.Change{
		"as made":               func(y, x1, x2 []recording.Change) [][]recording.Change { return [][]recording.Change{y, x1, x2} },
		"where they went first": func(y, x1, x2 []recording.Change) [][]recording.Change { return [][]recording.Change{x1, x2, y} },
		"y between": func(y, x1, x2 []recording.Change) [][]recording.Change {
			return [][]recording.Change{x2, y[:2], x1, y[2:]}
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			store := h.NewStore(t)
			recs := h.recordings(t, 3)
			y, x1, x2 := recs[0], recs[1], recs[2]
			e, a := eeg(y, 1), accelerometer(y, 2)
			eGone, eArrived := move(e, x1, 3)
			aGone, aArrived := move(a, x2, 4)
			done := applyInTurn(t, store, order([]recording.Change{e, a, eGone, aGone}, []recording.Change{eArrived}, []recording.Change{aArrived}))
			if !slices.Equal(done, []uuid.UUID{y}) {
				t.Fatalf("completed %v, want only %s, complete before its signals left", done, y)
			}
			if got := h.processed(t, store, y); got[y].EEGSignal != e.Signal.ID || got[y].AccelerometerSignal != a.Signal.ID {
				t.Fatalf("processed %+v, want %s with both its signals", got, y)
			}
		})
	}
}

// blindDeleteFindsTheSignal: a delete whose row does not say its recording (a placeholder
// row, REPLICA IDENTITY DEFAULT) deletes the signal from the recording it is in, and an older
// change of it read later does not bring it back.
func (h Harness[S]) blindDeleteFindsTheSignal(t *testing.T) {
	store := h.NewStore(t)
	rec := h.recordings(t, 1)[0]
	created := eeg(rec, 1)
	apply(t, store, created)
	blind := recording.Change{Delete: true, At: time.Now(), Signal: recording.Signal{ID: created.Signal.ID, Version: 2}}
	apply(t, store, blind)
	if res := apply(t, store, created, accelerometer(rec, 3)); len(res.Completed) != 0 {
		t.Fatalf("completed with a deleted eeg: %+v", res)
	}
	if got := h.processed(t, store, rec); len(got) != 0 {
		t.Fatalf("processed %v with a deleted eeg", got)
	}
}

// moveReadAheadKeepsTheSignalOut: an update without its old row (REPLICA IDENTITY DEFAULT)
// moves an eeg signal from x to y, and y's partition is read before x's, which created it
// there. The creation, older than the move, does not put the signal back in x: x does not
// complete with it when an accelerometer comes, and y does.
func (h Harness[S]) moveReadAheadKeepsTheSignalOut(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 2)
	x, y := recs[0], recs[1]
	created := eeg(x, 1)
	moved := created
	moved.Signal.Recording, moved.Signal.Version, moved.Moved = y, 3, true
	apply(t, store, moved)   // y's partition
	apply(t, store, created) // x's, behind it
	if got := completed(apply(t, store, accelerometer(x, 4))); len(got) != 0 {
		t.Fatalf("completed %v: %s with an eeg signal that had left it for %s", got, x, y)
	}
	if got := completed(apply(t, store, accelerometer(y, 5))); !slices.Equal(got, []uuid.UUID{y}) {
		t.Fatalf("completed %v, want %s, where the eeg signal is", got, y)
	}
}

// movedIntoProcessedLeaves: an update without its old row (REPLICA IDENTITY DEFAULT) moves a
// signal into a recording already processed. The signal leaves the recording it was in, which
// is left with nothing to wait for, and cannot complete with it.
func (h Harness[S]) movedIntoProcessedLeaves(t *testing.T) {
	store := h.NewStore(t)
	recs := h.recordings(t, 2)
	done, left := recs[0], recs[1]
	before := pending(t, store)
	apply(t, store, eeg(done, 1), accelerometer(done, 2))
	created := longAgo(eeg(left, 3))
	apply(t, store, created)
	_, moved := move(created, done, 4)
	moved.Moved = true
	apply(t, store, moved)
	h.checkPending(t, store, before, 0)
	if res := apply(t, store, accelerometer(left, 5)); len(res.Completed) != 0 {
		t.Fatalf("completed %+v with a signal that had moved away", res.Completed)
	}
}

// invalidSignalsReportedWhenTheyGoBad: a signal is reported invalid when it first comes so,
// and when an update makes a valid signal invalid; not again while it stays invalid, nor when
// a redelivery repeats it.
func (h Harness[S]) invalidSignalsReportedWhenTheyGoBad(t *testing.T) {
	store := h.NewStore(t)
	rec := h.recordings(t, 1)[0]
	bad := signal(rec, "eeg", []string{"foo", "foo"}, 1)
	reported := func(step string, c recording.Change, want bool) {
		t.Helper()
		res := apply(t, store, c)
		if got := len(res.Invalid) == 1 && res.Invalid[0].Signal.ID == c.Signal.ID; got != want || len(res.Invalid) > 1 {
			t.Fatalf("%s: reported %+v, want the signal reported: %t", step, res.Invalid, want)
		}
	}
	reported("first sight", bad, true)
	reported("the same change again", bad, false)
	bad.Signal.Version = 2
	reported("an update that leaves it invalid", bad, false)

	good := signal(rec, "eeg", eegChannels, 3)
	good.Signal.ID = bad.Signal.ID
	reported("an update that makes it valid", good, false)
	good.Signal.Channels, good.Signal.Version = []string{"f7-o1", " f8-o2"}, 4
	reported("an update that makes it invalid again", good, true)

	other := eeg(rec, 5)
	reported("a valid signal", other, false)
	other.Signal.SampleType, other.Signal.Version = "float16", 6
	reported("an update that makes a valid signal invalid", other, true)
}

// truncateForgetsEarlierSignalsOnly: after a truncate, signals from before it no longer count
// and signals from after it do.
//
// Truncate reaches every signal of the store older than its version, not only this
// subtest's. On a shared database the versions here are the lowest an int64 holds: real
// source positions (Postgres LSNs) and the other subtests' versions are all positive, so no
// signal but this subtest's own is older than the truncate (or, in another process running
// this suite at the same moment, its twin's, which this truncate leaves in the same state).
func (h Harness[S]) truncateForgetsEarlierSignalsOnly(t *testing.T) {
	const base = math.MinInt64
	store := h.NewStore(t)
	rec := h.recordings(t, 1)[0]
	before := pending(t, store)
	apply(t, store, longAgo(eeg(rec, base+1)))
	if _, err := store.Truncate(t.Context(), base+5); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	// Read again, it is said to be known (the first time may be known too on a database an
	// earlier run of this suite left it in).
	if recorded, err := store.Truncate(t.Context(), base+5); err != nil || recorded {
		t.Fatalf("the same truncate again: recorded %v (%v), want false", recorded, err)
	}
	// Left with no signal, it waits for nothing.
	h.checkPending(t, store, before, 0)
	if got := reported(t, store, []uuid.UUID{rec}); len(got) != 0 {
		t.Fatalf("reported %v, which the truncate left with no signal", got)
	}
	if res := apply(t, store, accelerometer(rec, base+6)); len(res.Completed) != 0 {
		t.Fatalf("completed with a signal from before the truncate: %+v", res)
	}
	if res := apply(t, store, eeg(rec, base+7)); !slices.Equal(completed(res), []uuid.UUID{rec}) {
		t.Fatalf("signals after the truncate did not complete the recording: %+v", res)
	}
}

// truncateReadEarly: a truncate read before changes older than it, which another partition
// held back. Each such change is judged as of its own position: a recording complete before
// the truncate is completed, and a signal set before it counts for nothing after it. Versions
// as in truncateForgetsEarlierSignalsOnly, above its truncate's.
func (h Harness[S]) truncateReadEarly(t *testing.T) {
	const base = math.MinInt64 + 100
	store := h.NewStore(t)
	recs := h.recordings(t, 3)
	whole, across, since := recs[0], recs[1], recs[2]
	before := pending(t, store)
	if _, err := store.Truncate(t.Context(), base+10); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	if res := apply(t, store, eeg(whole, base+1), accelerometer(whole, base+2)); !slices.Equal(completed(res), []uuid.UUID{whole}) {
		t.Fatalf("a recording complete before the truncate, read after it: %+v", res)
	}
	apply(t, store, longAgo(eeg(across, base+3)))
	h.checkPending(t, store, before, 0) // its one signal is gone since the truncate
	// A recording that waits since a signal from after the truncate, not since one before.
	apply(t, store, longAgo(eeg(since, base+4)), eeg(since, base+13))
	if got := reported(t, store, recs); len(got) != 0 {
		t.Fatalf("reported %v: one's only signal the truncate took, the other's first signal since is new", got)
	}
	h.checkPending(t, store, before+1, 1)
	if res := apply(t, store, accelerometer(across, base+11)); len(res.Completed) != 0 {
		t.Fatalf("completed with an eeg signal from before the truncate: %+v", res)
	}
	if res := apply(t, store, eeg(across, base+12)); !slices.Equal(completed(res), []uuid.UUID{across}) {
		t.Fatalf("signals after the truncate did not complete the recording: %+v", res)
	}
}
