// Package memstore keeps the dispatcher's state in process memory: the same semantics as
// internal/pgstore behind the same interfaces (dispatch.Store, dispatch.Watcher), for
// standalone mode, where there is no Postgres.
//
// A Store is a recording.Ledger behind a mutex. Apply runs a batch under the lock, so batches
// from different partitions are serialised as pgstore's advisory locks serialise them, and a
// batch either applies whole or (it cannot fail half-way) not at all. The Ledger ignores
// changes older than what it holds, so redelivered batches have no second effect, and a
// processed recording is never processed again.
//
// What it does not give: durability. Everything is lost when the process ends — pending
// recordings, processed recordings and the memory of what was processed — while the Kafka
// offsets may survive elsewhere. That is acceptable only where the broker is in the same
// process and dies with it (standalone mode).
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/recording"
)

// Store is the in-memory state of the dispatcher. It is safe for concurrent use. The zero
// value is not usable: call New.
type Store struct {
	mu     sync.Mutex
	ledger *recording.Ledger
	// pending holds recordings seen and not complete, with their first signal's time.
	pending   map[uuid.UUID]*pendingRecording
	processed map[uuid.UUID]recording.Complete
	// order lists processed recordings in the order they completed.
	order []uuid.UUID
	// snapshots holds, by partition, the position of the last snapshot whose start it recorded.
	snapshots map[int]int64
	// progress holds, by partition, how far it has been applied: the newest commit time of a
	// change applied from it (ReportIncomplete).
	progress map[int]time.Time
	now      func() time.Time
}

type pendingRecording struct {
	firstSeen time.Time
	reported  bool
	// partition is the partition its changes come through (dispatch.Store.Snapshot).
	partition int
}

// New returns an empty Store deciding completeness with rule.
func New(rule recording.Rule) *Store {
	return &Store{
		ledger:    recording.NewLedger(rule),
		pending:   map[uuid.UUID]*pendingRecording{},
		processed: map[uuid.UUID]recording.Complete{},
		snapshots: map[int]int64{},
		progress:  map[int]time.Time{},
		now:       time.Now,
	}
}

// Apply applies changes read from partition in order, as one step, and records each
// recording that becomes complete as processed (process_record's effect here). It never fails.
func (s *Store) Apply(_ context.Context, partition int, changes []recording.Change) (recording.Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res recording.Applied
	left := map[uuid.UUID]bool{} // recordings a signal left: judged empty or not after the batch
	anywhere := false            // a signal left recordings the change did not name
	for _, c := range changes {
		out := s.ledger.Apply(c)
		// A signal that may have moved leaves where it was, even when the change is
		// ignored where it went (recording.Ledger.Upsert).
		anywhere = anywhere || c.Moved
		if !out.Changed {
			res.Ignored++
			continue
		}
		switch {
		case c.Delete && c.Signal.Recording != uuid.Nil:
			left[c.Signal.Recording] = true
		case c.Delete:
			anywhere = true
		}
		if !c.Delete {
			s.seen(c.Signal.Recording, partition, c.At)
			if err := out.Invalid(); err != nil {
				res.Invalid = append(res.Invalid, recording.Invalid{Signal: out.Signal, Err: err})
			}
		}
		if done := out.Completed; done != nil {
			s.complete(&res, *done)
		}
	}
	// After the batch, as the Postgres store judges: a recording is not empty between the
	// halves of one change (a signal's id changed is deleted, then upserted).
	if anywhere {
		s.forgetEmpty()
	}
	for rec := range left {
		s.forgetIfEmpty(rec)
	}
	s.applied(partition, changes)
	return res, nil
}

// complete records done as processed, and in res.
func (s *Store) complete(res *recording.Applied, done recording.Complete) {
	res.Completed = append(res.Completed, done)
	s.processed[done.Recording] = done
	s.order = append(s.order, done.Recording)
	delete(s.pending, done.Recording)
}

// forgetIfEmpty forgets rec as pending when none of its signals is left: it waits for nothing.
func (s *Store) forgetIfEmpty(rec uuid.UUID) {
	if st := s.ledger.Recording(rec); st != nil && !st.Processed && s.ledger.Empty(rec) {
		delete(s.pending, rec)
	}
}

// forgetEmpty forgets every pending recording none of whose signals is left.
func (s *Store) forgetEmpty() {
	for rec := range s.pending {
		s.forgetIfEmpty(rec)
	}
}

// seen notes a signal of rec changed at at, read from partition, if rec is not processed yet
// and has a signal.
func (s *Store) seen(rec uuid.UUID, partition int, at time.Time) {
	if rec == uuid.Nil {
		return
	}
	if st := s.ledger.Recording(rec); st == nil || st.Processed || s.ledger.Empty(rec) {
		return // nothing to wait for: done, or its signal is gone already (truncated)
	}
	p, ok := s.pending[rec]
	if !ok {
		s.pending[rec] = &pendingRecording{firstSeen: at, partition: partition}
		return
	}
	p.partition = partition
	if at.Before(p.firstSeen) {
		p.firstSeen = at
	}
}

// Snapshot implements dispatch.Store: the pending recordings of partition are swept for the
// snapshot (recording.Ledger.Sweep), once. They stay pending, with their first signal's time
// and whether they were reported, for the snapshot's rows that bring their signals back; one
// left with no signal present is neither counted nor reported, and is forgotten by
// SnapshotRead.
func (s *Store) Snapshot(_ context.Context, partition int, version int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snapshots[partition] >= version {
		return false, nil
	}
	s.snapshots[partition] = version
	s.forgetEmptyOf(partition) // an earlier snapshot's, whose end was not said
	for rec, p := range s.pending {
		if p.partition == partition {
			s.ledger.Sweep(rec, version)
		}
	}
	return true, nil
}

// SnapshotRead implements dispatch.Store: the pending recordings of partition left with no
// signal present are forgotten.
func (s *Store) SnapshotRead(_ context.Context, partition int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetEmptyOf(partition)
	return nil
}

// forgetEmptyOf forgets the pending recordings of partition none of whose signals is left.
func (s *Store) forgetEmptyOf(partition int) {
	for rec, p := range s.pending {
		if p.partition == partition {
			s.forgetIfEmpty(rec)
		}
	}
}

// Truncate records a truncate of the source table at version: every signal set before it is
// absent from then on (recording.Ledger.Truncate).
func (s *Store) Truncate(_ context.Context, version int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recorded := s.ledger.Truncate(version)
	s.forgetEmpty()
	return recorded, nil
}

// Pending counts recordings seen and not yet complete, with a signal present.
func (s *Store) Pending(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for rec := range s.pending {
		if !s.ledger.Empty(rec) {
			n++
		}
	}
	return int64(n), nil
}

// applied notes how far partition has been applied: the newest commit time of changes.
func (s *Store) applied(partition int, changes []recording.Change) {
	if newest := recording.Newest(changes); newest.After(s.progress[partition]) {
		s.progress[partition] = newest
	}
}

// ReportIncomplete returns, once each, the recordings whose first signal is older than age
// and that are still incomplete, with what each lacks: those of partitions (the caller's,
// each with whether it is caught up) that have been applied age past the recording's first
// signal, or that are caught up, capture then seen age past it (unless captured is zero), as
// pgstore's.
func (s *Store) ReportIncomplete(_ context.Context, age time.Duration, captured time.Time, partitions map[int]bool) ([]recording.Incomplete, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []recording.Incomplete
	for rec, p := range s.pending {
		caughtUp, owned := partitions[p.partition]
		judged := caughtUp && (captured.IsZero() || !p.firstSeen.Add(age).After(captured)) ||
			owned && !s.progress[p.partition].Before(p.firstSeen.Add(age))
		if !p.reported && p.firstSeen.Before(now.Add(-age)) && judged && !s.ledger.Empty(rec) {
			p.reported = true
			out = append(out, recording.Incomplete{Recording: rec, FirstSeen: p.firstSeen, Missing: s.ledger.Missing(rec)})
		}
	}
	slices.SortFunc(out, func(a, b recording.Incomplete) int { return a.FirstSeen.Compare(b.FirstSeen) })
	return out, nil
}

// Ping reports that the store answers; memory always does.
func (s *Store) Ping(context.Context) error { return nil }

// Processed returns the processed recordings in the order they completed.
func (s *Store) Processed() []recording.Complete {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]recording.Complete, len(s.order))
	for i, rec := range s.order {
		out[i] = s.processed[rec]
	}
	return out
}
