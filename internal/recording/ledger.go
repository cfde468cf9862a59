package recording

import (
	"time"

	"github.com/google/uuid"
)

// Signal is what the rule needs to know of one signal row.
type Signal struct {
	ID         uuid.UUID
	Recording  uuid.UUID
	SensorType string
	Channels   []string
	SampleType string
	// Version is the source position (Postgres LSN) of the change that last set this signal.
	Version int64
	// Deleted marks a tombstone: the row was deleted at Version.
	Deleted bool
}

// State is what is known of one recording.
type State struct {
	Signals map[uuid.UUID]Signal
	// Processed is set once process_record has run for the recording.
	Processed bool
}

// Empty reports whether none of the recording's signals is present: each was deleted, or moved
// to another recording. A recording with no signal is not waiting for any.
func (st *State) Empty() bool {
	for _, s := range st.Signals {
		if !s.Deleted {
			return false
		}
	}
	return true
}

// Ledger holds the state of the recordings it was given or has seen. It is not safe for
// concurrent use; stores own one per transaction (Postgres) or behind a lock (memory).
type Ledger struct {
	rule       Rule
	recordings map[uuid.UUID]*State
	// owner maps a signal to its recording, for deletes that carry only the signal's ID.
	owner map[uuid.UUID]uuid.UUID
}

// NewLedger returns an empty ledger deciding with rule.
func NewLedger(rule Rule) *Ledger {
	return &Ledger{rule: rule, recordings: map[uuid.UUID]*State{}, owner: map[uuid.UUID]uuid.UUID{}}
}

// Load adds what a store knows of a recording before changes are applied.
func (l *Ledger) Load(recording uuid.UUID, processed bool, signals []Signal) {
	st := l.state(recording)
	st.Processed = st.Processed || processed
	for _, s := range signals {
		st.Signals[s.ID] = s
		l.owner[s.ID] = recording
	}
}

// Recording returns the state of a recording, or nil if the ledger knows nothing of it.
func (l *Ledger) Recording(recording uuid.UUID) *State {
	return l.recordings[recording]
}

// Missing returns what a recording lacks for the rule (Rule.Missing of its present signals):
// every role for a recording the ledger knows nothing of.
func (l *Ledger) Missing(recording uuid.UUID) []string {
	var signals []Signal
	if st := l.recordings[recording]; st != nil {
		signals = present(st)
	}
	return l.rule.Missing(signals)
}

func (l *Ledger) state(recording uuid.UUID) *State {
	st, ok := l.recordings[recording]
	if !ok {
		st = &State{Signals: map[uuid.UUID]Signal{}}
		l.recordings[recording] = st
	}
	return st
}

// Outcome is what applying one change did.
type Outcome struct {
	// Changed is false when the change left the signal's state as it was: no newer than what
	// the ledger had (a redelivery or a replay), of an unknown signal of a processed
	// recording, or from a recording the signal has left since (see Upsert), which may still
	// complete that recording.
	Changed bool
	// New is true when the signal was unknown before this change.
	New bool
	// Signal is the signal's state after the change.
	Signal Signal
	// Completed is set when this change made the recording complete for the first time.
	Completed *Complete

	// prior is the signal's state before an Upsert that changed it, when it had one and it
	// was not deleted (hasPrior).
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

// Upsert applies a created, snapshot-read or updated signal.
//
// A signal the ledger does not know, of a recording already processed, is ignored: it cannot
// change the outcome, so a store need not keep a processed recording's signals that it did
// not already have. A known signal is always applied, so that one which moves into a processed
// recording leaves the recording it was in.
//
// A change at the version of a tombstone is applied: an update that moves a signal to another
// recording changes its Kafka key (the recording), so Debezium sends it as a delete under the
// old key and a create under the new one, both at the update's position (see Delete).
//
// A change older than the signal's state, naming another recording than that state's, is
// history read late: the signal has moved on since (the topic is keyed by recording, so the
// partition of the recording it moved to may be read ahead of this one's). The signal's state
// stays as it is, but while this change held, the signal was in this recording, which is
// judged as of then (see asOf) and may have been complete.
func (l *Ledger) Upsert(s Signal) Outcome {
	st := l.state(s.Recording)
	old, known := l.lookup(s.ID)
	if known && old.Version > s.Version && old.Recording != s.Recording {
		return l.asOf(st, s, old)
	}
	if known && (old.Version > s.Version || old.Version == s.Version && !old.Deleted) {
		return Outcome{Signal: old}
	}
	if !known && st.Processed {
		return Outcome{}
	}
	if known && old.Recording != s.Recording {
		delete(l.recordings[old.Recording].Signals, s.ID) // the row moved to another recording
	}
	s.Deleted = false
	st.Signals[s.ID] = s
	l.owner[s.ID] = s.Recording
	out := Outcome{Changed: true, New: !known, Signal: s, prior: old, hasPrior: known && !old.Deleted}
	if !st.Processed {
		if c, ok := l.rule.Evaluate(s.Recording, present(st)); ok {
			st.Processed = true
			out.Completed = &c
		}
	}
	return out
}

// asOf judges st, the recording s names, with s among its signals as s was, and with those of
// its other signals that are no newer than s: its state when s was made. On a topic keyed by
// recording, the recording's own changes are read in order, so its other signals are as they
// were then; on a replay its later changes may be known already, and are left out, so that a
// signal it gained only after s's signal had left cannot make it complete. The signal's own
// state, old (newer, in another recording), is not changed.
func (l *Ledger) asOf(st *State, s, old Signal) Outcome {
	out := Outcome{Signal: old}
	if st.Processed {
		return out
	}
	then := []Signal{s}
	for _, other := range present(st) {
		if other.ID != s.ID && other.Version <= s.Version {
			then = append(then, other)
		}
	}
	if c, ok := l.rule.Evaluate(s.Recording, then); ok {
		st.Processed = true
		out.Completed = &c
	}
	return out
}

// Delete applies the deletion of signal id at version. A signal the ledger never saw is
// remembered as a tombstone without a recording, so a replayed create cannot revive it. A
// delete at the version the signal already has is ignored: it is the old key's half of a
// move to another recording whose new half came first (the two halves travel on the two
// recordings' partitions, in either order), or a redelivery.
func (l *Ledger) Delete(id uuid.UUID, version int64) Outcome {
	old, known := l.lookup(id)
	if known && old.Version >= version {
		return Outcome{Signal: old}
	}
	tomb := Signal{ID: id, Version: version, Deleted: true}
	if known {
		tomb = old
		tomb.Version, tomb.Deleted = version, true
	}
	l.state(tomb.Recording).Signals[id] = tomb
	l.owner[id] = tomb.Recording
	return Outcome{Changed: true, New: !known, Signal: tomb}
}

func (l *Ledger) lookup(id uuid.UUID) (Signal, bool) {
	rec, ok := l.owner[id]
	if !ok {
		return Signal{}, false
	}
	s, ok := l.recordings[rec].Signals[id]
	return s, ok
}

func present(st *State) []Signal {
	out := make([]Signal, 0, len(st.Signals))
	for _, s := range st.Signals {
		if !s.Deleted {
			out = append(out, s)
		}
	}
	return out
}

// Change is one change to a signal as the source reported it.
type Change struct {
	// Signal is the signal after the change; for a delete only ID and Version are meaningful.
	Signal Signal
	// Delete marks the signal's deletion.
	Delete bool
	// At is when the change was committed in the source.
	At time.Time
}

// Apply applies one change.
func (l *Ledger) Apply(c Change) Outcome {
	if c.Delete {
		return l.Delete(c.Signal.ID, c.Signal.Version)
	}
	return l.Upsert(c.Signal)
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
