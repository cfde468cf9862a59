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

// eventColumns are the columns of an event (aliased e) that scanEvent reads, in its order.
const eventColumns = `e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at`

// Outcome implements transcript.Store.
func (s *Store) Outcome(ctx context.Context, conversation, job uuid.UUID) (transcript.Event, bool, error) {
	ev, err := scanEvent(conversation, s.pool.QueryRow(ctx,
		`SELECT `+eventColumns+` FROM transcript.outcome($1, $2, $3) e`, conversation, job, s.ttl))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return transcript.Event{}, false, nil
	case err != nil:
		return transcript.Event{}, false, fmt.Errorf("read the outcome of job %s: %w", job, gone(err))
	}
	return ev, true, nil
}

// Waiting implements transcript.Store.
func (s *Store) Waiting(ctx context.Context, conversation uuid.UUID) ([]uuid.UUID, error) {
	rows, _ := s.pool.Query(ctx, `SELECT transcript.waiting($1, $2)`, conversation, s.ttl)
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list the waiting jobs of conversation %s: %w", conversation, gone(err))
	}
	return jobs, nil
}

// Exchanges implements transcript.Store. A negative most means no limit.
func (s *Store) Exchanges(ctx context.Context, conversation, job uuid.UUID, most int) ([]transcript.Exchange, error) {
	// Newest first, as the index reads them; reversed below.
	rows, _ := s.pool.Query(ctx, `SELECT sentence, answer FROM transcript.exchanges($1, $2, $3, $4)`,
		conversation, job, limitOf(most), s.ttl)
	exchanges, err := pgx.CollectRows(rows, pgx.RowToStructByPos[transcript.Exchange])
	if err != nil {
		return nil, fmt.Errorf("read the exchanges before job %s: %w", job, gone(err))
	}
	slices.Reverse(exchanges)
	return exchanges, nil
}

// Events implements transcript.Store. A negative limit means no limit.
func (s *Store) Events(ctx context.Context, conversation uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM transcript.events($1, $2, $3, $4) e`,
		conversation, after, limitOf(limit), s.ttl)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (transcript.Event, error) {
		return scanEvent(conversation, row)
	})
	if err != nil {
		return nil, fmt.Errorf("read events of conversation %s: %w", conversation, gone(err))
	}
	return events, nil
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
