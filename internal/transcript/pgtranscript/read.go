package pgtranscript

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/sleep"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// eventColumns are the columns of an event (aliased e) that scanEvent reads, in its order.
const eventColumns = `e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at`

// Prepare implements transcript.Store. A negative most means no limit. The Prepares called
// together share a statement (preparer) for the jobs that are accepted already, the usual
// case. A job not accepted yet is most often one whose Accept is in flight (a worker can
// fetch a job within a millisecond of its Kafka write, and under load the front door's Accept
// round commits tens of milliseconds later): it is looked for again in later rounds, after
// the pauses of unsettledPauses, and then prepared on its own, under its conversation's lock;
// when that accepts the job it notifies the Accepted event, as Accept does.
func (s *Store) Prepare(ctx context.Context, conversation, job uuid.UUID, sentence string, most int) (transcript.Preparation, error) {
	for i, pause := range unsettledPauses {
		if err := sleep.For(ctx, pause); err != nil {
			return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, err)
		}
		do := s.preparer.rounds.Do
		if i == 0 {
			do = s.preparer.rounds.DoHeld // may wait prepareHold for company
		}
		o, err := do(ctx, preparing{conversation: conversation, job: job, most: most})
		switch {
		case err != nil:
			return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, err)
		case o.err != nil:
			return transcript.Preparation{}, fmt.Errorf("prepare job %s: %w", job, o.err)
		case !o.unsettled:
			return o.prep, nil
		}
	}
	return s.prepareOne(ctx, conversation, job, sentence, most)
}

// unsettledPauses are the pauses before each round that Prepare reads a job in, before it
// settles the job alone: the first round at once (a held one, which may wait prepareHold for
// company), the next ones after pauses that double, 62 ms in all. A job settled alone costs a
// lock of its conversation's row, which waits for the Accept round in flight, and a commit
// that waits for the disk; a round costs a read shared with the other workers'. A job nobody
// will accept (refused, or its front door gone) is settled alone after the last pause.
var unsettledPauses = [...]time.Duration{0, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond,
	16 * time.Millisecond, 32 * time.Millisecond}

// prepareOne prepares one job with transcript.prepare, which takes the job under its
// conversation's lock when it is not accepted yet.
func (s *Store) prepareOne(ctx context.Context, conversation, job uuid.UUID, sentence string, most int) (transcript.Preparation, error) {
	var p transcript.Preparation
	var accepted *transcript.Event
	rows, _ := s.pool.Query(ctx, `
		SELECT serial, kind, job, text, in_reply_to, at, sentence, answer
		FROM transcript.prepare($1, $2, $3, $4, $5)`, conversation, job, sentence, limitOf(most), s.ttl)
	var (
		row               nullableEvent
		exchanged, answer *string
	)
	_, err := pgx.ForEachRow(rows, append(row.dest(), &exchanged, &answer), func() error {
		switch {
		case row.kind == nil: // an exchange
			if exchanged == nil || answer == nil {
				return fmt.Errorf("an exchange without its sentence or answer")
			}
			p.Exchanges = append(p.Exchanges, transcript.Exchange{Sentence: *exchanged, Answer: *answer})
		case *row.kind == refusedRow:
			p.Refused = true
		default:
			ev, ok := row.event(conversation)
			switch {
			case !ok:
				return fmt.Errorf("a %s event without all its columns", *row.kind)
			case ev.Kind == transcript.Accepted:
				accepted = &ev
			default:
				p.Outcome = &ev
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

// Lost implements transcript.Store. It reads the oldest entries of the index of open jobs by
// the time their slot was taken (migration 00026), which holds only the jobs accepted and
// not answered: a few at any time, whatever the number of jobs answered. With a queue set on
// its connections (SetQueue), only that queue's jobs, and those of no queue, are listed.
func (s *Store) Lost(ctx context.Context, after time.Duration, batch int) ([]transcript.Job, error) {
	if batch <= 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT j.conversation, j.job, j.sentence FROM transcript.job j
		JOIN transcript.conversation c ON c.id = j.conversation AND c.active_at >= now() - $3::interval
		WHERE j.accepted_serial IS NOT NULL AND j.outcome_serial IS NULL AND j.refused_at IS NULL
		  AND j.reserved_at < now() - $1::interval
		  AND (j.queue IS NULL OR j.queue = nullif(current_setting('`+QueueSetting+`', true), '')
		       OR nullif(current_setting('`+QueueSetting+`', true), '') IS NULL)
		ORDER BY j.reserved_at LIMIT $2`, interval(after), batch, s.ttl)
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (transcript.Job, error) {
		var j transcript.Job
		err := row.Scan(&j.Conversation, &j.ID, &j.Sentence)
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("list lost jobs: %w", err)
	}
	return jobs, nil
}

// Events implements transcript.Store. A negative limit means no limit. The rows after the
// one that fills transcript.PageBytes are read off the connection and not kept.
func (s *Store) Events(ctx context.Context, conversation uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM transcript.events($1, $2, $3, $4) e`,
		conversation, after, limitOf(limit), s.ttl)
	defer rows.Close()
	var events []transcript.Event
	size := 0
	for size < transcript.PageBytes && rows.Next() {
		ev, err := scanEvent(conversation, rows)
		if err != nil {
			return nil, fmt.Errorf("read events of conversation %s: %w", conversation, err)
		}
		events = append(events, ev)
		size += ev.TextBytes()
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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

// nullableEvent receives an event's columns (serial, kind, job, text, in_reply_to, at) from a
// row of a round, where they are NULL unless the row carries an event.
type nullableEvent struct {
	serial          *uint64
	kind            *transcript.Kind
	job             *uuid.UUID
	text, inReplyTo *string
	at              *time.Time
}

// dest is where Scan puts the columns, in their order.
func (n *nullableEvent) dest() []any {
	return []any{&n.serial, &n.kind, &n.job, &n.text, &n.inReplyTo, &n.at}
}

// event is the row's event of conversation, false when a column is NULL.
func (n *nullableEvent) event(conversation uuid.UUID) (transcript.Event, bool) {
	if n.serial == nil || n.kind == nil || n.job == nil || n.text == nil || n.inReplyTo == nil || n.at == nil {
		return transcript.Event{}, false
	}
	return transcript.Event{Conversation: conversation, Serial: *n.serial, Kind: *n.kind, JobID: *n.job,
		Text: *n.text, InReplyTo: *n.inReplyTo, At: *n.at}, true
}

// limitOf is n as a LIMIT: NULL (no limit) when negative, as transcript.Memory reads it.
func limitOf(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}
