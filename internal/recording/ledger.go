package recording

import (
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Signal is what the rule needs to know of one signal row, as it is (or was) in one recording.
type Signal struct {
	ID         uuid.UUID
	Recording  uuid.UUID
	SensorType string
	Channels   []string
	SampleType string
	// Version is the source position (Postgres LSN) of the change that last set this signal
	// in Recording.
	Version int64
	// Deleted marks a tombstone: the row left Recording at Version, deleted or moved to
	// another recording.
	Deleted bool
}

// State is what is known of one recording: its signals, each as the recording's own changes
// last set it.
type State struct {
	Signals map[uuid.UUID]Signal
	// Processed is set once process_record has run for the recording.
	Processed bool
	// sweptAt is the position of the last snapshot the recording was swept for (Ledger.Sweep).
	sweptAt int64
}

// Ledger holds the state of the recordings it was given or has seen. It is not safe for
// concurrent use; stores own one per transaction (Postgres) or behind a lock (memory).
//
// A signal's state is kept per recording it was in: the pair (recording, signal) is set only
// by changes that name that recording, a signal that moves leaves a tombstone where it was,
// and each recording is judged on its own pairs. The topic is keyed by recording, so one
// recording's changes are read in order and its pairs are always its state as of the change
// being applied, however the partitions of other recordings (where its signals went) are read
// against it. That needs every delete and update to name the recording its old row was in,
// which REPLICA IDENTITY FULL on the source table gives. Without it, a delete or a move
// names only the signal, and is applied to every recording that has the signal
// (deleteElsewhere): read ahead of a recording's earlier changes, it takes the signal from
// the recording before they are judged.
type Ledger struct {
	rule       Rule
	recordings map[uuid.UUID]*State
	// in lists, by signal, the recordings that have a pair of it: for deletes whose row does
	// not say its recording, and updates that may have moved a signal without saying from
	// where (REPLICA IDENTITY DEFAULT). Built when one first needs it, kept up after.
	in map[uuid.UUID][]uuid.UUID
	// truncates are the positions of the source table's truncates, ascending.
	truncates []int64
	// changed are the pairs the ledger changed, for the store to write, when it tracks them
	// (TrackChanges).
	changed map[pair]bool
	// judged is the slice of present signals Upsert judges a recording on, reused.
	judged []Signal
	// judgements counts Upsert's judgements of a recording on all its signals (tests).
	judgements int
}

type pair struct{ recording, signal uuid.UUID }

// NewLedger returns an empty ledger deciding with rule.
func NewLedger(rule Rule) *Ledger {
	return &Ledger{rule: rule, recordings: map[uuid.UUID]*State{}}
}

// TrackChanges makes the ledger note the pairs it changes from now on, for Changed: a store
// that writes what changed, with a ledger for one batch (a ledger that lives on would note
// every pair it ever changed).
func (l *Ledger) TrackChanges() {
	l.changed = map[pair]bool{}
}

// Load adds what a store knows of a recording before changes are applied. Signals of
// uuid.Nil are the tombstones of deletes that did not say their recording.
func (l *Ledger) Load(recording uuid.UUID, processed bool, signals []Signal) {
	st := l.state(recording)
	st.Processed = st.Processed || processed
	for _, s := range signals {
		l.set(st, s)
	}
}

// LoadTruncates adds the positions of truncates of the source table a store knows of.
func (l *Ledger) LoadTruncates(positions ...int64) {
	for _, p := range positions {
		if i, found := slices.BinarySearch(l.truncates, p); !found {
			l.truncates = slices.Insert(l.truncates, i, p)
		}
	}
}

// Truncate applies a truncate of the source table at version: every signal set before it is
// gone from then on. The pairs keep their state: a recording judged at a change older than
// the truncate (one another partition held back) still counts them. It reports whether the
// ledger did not know of the truncate yet.
func (l *Ledger) Truncate(version int64) bool {
	_, known := slices.BinarySearch(l.truncates, version)
	l.LoadTruncates(version)
	return !known
}

// Recording returns the state of a recording, or nil if the ledger knows nothing of it.
func (l *Ledger) Recording(recording uuid.UUID) *State {
	return l.recordings[recording]
}

// Empty reports whether none of the recording's signals is present now: each was deleted,
// moved to another recording, or truncated. A recording with no signal waits for none.
func (l *Ledger) Empty(recording uuid.UUID) bool {
	if st := l.recordings[recording]; st != nil {
		for _, s := range st.Signals {
			if !s.Deleted && !l.truncated(s.Version, math.MaxInt64) {
				return false
			}
		}
	}
	return true
}

// Missing returns what a recording lacks for the rule now (Rule.Missing of its present
// signals): every role for a recording the ledger knows nothing of.
func (l *Ledger) Missing(recording uuid.UUID) []string {
	var signals []Signal
	if st := l.recordings[recording]; st != nil {
		signals = l.present(st, math.MaxInt64)
	}
	return l.rule.Missing(signals)
}

// Changed returns the pairs the ledger changed since TrackChanges, each in its state now.
func (l *Ledger) Changed() []Signal {
	out := make([]Signal, 0, len(l.changed))
	for p := range l.changed {
		out = append(out, l.recordings[p.recording].Signals[p.signal])
	}
	return out
}

func (l *Ledger) state(recording uuid.UUID) *State {
	st, ok := l.recordings[recording]
	if !ok {
		st = &State{Signals: map[uuid.UUID]Signal{}}
		l.recordings[recording] = st
	}
	return st
}

// set puts s in st, the state of s's recording.
func (l *Ledger) set(st *State, s Signal) {
	if _, known := st.Signals[s.ID]; !known && l.in != nil {
		l.in[s.ID] = append(l.in[s.ID], s.Recording)
	}
	st.Signals[s.ID] = s
}

// change sets s in st and notes the pair as changed.
func (l *Ledger) change(st *State, s Signal) {
	l.set(st, s)
	if l.changed != nil {
		l.changed[pair{s.Recording, s.ID}] = true
	}
}

// Outcome is what applying one change did.
type Outcome struct {
	// Changed is false when the change left the pair as it was: no newer than what the ledger
	// had (a redelivery or a replay), of an unknown signal of a processed recording, or older
	// than a delete of the signal that did not say its recording.
	Changed bool
	// Signal is the pair's state after the change.
	Signal Signal
	// Completed is set when this change made the recording complete for the first time.
	Completed *Complete

	// prior is the pair's state before an Upsert that changed it, when it had one and it was
	// not deleted (hasPrior).
	prior    Signal
	hasPrior bool
}

// Invalid says why the change left the signal with values that can never qualify (Validate),
// when it did and they could before: the signal was new (or deleted), or valid until this
// update. It is nil for a change that leaves an invalid signal invalid, so a signal is
// reported once each time it goes bad, not for every change of it.
func (o Outcome) Invalid() error {
	if !o.Changed || o.Signal.Deleted {
		return nil
	}
	err := Validate(o.Signal)
	if err == nil || o.hasPrior && Validate(o.prior) != nil {
		return nil
	}
	return err
}

// Upsert applies a created, snapshot-read or updated signal to its pair, and, when the signal
// can fill a role now (Rule.Qualifies: no other change can complete its recording), judges its
// recording as of the change: on the recording's present signals, none of them truncated
// between its own change and this one.
//
// A signal the ledger does not know in a recording already processed is ignored: it cannot
// change the outcome, so a store need not keep a processed recording's signals that it did
// not already have.
//
// With moved set, the change may have taken the signal from another recording without
// saying which (an update whose event has no old row): every other recording's pair of the
// signal older than the change is deleted at its position, and the move is remembered as a
// delete that did not say its recording is, so that an older change of the signal, read
// later from another recording's partition, cannot put it back where it was.
func (l *Ledger) Upsert(s Signal, moved bool) Outcome {
	if moved {
		// Whatever becomes of the change here (its recording may be processed, or the
		// signal deleted since), the signal left where it was.
		l.deleteElsewhere(s.ID, s.Recording, s.Version)
		l.leftAt(s.ID, s.Version)
	}
	if blind, ok := l.recordings[uuid.Nil].lookup(s.ID); ok && blind.Version > s.Version {
		// Deleted since, by a delete that did not say where from. (At the same position the
		// delete is the old half of this change, which moved the signal here.)
		return Outcome{Signal: blind}
	}
	st := l.state(s.Recording)
	old, known := st.Signals[s.ID]
	if known && old.Version >= s.Version || !known && st.Processed {
		return Outcome{Signal: old}
	}
	s.Deleted = false
	l.change(st, s)
	out := Outcome{Changed: true, Signal: s, prior: old, hasPrior: known && !old.Deleted}
	// A change that leaves its signal unable to fill a role cannot complete the recording: not
	// judged, it costs nothing however many signals the recording has (judging each change
	// on all of them made a recording of 20,000 ppg rows cost the square of that).
	if !st.Processed && l.rule.Qualifies(s) {
		l.judgements++
		// Evaluate keeps nothing of the slice: one serves every judgement.
		l.judged = l.presentInto(l.judged[:0], st, s.Version)
		if c, ok := l.rule.Evaluate(s.Recording, l.judged); ok {
			st.Processed = true
			out.Completed = &c
		}
	}
	return out
}

// Delete applies the deletion of signal id from recording at version: a row deleted, or the
// old half of a move to another recording (with the topic keyed by recording, Debezium sends
// a move as a delete under the old recording and a create under the new one, each on its
// recording's partition).
//
// A delete of recording uuid.Nil did not say its recording (a placeholder row: REPLICA
// IDENTITY DEFAULT): it deletes the signal from every recording that has it, older than
// version, and is remembered, so that an older change of the signal read later cannot bring
// it back.
func (l *Ledger) Delete(recording, id uuid.UUID, version int64) Outcome {
	st := l.state(recording)
	old, known := st.Signals[id]
	if known && old.Version >= version || !known && st.Processed {
		return Outcome{Signal: old}
	}
	if recording == uuid.Nil {
		l.deleteElsewhere(id, uuid.Nil, version)
	}
	tomb := Signal{ID: id, Recording: recording, Version: version, Deleted: true}
	if known {
		tomb = old
		tomb.Version, tomb.Deleted = version, true
	}
	l.change(st, tomb)
	return Outcome{Changed: true, Signal: tomb}
}

// leftAt remembers that signal id was in no recording but the one a change at version named:
// a tombstone in the nil recording, as a delete that does not say its recording leaves, which
// Upsert checks. (A change of the signal at version itself is the one that moved it.)
func (l *Ledger) leftAt(id uuid.UUID, version int64) {
	st := l.state(uuid.Nil)
	if old, known := st.Signals[id]; known && old.Version >= version {
		return
	}
	l.change(st, Signal{ID: id, Recording: uuid.Nil, Version: version, Deleted: true})
}

// deleteElsewhere deletes signal id at version from every recording but keep whose pair of
// it is older and present.
func (l *Ledger) deleteElsewhere(id, keep uuid.UUID, version int64) {
	if l.in == nil {
		l.in = map[uuid.UUID][]uuid.UUID{}
		for rec, st := range l.recordings {
			for sig := range st.Signals {
				l.in[sig] = append(l.in[sig], rec)
			}
		}
	}
	for _, rec := range l.in[id] {
		if rec == keep || rec == uuid.Nil {
			continue
		}
		st := l.recordings[rec]
		if s := st.Signals[id]; !s.Deleted && s.Version < version {
			s.Version, s.Deleted = version, true
			l.change(st, s)
		}
	}
}

func (st *State) lookup(id uuid.UUID) (Signal, bool) {
	if st == nil {
		return Signal{}, false
	}
	s, ok := st.Signals[id]
	return s, ok
}

// present returns st's signals present at position at: not deleted, and not truncated after
// they were set and at or before at.
func (l *Ledger) present(st *State, at int64) []Signal {
	return l.presentInto(make([]Signal, 0, len(st.Signals)), st, at)
}

// presentInto is present appending to out.
func (l *Ledger) presentInto(out []Signal, st *State, at int64) []Signal {
	for _, s := range st.Signals {
		if !s.Deleted && !l.truncated(s.Version, at) {
			out = append(out, s)
		}
	}
	return out
}

// truncated reports whether a truncate lies after version and at or before at.
func (l *Ledger) truncated(version, at int64) bool {
	i, found := slices.BinarySearch(l.truncates, version)
	if found {
		i++ // a truncate at the signal's own position is not after it
	}
	return i < len(l.truncates) && l.truncates[i] <= at
}

// Change is one change to a signal as the source reported it.
type Change struct {
	// Signal is the signal after the change. For a delete only ID, Recording (the recording
	// it left; uuid.Nil when the source did not say) and Version are meaningful.
	Signal Signal
	// Delete marks the signal's deletion from Signal.Recording.
	Delete bool
	// Moved marks an update that may have moved the signal from another recording it does not
	// name (see Ledger.Upsert).
	Moved bool
	// At is when the change was committed in the source.
	At time.Time
}

// Newest is the latest commit time of changes, zero for none: how far a batch of them takes
// its partition (the stores' partition progress).
func Newest(changes []Change) time.Time {
	var newest time.Time
	for _, c := range changes {
		if c.At.After(newest) {
			newest = c.At
		}
	}
	return newest
}

// Apply applies one change.
func (l *Ledger) Apply(c Change) Outcome {
	if c.Delete {
		return l.Delete(c.Signal.Recording, c.Signal.ID, c.Signal.Version)
	}
	return l.Upsert(c.Signal, c.Moved)
}

// Sweep applies the start of a snapshot of the whole table at version to a recording whose
// changes come through the partition the snapshot starts on (dispatch.Store.Snapshot): every
// signal of it set before version is deleted just before it (at version-1, which no change
// can have: WAL positions are 8-byte aligned), and the snapshot's own row of it, read next,
// brings it back. A snapshot sends the rows there are, not the deletes that happened before
// it: after a gap in the capture (a replication slot lost, then the table read again), a
// signal deleted in the gap would otherwise still count, and complete its recording with a
// row that no longer exists. A transaction in flight when the snapshot was taken is streamed
// after it, with positions before it: what it inserted is applied as it comes, after the
// sweep. A processed recording is left as it is (nothing can change its outcome), and a
// recording is swept once for a snapshot: again, it would delete what such a transaction
// brought since.
func (l *Ledger) Sweep(recording uuid.UUID, version int64) {
	st := l.recordings[recording]
	if st == nil || st.Processed || st.sweptAt >= version {
		return
	}
	st.sweptAt = version
	for _, old := range st.Signals {
		if !old.Deleted && old.Version < version {
			old.Version, old.Deleted = version-1, true
			l.change(st, old)
		}
	}
}

// Applied is what applying a batch of changes did.
type Applied struct {
	// Completed are the recordings that became complete, in the order they did.
	Completed []Complete
	// Invalid are signals whose values can never qualify, each reported when it went bad
	// (Outcome.Invalid).
	Invalid []Invalid
	// Ignored counts changes that could change nothing: no newer than the state they met, or
	// of a signal not known to a recording already processed (redeliveries and replays, and
	// signals that come late).
	Ignored int
}

// Invalid is a signal whose values can never qualify, and why.
type Invalid struct {
	Signal Signal
	Err    error
}

// Incomplete is a recording still incomplete long after its first signal.
type Incomplete struct {
	Recording uuid.UUID
	FirstSeen time.Time
	// Missing is what it lacks (Rule.Missing): the sensor types of the roles no valid signal
	// of it fills.
	Missing []string
}
