package pgtranscript

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// eventColumns are the columns of an event (aliased e) that scanEvent reads, in its order.
const eventColumns = `e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at`

// Prepare implements transcript.Store. A negative most means no limit. The Prepares called
// together share a statement (preparer) for the jobs that are accepted already, the usual
// case; the others are prepared one by one, and when that accepts the job it notifies the
// Accepted event, as Accept does.
func (s *Store) Prepare(ctx context.Context, conversation, job uuid.UUID, sentence string, most int) (transcript.Preparation, error) {
	o, err := s.preparer.rounds.Do(ctx, preparing{conversation: conversation, job: job, most: most})
	switch {
	case err != nil:
		return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, err)
	case o.err != nil:
		return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, o.err)
	case o.unsettled:
		return s.prepareOne(ctx, conversation, job, sentence, most)
	}
	return o.prep, nil
}

// prepareOne prepares one job with transcript.prepare, which takes the job under its
// conversation's lock when it is not accepted yet.
func (s *Store) prepareOne(ctx context.Context, conversation, job uuid.UUID, sentence string, most int) (transcript.Preparation, error) {
	var p transcript.Preparation
	var accepted *transcript.Event
	rows, _ := s.pool.Query(ctx, `
		SELECT serial, kind, job, text, in_reply_to, at, sentence, answer
		FROM transcript.prepare($1, $2, $3, $4, $5)`, conversation, job, sentence, limitOf(most), s.ttl)
	var (
		serial            *uint64
		kind              *transcript.Kind
		jobID             *uuid.UUID
		text, inReplyTo   *string
		at                *time.Time
		exchanged, answer *string
	)
	_, err := pgx.ForEachRow(rows, []any{&serial, &kind, &jobID, &text, &inReplyTo, &at, &exchanged, &answer}, func() error {
		switch {
		case kind == nil: // an exchange
			p.Exchanges = append(p.Exchanges, transcript.Exchange{Sentence: *exchanged, Answer: *answer})
		case *kind == refusedRow:
			p.Refused = true
		default:
			ev := &transcript.Event{Conversation: conversation, Serial: *serial, Kind: *kind, JobID: *jobID,
				Text: *text, InReplyTo: *inReplyTo, At: *at}
			if ev.Kind == transcript.Accepted {
				accepted = ev
			} else {
				p.Outcome = ev
			}
		}
		return nil
	})
	if err != nil {
		return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, gone(err))
	}
	if accepted != nil {
		if err := s.wake(ctx, *accepted); err != nil {
			return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, err)
		}
	}
	slices.Reverse(p.Exchanges) // newest first, as the index reads them
	return p, nil
}

// refusedRow is the kind of the row transcript.prepare returns for a refused job.
const refusedRow = "refused"

// Waiting implements transcript.Store.
func (s *Store) Waiting(ctx context.Context, conversation uuid.UUID) ([]uuid.UUID, error) {
	rows, _ := s.pool.Query(ctx, `SELECT transcript.waiting($1, $2)`, conversation, s.ttl)
	jobs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list the waiting jobs of conversation %s: %w", conversation, gone(err))
	}
	return jobs, nil
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
