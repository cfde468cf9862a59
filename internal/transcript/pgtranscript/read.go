package pgtranscript

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// eventColumns are the columns of transcript.event that scanEvent reads, in its order.
const eventColumns = `e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at`

// Outcome implements transcript.Store.
func (s *Store) Outcome(ctx context.Context, conversation, job uuid.UUID) (transcript.Event, bool, error) {
	if err := s.live(ctx, conversation); err != nil {
		return transcript.Event{}, false, fmt.Errorf("read the outcome of job %s: %w", job, err)
	}
	ev, err := scanEvent(conversation, s.pool.QueryRow(ctx, `
		SELECT `+eventColumns+` FROM transcript.job j
		JOIN transcript.event e ON e.conversation = j.conversation AND e.serial = j.outcome_serial
		WHERE j.conversation = $1 AND j.job = $2`, conversation, job))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return transcript.Event{}, false, nil
	case err != nil:
		return transcript.Event{}, false, fmt.Errorf("read the outcome of job %s: %w", job, err)
	}
	return ev, true, nil
}

// Waiting implements transcript.Store.
func (s *Store) Waiting(ctx context.Context, conversation uuid.UUID) ([]uuid.UUID, error) {
	if err := s.live(ctx, conversation); err != nil {
		return nil, fmt.Errorf("list the waiting jobs of conversation %s: %w", conversation, err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT job FROM transcript.job
		WHERE conversation = $1 AND outcome_serial IS NULL AND accepted_serial IS NOT NULL
		ORDER BY accepted_serial`, conversation)
	if err != nil {
		return nil, fmt.Errorf("list the waiting jobs of conversation %s: %w", conversation, err)
	}
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list the waiting jobs of conversation %s: %w", conversation, err)
	}
	return jobs, nil
}

// Exchanges implements transcript.Store. A negative most means no limit.
func (s *Store) Exchanges(ctx context.Context, conversation, job uuid.UUID, most int) ([]transcript.Exchange, error) {
	if err := s.live(ctx, conversation); err != nil {
		return nil, fmt.Errorf("read the exchanges before job %s: %w", job, err)
	}
	// The newest replies accepted before job, newest first: the index reads them in that order
	// and stops after most of them. Reversed below.
	rows, err := s.pool.Query(ctx, `
		SELECT j.sentence, e.text FROM transcript.job j
		JOIN transcript.event e ON e.conversation = j.conversation AND e.serial = j.outcome_serial
		WHERE j.conversation = $1 AND j.outcome_serial IS NOT NULL AND e.kind = 'reply'
		  AND j.accepted_serial < coalesce(
		      (SELECT accepted_serial FROM transcript.job WHERE conversation = $1 AND job = $2),
		      9223372036854775807)
		ORDER BY j.accepted_serial DESC
		LIMIT $3`, conversation, job, limitOf(most))
	if err != nil {
		return nil, fmt.Errorf("read the exchanges before job %s: %w", job, err)
	}
	exchanges, err := pgx.CollectRows(rows, pgx.RowToStructByPos[transcript.Exchange])
	if err != nil {
		return nil, fmt.Errorf("read the exchanges before job %s: %w", job, err)
	}
	slices.Reverse(exchanges)
	return exchanges, nil
}

// Events implements transcript.Store. A negative limit means no limit.
func (s *Store) Events(ctx context.Context, conversation uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	if err := s.live(ctx, conversation); err != nil {
		return nil, fmt.Errorf("read events of conversation %s: %w", conversation, err)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+eventColumns+` FROM transcript.event e
		WHERE e.conversation = $1 AND e.serial > $2
		ORDER BY e.serial LIMIT $3`, conversation, after, limitOf(limit))
	if err != nil {
		return nil, fmt.Errorf("read events of conversation %s: %w", conversation, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (transcript.Event, error) {
		return scanEvent(conversation, row)
	})
	if err != nil {
		return nil, fmt.Errorf("read events of conversation %s: %w", conversation, err)
	}
	return events, nil
}

// eventAt returns the conversation's event with serial.
func eventAt(ctx context.Context, tx pgx.Tx, conversation uuid.UUID, serial uint64) (transcript.Event, error) {
	ev, err := scanEvent(conversation, tx.QueryRow(ctx,
		`SELECT `+eventColumns+` FROM transcript.event e WHERE e.conversation = $1 AND e.serial = $2`, conversation, serial))
	if err != nil {
		return transcript.Event{}, fmt.Errorf("read event %d: %w", serial, err)
	}
	return ev, nil
}

// scanEvent reads eventColumns of the conversation's event.
func scanEvent(conversation uuid.UUID, row pgx.Row) (transcript.Event, error) {
	ev := transcript.Event{Conversation: conversation}
	err := row.Scan(&ev.Serial, &ev.Kind, &ev.JobID, &ev.Text, &ev.InReplyTo, &ev.At)
	return ev, err
}

// limitOf is n as a LIMIT: NULL (no limit) when negative, as transcript.Memory reads it.
func limitOf(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}
