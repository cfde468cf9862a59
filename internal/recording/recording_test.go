package recording_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

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
		if c := l.Upsert(s, false).Completed; c != nil {
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
	if out := l.Delete(rec, eeg.ID, 2); !out.Changed || !out.Signal.Deleted || out.Signal.Recording != rec {
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
	l.Delete(rec, eeg.ID, 6)
	// A redelivered create from before the delete must not bring the signal back.
	if out := l.Upsert(eeg, false); out.Changed {
		t.Fatal("an older create overwrote a newer delete")
	}
	// Nor may a replayed create revive a signal whose delete came first.
	ghost := sig(rec, "eeg", eegChannels, 7)
	l.Delete(rec, ghost.ID, 8)
	if got := completions(l, ghost, sig(rec, "accelerometer", accChannels, 9)); len(got) != 0 {
		t.Fatalf("completed with deleted signals: %v", got)
	}
}

// A processed recording cannot complete again, so a signal the ledger does not know is
// ignored there (stores do not keep such signals), the new half of a move into it too. The
// old half of that move still applies where the signal was, which may be pending.
func TestLedger_ProcessedRecordingIgnoresOnlySignalsItDoesNotKnow(t *testing.T) {
	done, pending := uuid.New(), uuid.New()
	kept := sig(done, "eeg", eegChannels, 1)
	l := recording.NewLedger(recording.DefaultRule())
	l.Load(done, true, []recording.Signal{kept})
	if out := l.Upsert(sig(done, "accelerometer", accChannels, 2), false); out.Changed || out.Completed != nil {
		t.Fatalf("unknown signal of a processed recording: %+v, want ignored", out)
	}

	moving := sig(pending, "eeg", eegChannels, 3)
	l.Load(pending, false, []recording.Signal{moving})
	moved := moving
	moved.Recording, moved.Version = done, 4
	if out := l.Upsert(moved, false); out.Changed {
		t.Fatalf("new half of a move into a processed recording: %+v, want ignored", out)
	}
	if out := l.Delete(pending, moving.ID, 4); !out.Changed || !l.Empty(pending) {
		t.Fatalf("old half of the move: %+v, want the signal gone from the recording it left", out)
	}
	kept.Version = 5
	if out := l.Upsert(kept, false); !out.Changed {
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

// A delete whose row does not say its recording (REPLICA IDENTITY DEFAULT) deletes the
// signal wherever it is, and keeps an older change of it read later from bringing it back.
func TestLedger_DeleteWithoutItsRecordingFindsTheSignalWhereverItIs(t *testing.T) {
	rec := uuid.New()
	eeg := sig(rec, "eeg", eegChannels, 1)
	l := recording.NewLedger(recording.DefaultRule())
	l.TrackChanges()
	l.Load(rec, false, []recording.Signal{eeg})
	if out := l.Delete(uuid.Nil, eeg.ID, 2); !out.Changed || !l.Empty(rec) {
		t.Fatalf("delete of a loaded signal: %+v, want it gone from %s", out, rec)
	}
	changed := l.Changed()
	if len(changed) != 2 {
		t.Fatalf("changed %+v, want the signal's pair in %s and the delete's own", changed, rec)
	}
	ghost := sig(rec, "eeg", eegChannels, 3)
	if out := l.Delete(uuid.Nil, ghost.ID, 4); !out.Changed || out.Signal.Recording != uuid.Nil {
		t.Fatalf("delete of an unknown signal: %+v", out)
	}
	if got := completions(l, ghost, sig(rec, "accelerometer", accChannels, 5)); len(got) != 0 {
		t.Fatalf("a signal deleted before its create was read completed %v", got)
	}
}

// An update whose event has no old row may have moved its signal: the signal leaves any other
// recording it was in before the update.
func TestLedger_AnUpdateThatMayHaveMovedTheSignalTakesItFromWhereItWas(t *testing.T) {
	from, to := uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(from, "eeg", eegChannels, 1)
	completions(l, eeg)
	moved := eeg
	moved.Recording, moved.Version = to, 2
	l.Upsert(moved, true)
	if !l.Empty(from) {
		t.Fatalf("the signal still counts in %s, which it left", from)
	}
	if got := completions(l, sig(to, "accelerometer", accChannels, 3)); len(got) != 1 || got[0].EEGSignal != eeg.ID {
		t.Fatalf("completions %v, want %s with the moved signal", got, to)
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
	l.Delete(rec, eeg.ID, 3)
	check("with its eeg signal deleted", "eeg", "accelerometer")
	completions(l, sig(rec, "eeg", eegChannels, 4), sig(rec, "accelerometer", accChannels, 5))
	check("complete")
}

// move is the signal s moved to recording to at version: the old half, on the partition of
// the recording it leaves, and the new half, on the partition of to.
func move(s recording.Signal, to uuid.UUID, version int64) (gone, arrived recording.Change) {
	gone = recording.Change{Delete: true, Signal: recording.Signal{ID: s.ID, Recording: s.Recording, Version: version}}
	arrived = recording.Change{Signal: s}
	arrived.Signal.Recording, arrived.Signal.Version = to, version
	return gone, arrived
}

// applied applies changes in order and returns the recordings they completed.
func applied(l *recording.Ledger, changes ...recording.Change) []uuid.UUID {
	var out []uuid.UUID
	for _, c := range changes {
		if done := l.Apply(c).Completed; done != nil {
			out = append(out, done.Recording)
		}
	}
	return out
}

// A signal moves from x to y, then from y to z. On a topic keyed by recording the three
// recordings' changes travel on their own partitions, and z's may be read before y's: y, which
// had the signal and an accelerometer between the two moves, was complete then, and is
// completed when its changes are read.
func TestLedger_ARecordingASignalPassedThroughCompletesWhenReadAfterItsNextMove(t *testing.T) {
	x, y, z := uuid.New(), uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	acc := sig(y, "accelerometer", accChannels, 1)
	eeg := sig(x, "eeg", eegChannels, 2)
	completions(l, acc, eeg)
	leftX, intoY := move(eeg, y, 3)
	leftY, intoZ := move(intoY.Signal, z, 4)
	if got := applied(l, intoZ); len(got) != 0 { // z's partition first
		t.Fatalf("z completed without an accelerometer: %v", got)
	}
	if got := applied(l, intoY, leftY); !slices.Equal(got, []uuid.UUID{y}) { // then y's
		t.Fatalf("y's changes read late completed %v, want y", got)
	}
	if got := applied(l, leftX, recording.Change{Signal: sig(z, "accelerometer", accChannels, 5)}); !slices.Equal(got, []uuid.UUID{z}) {
		t.Fatalf("completed %v, want z, with the signal and an accelerometer", got)
	}
}

// A recording whose two signals both move away, each read first on the partition of the
// recording it went to, was complete before they left: it completes when its own partition
// is read. (Before signals were kept per recording, the two moves had taken both from it.)
func TestLedger_ARecordingWhoseSignalsBothMovedAwayCompletesWhenItsOwnChangesAreRead(t *testing.T) {
	y, x1, x2 := uuid.New(), uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := recording.Change{Signal: sig(y, "eeg", eegChannels, 1)}
	acc := recording.Change{Signal: sig(y, "accelerometer", accChannels, 2)}
	eegLeft, eegArrived := move(eeg.Signal, x1, 3)
	accLeft, accArrived := move(acc.Signal, x2, 4)
	if got := applied(l, eegArrived, accArrived); len(got) != 0 {
		t.Fatalf("completed %v with one signal each", got)
	}
	if got := applied(l, eeg, acc, eegLeft, accLeft); !slices.Equal(got, []uuid.UUID{y}) {
		t.Fatalf("y's own changes completed %v, want y", got)
	}
	if !l.Empty(y) {
		t.Fatal("y still counts the signals that left it")
	}
}

// A recording judged from a replayed change counts what it has now, not what it had then,
// only if the change is newer than its pair: a replay of a change it has applied changes
// nothing, so a signal it gained after another left cannot complete it.
func TestLedger_AReplayedChangeDoesNotJudgeItsRecordingAgain(t *testing.T) {
	x, y, z := uuid.New(), uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	eeg := sig(x, "eeg", eegChannels, 2)
	_, intoY := move(eeg, y, 3)
	leftY, intoZ := move(intoY.Signal, z, 4)
	if got := applied(l, recording.Change{Signal: eeg}, intoY, intoZ, leftY); len(got) != 0 {
		t.Fatalf("completed %v", got)
	}
	if got := completions(l, sig(y, "accelerometer", accChannels, 5)); len(got) != 0 { // y gains one after the signal left
		t.Fatalf("y completed with a signal it had left: %v", got)
	}
	if got := applied(l, intoY); len(got) != 0 { // y's change replayed
		t.Fatalf("a replay completed y with what it gained later: %v", got)
	}
}

// A truncate read before older changes that another partition held back: those changes are
// judged as of their own position, before the truncate, and their signals count for nothing
// after it.
func TestLedger_ATruncateReadEarlyForgetsNothingAnOlderChangeStillJudges(t *testing.T) {
	before, across := uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	l.Truncate(10)
	if got := completions(l, sig(before, "eeg", eegChannels, 1), sig(before, "accelerometer", accChannels, 2)); len(got) != 1 {
		t.Fatalf("a recording complete before the truncate, read after it: completed %v", got)
	}
	completions(l, sig(across, "eeg", eegChannels, 3))
	if !l.Empty(across) {
		t.Fatal("a signal from before the truncate still counts after it")
	}
	if got := completions(l, sig(across, "accelerometer", accChannels, 11)); len(got) != 0 {
		t.Fatalf("completed %v with an eeg signal from before the truncate", got)
	}
	if got := completions(l, sig(across, "eeg", eegChannels, 12)); len(got) != 1 {
		t.Fatal("signals from after the truncate did not complete the recording")
	}
}

// A ledger notes the pairs it changes only when asked (a store's ledger for one batch): one
// that lives on, as the memory store's does, would keep a note of every pair it ever changed.
func TestLedger_NotesChangesOnlyWhenAsked(t *testing.T) {
	rec := uuid.New()
	for _, track := range []bool{false, true} {
		l := recording.NewLedger(recording.DefaultRule())
		if track {
			l.TrackChanges()
		}
		completions(l, sig(rec, "eeg", eegChannels, 1), sig(rec, "accelerometer", accChannels, 2))
		if got := len(l.Changed()); track && got != 2 || !track && got != 0 {
			t.Fatalf("tracking %t: %d changes noted", track, got)
		}
	}
}

// Validate's answer does not depend on how many channels a signal has (up to a few it takes a
// quicker path).
func TestValidate_TheSameForManyChannelsAsForFew(t *testing.T) {
	many := make([]string, 40)
	for i := range many {
		many[i] = "c" + strconv.Itoa(i)
	}
	for _, channels := range [][]string{eegChannels, many} {
		ok := recording.Signal{SensorType: "eeg", Channels: channels, SampleType: "float32"}
		if err := recording.Validate(ok); err != nil {
			t.Fatalf("%d channels: %v", len(channels), err)
		}
		for _, bad := range [][]string{
			append(slices.Clone(channels), channels[0]),
			append(slices.Clone(channels), " "+channels[1]),
			append(slices.Clone(channels), ""),
		} {
			s := ok
			s.Channels = bad
			if recording.Validate(s) == nil {
				t.Fatalf("%d channels: %q passed", len(bad), bad)
			}
		}
		s := ok
		s.SampleType = "float16"
		if recording.Validate(s) == nil {
			t.Fatalf("%d channels: sample type float16 passed", len(channels))
		}
	}
}

// An empty channel name, which is also how a NULL element of the channels array decodes, is
// said to be either: `malformed channel name ""` hid a NULL from whoever read the log.
func TestValidate_SaysAnEmptyChannelNameMayBeANull(t *testing.T) {
	s := recording.Signal{SensorType: "accelerometer", Channels: []string{"", "x", "y", "z"}, SampleType: "float32"}
	if err := recording.Validate(s); err == nil || err.Error() != "an empty or NULL channel name" {
		t.Fatalf("Validate: %v", err)
	}
}

func BenchmarkLedger_ApplyNewRecordings(b *testing.B) {
	const n = 1000
	changes := make([]recording.Change, 0, 2*n)
	for i := range n {
		rec := uuid.New()
		changes = append(changes,
			recording.Change{Signal: sig(rec, "eeg", eegChannels, int64(2*i+1))},
			recording.Change{Signal: sig(rec, "accelerometer", accChannels, int64(2*i+2))})
	}
	b.ReportAllocs()
	for b.Loop() {
		l := recording.NewLedger(recording.DefaultRule())
		l.TrackChanges()
		for _, c := range changes {
			l.Apply(c)
		}
	}
}

// Changes that leave their signal unable to fill a role are not judged: a recording of
// thousands of other signals completes at the change that brings its last qualifying signal,
// as when every change was judged, and the others complete nothing, whatever they are
// (another sensor type, missing channels, invalid values, an update that spoils a qualifying
// signal).
func TestLedger_OnlyAChangeThatCanFillARoleCompletes(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	v := int64(0)
	next := func() int64 { v++; return v }
	eeg := sig(rec, "eeg", eegChannels, next())
	others := []recording.Signal{eeg}
	for range 2000 {
		others = append(others, sig(rec, "ppg", []string{"p"}, next()))
	}
	others = append(others, sig(rec, "accelerometer", []string{"x", "y"}, next()), // a channel missing
		sig(rec, "accelerometer", []string{"x", "x", "y", "z"}, next())) // invalid
	if got := completions(l, others...); len(got) != 0 {
		t.Fatalf("completed by signals that cannot fill the accelerometer's role: %+v", got)
	}
	if n := l.Judgements(); n != 1 { // the eeg's
		t.Fatalf("%d judgements of the recording on all its signals, want 1: only a change that can fill a role is judged", n)
	}
	acc := sig(rec, "accelerometer", accChannels, next())
	spoiled := acc
	spoiled.Channels, spoiled.Version = []string{"x"}, next()
	if got := completions(l, spoiled); len(got) != 0 { // its first change, already spoiled
		t.Fatalf("completed by a spoiled accelerometer: %+v", got)
	}
	mended := acc
	mended.Version = next()
	want := []recording.Complete{{Recording: rec, EEGSignal: eeg.ID, AccelerometerSignal: acc.ID}}
	if got := completions(l, mended); !slices.Equal(got, want) {
		t.Fatalf("the accelerometer mended: %+v, want %+v", got, want)
	}
}

// One recording of many signals that cannot fill a role, as a data service writing a
// recording's ppg samples as rows would: each change was judged on all the recording's
// signals, the square of their number (20,000 rows took 19 s to apply).
func BenchmarkLedger_ApplyOneRecordingOfManySignals(b *testing.B) {
	const n = 20000
	rec := uuid.New()
	changes := make([]recording.Change, 0, n)
	for i := range n {
		changes = append(changes, recording.Change{Signal: sig(rec, "ppg", []string{"p"}, int64(i+1))})
	}
	b.ReportAllocs()
	for b.Loop() {
		l := recording.NewLedger(recording.DefaultRule())
		for _, c := range changes {
			l.Apply(c)
		}
	}
}

// An update without its old row (REPLICA IDENTITY DEFAULT) that moved a signal, read from
// its new recording's partition before the signal's creation in the old one: the creation,
// older than the move, does not put it back where it was, and the old recording does not
// complete with it. Nor does a recording the signal passed through when two such moves are
// read backwards.
func TestLedger_AMoveReadAheadOfTheOldRecordingsChangesKeepsTheSignalOut(t *testing.T) {
	r, q, z := uuid.New(), uuid.New(), uuid.New()
	a := sig(r, "eeg", eegChannels, 1)
	into := func(rec uuid.UUID, version int64) recording.Signal {
		s := a
		s.Recording, s.Version = rec, version
		return s
	}
	l := recording.NewLedger(recording.DefaultRule())
	l.Upsert(into(q, 3), true) // q's partition first
	if out := l.Upsert(a, false); out.Changed {
		t.Errorf("the creation in r at 1 applied after the move to q at 3: %+v", out.Signal)
	}
	if c := l.Upsert(sig(r, "accelerometer", accChannels, 4), false).Completed; c != nil {
		t.Errorf("r completed with an eeg that had left it for q: %+v", *c)
	}

	l = recording.NewLedger(recording.DefaultRule())
	l.Upsert(into(z, 5), true) // z's partition first
	l.Upsert(into(q, 3), true)
	if c := l.Upsert(sig(q, "accelerometer", accChannels, 6), false).Completed; c != nil {
		t.Errorf("q completed at 6 with an eeg that had left it for z at 5: %+v", *c)
	}
	if c := l.Upsert(sig(z, "accelerometer", accChannels, 7), false).Completed; c == nil || c.EEGSignal != a.ID {
		t.Errorf("z, which has the eeg, not completed by its accelerometer: %+v", c)
	}
}

// snapshotRead is a row a snapshot of the whole table read at version.
func snapshotRead(s recording.Signal, version int64) recording.Change {
	s.Version = version
	return recording.Change{Signal: s}
}

// After a gap in the capture the table is read again by a snapshot, which sends the rows there
// are and nothing of the deletes of the gap. Swept for it first (as the store does for every
// recording of the snapshot's partition), a recording whose eeg the gap deleted is not
// completed with it, neither when the snapshot reads its other row nor by a change streamed
// after it; nor is one the snapshot does not read at all.
func TestLedger_ASweptRecordingCountsOnlyWhatTheSnapshotReads(t *testing.T) {
	read, unread := uuid.New(), uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	kept := sig(read, "ignore", []string{"a"}, 11)
	completions(l, sig(read, "eeg", eegChannels, 10), kept, sig(unread, "eeg", eegChannels, 12)) // both eegs deleted in the gap
	l.Sweep(read, 100)
	l.Sweep(unread, 100)
	if out := l.Apply(snapshotRead(kept, 100)); out.Completed != nil || !out.Changed {
		t.Fatalf("the snapshot's read of the kept row: %+v, want it applied, completing nothing", out)
	}
	if got := l.Missing(read); !slices.Equal(got, []string{"eeg", "accelerometer"}) {
		t.Fatalf("missing after the snapshot: %v, want eeg (deleted in the gap) and accelerometer", got)
	}
	if !l.Empty(unread) {
		t.Fatal("the recording the snapshot did not read still has a signal present")
	}
	for _, rec := range []uuid.UUID{read, unread} {
		if c := l.Apply(recording.Change{Signal: sig(rec, "accelerometer", accChannels, 120)}).Completed; c != nil {
			t.Fatalf("an accelerometer streamed after the snapshot completed %s with the deleted eeg: %+v", rec, c)
		}
	}
	eeg := sig(read, "eeg", eegChannels, 130)
	if c := l.Apply(recording.Change{Signal: eeg}).Completed; c == nil || c.EEGSignal != eeg.ID {
		t.Fatalf("a new eeg: completed %+v, want the recording with it", c)
	}
}

// A snapshot reads a recording's rows one by one: whichever it reads first, the recording
// completes once, at the last, with the rows read.
func TestLedger_ASweptRecordingCompletesOnceWhateverTheSnapshotReadsFirst(t *testing.T) {
	for _, eegFirst := range []bool{true, false} {
		rec := uuid.New()
		l := recording.NewLedger(recording.DefaultRule())
		eeg := sig(rec, "eeg", eegChannels, 10) // captured before the gap
		acc := sig(rec, "accelerometer", accChannels, 0)
		completions(l, eeg)
		l.Sweep(rec, 100)
		order := []recording.Signal{acc, eeg}
		if eegFirst {
			order = []recording.Signal{eeg, acc}
		}
		var got []*recording.Complete
		for _, s := range append(order, order...) { // and the batch redelivered
			if c := l.Apply(snapshotRead(s, 100)).Completed; c != nil {
				got = append(got, c)
			}
		}
		if len(got) != 1 || got[0].EEGSignal != eeg.ID || got[0].AccelerometerSignal != acc.ID {
			t.Errorf("eeg read first %v: completions %+v, want one, with both rows", eegFirst, got)
		}
	}
}

// A transaction in flight when the snapshot was taken is streamed after it, with positions
// before it: what it inserted counts, and sweeping again for the same snapshot (a batch
// redelivered) does not take it away.
func TestLedger_ARowOfATransactionInFlightAtTheSnapshotCounts(t *testing.T) {
	rec := uuid.New()
	l := recording.NewLedger(recording.DefaultRule())
	completions(l, sig(rec, "eeg", eegChannels, 11)) // deleted in the gap
	l.Sweep(rec, 100)
	inFlight := sig(rec, "eeg", eegChannels, 90)
	if out := l.Apply(recording.Change{Signal: inFlight}); !out.Changed {
		t.Fatalf("the in-flight transaction's eeg, streamed after the snapshot: ignored")
	}
	l.Sweep(rec, 100)
	if c := l.Apply(recording.Change{Signal: sig(rec, "accelerometer", accChannels, 120)}).Completed; c == nil || c.EEGSignal != inFlight.ID {
		t.Fatalf("completed %+v, want the recording with the in-flight transaction's eeg", c)
	}
}

func TestNewest_IsTheLatestCommitTimeOfTheChanges(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	changes := []recording.Change{{At: at.Add(time.Second)}, {At: at.Add(3 * time.Second)}, {At: at}}
	if got := recording.Newest(changes); !got.Equal(at.Add(3 * time.Second)) {
		t.Errorf("Newest = %v, want %v", got, at.Add(3*time.Second))
	}
	if got := recording.Newest(nil); !got.IsZero() {
		t.Errorf("Newest of none = %v, want zero", got)
	}
}
