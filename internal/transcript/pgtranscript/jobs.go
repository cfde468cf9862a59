package pgtranscript

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// lease is transcript.ReservationLease as Postgres reads it.
var lease = interval(transcript.ReservationLease)

// Reserve implements transcript.Store. The slots are counted under the conversation's lock,
// so two front doors cannot both take the last one. Reserves called together share a
// transaction (reserver).
func (s *Store) Reserve(ctx context.Context, conversation, job uuid.UUID, sentence string, limit int) error {
	return s.reserver.reserve(ctx, conversation, job, sentence, limit)
}

// Refuse implements transcript.Store.
func (s *Store) Refuse(ctx context.Context, conversation, job uuid.UUID, sentence string) (transcript.Event, bool, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM transcript.refuse($1, $2, $3, $4) e`,
		conversation, job, sentence, s.ttl)
	accepted, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (transcript.Event, error) {
		return scanEvent(conversation, row)
	})
	switch {
	case err != nil:
		return transcript.Event{}, false, fmt.Errorf("refuse job %s: %w", job, gone(err))
	case len(accepted) == 0:
		return transcript.Event{}, true, nil
	}
	return accepted[0], false, nil
}

// Accept implements transcript.Store. Accepts called together share a transaction and its
// commit (acceptor), which announces each accepted event's wake-up. It does not wait for the
// watchers to be woken: the caller holds the event, and the other watchers learn of it from
// this wake-up or, at the latest, from the job's outcome's, which Finish sends and waits for.
func (s *Store) Accept(ctx context.Context, conversation, job uuid.UUID, sentence string) (transcript.Event, error) {
	return s.acceptor.accept(ctx, conversation, job, sentence)
}

// Finish implements transcript.Store. Finishes called together share a transaction and its
// commit (finisher); each returns once its outcome's watchers are woken.
func (s *Store) Finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error) {
	if err := transcript.CheckOutcome(job, kind); err != nil {
		return transcript.Event{}, false, err
	}
	return s.finisher.finish(ctx, conversation, job, sentence, kind, text)
}

// wake wakes the watchers of ev's conversation, in a transaction of its own after ev's has
// committed (migration 00006's transcript.notify says why), shared with the wake-ups of other
// appends (waker), and returns once they are woken. An error leaves ev stored and its
// watchers not woken; the caller's retry of Finish or Prepare, which wakes them again, makes
// up for it.
func (s *Store) wake(ctx context.Context, ev transcript.Event) error {
	if _, err := s.waker.announce(ev).Wait(ctx); err != nil {
		return fmt.Errorf("wake the watchers of event %d: %w", ev.Serial, err)
	}
	return nil
}
