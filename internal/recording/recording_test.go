package recording_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/recording"
)

var (
	eegChannels = []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
	accChannels = []string{"x", "y", "z"}
)

func sig(rec uuid.UUID, sensor string, channels []string, version int64) recording.Signal {
	return recording.Signal{ID: uuid.New(), Recording: rec, SensorType: sensor, Channels: channels, SampleType: "float32", Version: version}
}

func completions(l *recording.Ledger, signals ...recording.Signal) []recording.Complete {
	var out []recording.Complete
	for _, s := range signals {
		if c := l.Upsert(s).Completed; c != nil {
			out = append(out, *c)
		}
	}
	return out
}

func TestLedger_CompletesOnceWhateverTheArrivalOrder(t *testing.T) {
	rec := uuid.New()
	eeg := sig(rec, "eeg", eegChannels, 1)
	acc := sig(rec, "accelerometer", accChannels, 2)
	ignore := sig(rec, "ignore", []string{"a"}, 3)
	orders := [][]recording.Signal{{eeg, acc, ignore}, {acc, eeg, ignore}, {ignore, acc, eeg}, {acc, ignore, eeg, eeg, acc}}
	for i, order := range orders {
		got := completions(recording.NewLedger(recording.DefaultRule()), order...)
		want := recording.Complete{Recording: rec, EEGSignal: eeg.ID, AccelerometerSignal: acc.ID}
		if len(got) != 1 || got[0] != want {
			t.Errorf("order %d: completions %v, want exactly %v", i, got, want)
		}
	}
}

func TestLedger_InterleavedRecordingsThatDefeatAWatermarkPollerBothComplete(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	got := completions(l,
		sig(a, "eeg", eegChannels, 1),
		sig(b, "eeg", eegChannels, 2),
		sig(b, "accelerometer", accChannels, 3),
		sig(a, "accelerometer", accChannels, 4),
	)
	if len(got) != 2 || got[0].Recording != b || got[1].Recording != a {
		t.Fatalf("completions %v, want b then a", got)
	}
}

func TestLedger_SignalsThatDoNotQualifyNeverComplete(t *testing.T) {
	rec := uuid.New()
	cases := map[string]recording.Signal{
		"invalid eeg channel set": sig(rec, "eeg", []string{"foo", "bar"}, 1),
		"missing one eeg channel": sig(rec, "eeg", eegChannels[:4], 1),
		"unknown sample type":     {ID: uuid.New(), Recording: rec, SensorType: "eeg", Channels: eegChannels, SampleType: "float16", Version: 1},
		"duplicate channels":      sig(rec, "eeg", append([]string{"f7-o1"}, eegChannels...), 1),
		"blank channel":           sig(rec, "eeg", append([]string{" "}, eegChannels...), 1),
		"wrong sensor type":       sig(rec, "ignore", eegChannels, 1),
	}
	for name, bad := range cases {
		l := recording.NewLedger(recording.DefaultRule())
		if got := completions(l, bad, sig(rec, "accelerometer", accChannels, 2)); len(got) != 0 {
			t.Errorf("%s: completed %v", name, got)
		}
	}
}

func TestLedger_ValidSignalArrivingLaterCompletes(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	valid := sig(rec, "eeg", eegChannels, 3)
	got := completions(l, sig(rec, "eeg", []string{"a", "b", "c", "d", "e"}, 1), sig(rec, "accelerometer", accChannels, 2), valid)
	if len(got) != 1 || got[0].EEGSignal != valid.ID {
		t.Fatalf("completions %v, want one with the valid eeg signal", got)
	}
}

func TestLedger_UpdateReevaluates(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(rec, "eeg", []string{"foo"}, 1)
	if got := completions(l, eeg, sig(rec, "accelerometer", accChannels, 2)); len(got) != 0 {
		t.Fatal("completed with an invalid eeg")
	}
	eeg.Channels, eeg.Version = eegChannels, 3
	if got := completions(l, eeg); len(got) != 1 {
		t.Fatal("an update that fixes the channels did not complete the recording")
	}
	eeg.Version = 4 // a further update of a processed recording: no second completion
	if got := completions(l, eeg); len(got) != 0 {
		t.Fatalf("second completion %v", got)
	}
}

func TestLedger_DeletedSignalStopsCounting(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(rec, "eeg", eegChannels, 1)
	completions(l, eeg)
	if out := l.Delete(eeg.ID, 2); !out.Changed || !out.Signal.Deleted || out.Signal.Recording != rec {
		t.Fatalf("delete outcome %+v", out)
	}
	if got := completions(l, sig(rec, "accelerometer", accChannels, 3)); len(got) != 0 {
		t.Fatal("a deleted eeg signal still counted")
	}
}

func TestLedger_ReplayedOlderChangesAreIgnored(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(rec, "eeg", eegChannels, 5)
	completions(l, eeg)
	l.Delete(eeg.ID, 6)
	// A redelivered create from before the delete must not bring the signal back.
	if out := l.Upsert(eeg); out.Changed {
		t.Fatal("an older create overwrote a newer delete")
	}
	// Nor may a replayed create revive a signal whose delete came first.
	ghost := sig(rec, "eeg", eegChannels, 7)
	l.Delete(ghost.ID, 8)
	if got := completions(l, ghost, sig(rec, "accelerometer", accChannels, 9)); len(got) != 0 {
		t.Fatalf("completed with deleted signals: %v", got)
	}
}

// A processed recording cannot complete again, so a signal the ledger does not know is
// ignored there (stores do not keep such signals). A known one still moves: it must leave the
// recording it was in, which may be pending.
func TestLedger_ProcessedRecordingIgnoresOnlySignalsItDoesNotKnow(t *testing.T) {
	done, pending := uuid.New(), uuid.New()
	kept := sig(done, "eeg", eegChannels, 1)
	l := recording.NewLedger(recording.DefaultRule())
	l.Load(done, true, []recording.Signal{kept})
	if out := l.Upsert(sig(done, "accelerometer", accChannels, 2)); out.Changed || out.New || out.Completed != nil {
		t.Fatalf("unknown signal of a processed recording: %+v, want ignored", out)
	}

	moving := sig(pending, "eeg", eegChannels, 3)
	l.Load(pending, false, []recording.Signal{moving})
	moved := moving
	moved.Recording, moved.Version = done, 4
	if out := l.Upsert(moved); !out.Changed || out.New {
		t.Fatalf("known signal moving into a processed recording: %+v, want applied", out)
	}
	if _, still := l.Recording(pending).Signals[moving.ID]; still {
		t.Fatal("the moved signal is still counted in the recording it left")
	}
	kept.Version = 5
	if out := l.Upsert(kept); !out.Changed {
		t.Fatalf("update of a known signal of a processed recording: %+v, want applied", out)
	}
}

func TestLedger_ChoiceAmongQualifyingSignalsIsTheLowestID(t *testing.T) {
	rec := uuid.New()
	eegs := []recording.Signal{sig(rec, "eeg", eegChannels, 1), sig(rec, "eeg", eegChannels, 2), sig(rec, "eeg", eegChannels, 3)}
	lowest := eegs[0]
	for _, s := range eegs {
		if string(s.ID[:]) < string(lowest.ID[:]) {
			lowest = s
		}
	}
	for range 20 {
		rand.Shuffle(len(eegs), func(i, j int) { eegs[i], eegs[j] = eegs[j], eegs[i] })
		l := recording.NewLedger(recording.DefaultRule())
		completions(l, eegs...)
		got := completions(l, sig(rec, "accelerometer", accChannels, 4))
		if len(got) != 1 || got[0].EEGSignal != lowest.ID {
			t.Fatalf("chose %v, want the lowest id %s", got, lowest.ID)
		}
	}
}

func TestLedger_LoadedProcessedRecordingDoesNotCompleteAgain(t *testing.T) {
	rec := uuid.New()
	eeg := sig(rec, "eeg", eegChannels, 1)
	l := recording.NewLedger(recording.DefaultRule())
	l.Load(rec, true, []recording.Signal{eeg})
	if got := completions(l, sig(rec, "accelerometer", accChannels, 2)); len(got) != 0 {
		t.Fatalf("a processed recording completed again: %v", got)
	}
}

func TestLedger_DeleteFindsTheRecordingOfALoadedSignal(t *testing.T) {
	rec := uuid.New()
	eeg := sig(rec, "eeg", eegChannels, 1)
	l := recording.NewLedger(recording.DefaultRule())
	l.Load(rec, false, []recording.Signal{eeg})
	if out := l.Delete(eeg.ID, 2); out.Signal.Recording != rec || out.New {
		t.Fatalf("delete of a loaded signal: %+v", out)
	}
	if out := l.Delete(uuid.New(), 3); !out.New || out.Signal.Recording != uuid.Nil {
		t.Fatalf("delete of an unknown signal: %+v", out)
	}
}

func TestRule_IsData(t *testing.T) {
	rule := recording.Rule{
		EEG:           recording.Requirement{SensorType: "eeg", Channels: []string{"c3"}},
		Accelerometer: recording.Requirement{SensorType: "imu", Channels: []string{"x"}},
	}
	rec := uuid.New()
	l := recording.NewLedger(rule)
	if got := completions(l, sig(rec, "eeg", []string{"c3", "c4"}, 1), sig(rec, "imu", []string{"x"}, 2)); len(got) != 1 {
		t.Fatalf("a custom rule did not apply: %v", got)
	}
}

func TestLedger_MissingNamesTheRolesNoValidPresentSignalFills(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	check := func(when string, want ...string) {
		t.Helper()
		if got := l.Missing(rec); !slices.Equal(got, want) {
			t.Fatalf("%s: missing %v, want %v", when, got, want)
		}
	}
	check("unknown recording", "eeg", "accelerometer")
	eeg := sig(rec, "eeg", eegChannels, 1)
	completions(l, eeg)
	check("with its eeg signal", "accelerometer")
	short := sig(rec, "accelerometer", []string{"x", "y"}, 2)
	completions(l, short)
	check("with an accelerometer signal short of a channel", "accelerometer")
	l.Delete(eeg.ID, 3)
	check("with its eeg signal deleted", "eeg", "accelerometer")
	completions(l, sig(rec, "eeg", eegChannels, 4), sig(rec, "accelerometer", accChannels, 5))
	check("complete")
}

// A signal moves from x to y, then from y to z. On a topic keyed by recording the three
// recordings' changes travel on their own partitions, and z's may be read before y's: y, which
// had the signal and an accelerometer between the two moves, was complete then, and is
// completed when its change is read. Before, that change was ignored as older than the
// signal's state (in z), and y was never processed.
func TestLedger_ARecordingASignalPassedThroughCompletesWhenReadAfterItsNextMove(t *testing.T) {
	x, y, z := uuid.New(), uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	acc := sig(y, "accelerometer", accChannels, 1)
	eeg := sig(x, "eeg", eegChannels, 2)
	completions(l, acc, eeg)
	inZ, inY := eeg, eeg
	inZ.Recording, inZ.Version = z, 4 // z's partition: the second move's new half
	inY.Recording, inY.Version = y, 3 // y's partition, read after: the first move's new half
	if out := l.Upsert(inZ); !out.Changed || out.Completed != nil {
		t.Fatalf("the move to z: %+v", out)
	}
	out := l.Upsert(inY)
	if out.Changed || out.Completed == nil || out.Completed.Recording != y || out.Completed.EEGSignal != eeg.ID || out.Completed.AccelerometerSignal != acc.ID {
		t.Fatalf("y's change read late: %+v, want y completed and the signal left in z", out)
	}
	if out := l.Delete(eeg.ID, 4); out.Changed { // y's partition: the second move's old half
		t.Fatalf("the old half of the move to z: %+v, want it ignored", out)
	}
	if got := completions(l, sig(z, "accelerometer", accChannels, 5)); len(got) != 1 || got[0].Recording != z || got[0].EEGSignal != eeg.ID {
		t.Fatalf("z with the signal and an accelerometer: %v", got)
	}
}

// A recording judged from a change read late counts only its signals that are no newer than
// that change: one it gained after the signal had left (known already when the change is
// replayed) cannot make it complete.
func TestLedger_ARecordingJudgedLateCountsOnlyWhatItHadThen(t *testing.T) {
	x, y, z := uuid.New(), uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(x, "eeg", eegChannels, 2)
	inY, inZ := eeg, eeg
	inY.Recording, inY.Version = y, 3
	inZ.Recording, inZ.Version = z, 4
	if got := completions(l, eeg, inY, inZ); len(got) != 0 {
		t.Fatalf("completed %v", got)
	}
	l.Delete(eeg.ID, 4)                                                                // y's old half, ignored
	if got := completions(l, sig(y, "accelerometer", accChannels, 5)); len(got) != 0 { // y gains one after the signal left
		t.Fatalf("y completed with a signal it had left: %v", got)
	}
	if got := completions(l, inY); len(got) != 0 { // y's change replayed
		t.Fatalf("a replay completed y with what it gained later: %v", got)
	}
}
