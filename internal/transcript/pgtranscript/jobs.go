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
// so two front doors cannot both take the last one.
func (s *Store) Reserve(ctx context.Context, conversation, job uuid.UUID, sentence string, limit int) error {
	err := s.locked(ctx, conversation, func(tx pgx.Tx) error {
		var reserved bool
		var open int
		err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM transcript.job WHERE conversation = $1 AND job = $2),
			       (SELECT count(*) FROM transcript.job
			        WHERE conversation = $1 AND outcome_serial IS NULL
			          AND (accepted_serial IS NOT NULL OR reserved_at > now() - $3::interval))`,
			conversation, job, lease).Scan(&reserved, &open)
		switch {
		case err != nil:
			return fmt.Errorf("count slots: %w", err)
		case reserved:
			return nil
		case open >= limit:
			return transcript.ErrFull
		}
		_, err = tx.Exec(ctx, `INSERT INTO transcript.job (conversation, job, sentence) VALUES ($1, $2, $3)`,
			conversation, job, sentence)
		return err
	})
	if err != nil {
		return fmt.Errorf("reserve a slot for job %s: %w", job, err)
	}
	return nil
}

// Release implements transcript.Store.
func (s *Store) Release(ctx context.Context, conversation, job uuid.UUID) error {
	err := s.locked(ctx, conversation, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM transcript.job WHERE conversation = $1 AND job = $2 AND accepted_serial IS NULL`,
			conversation, job)
		return err
	})
	if err != nil {
		return fmt.Errorf("release the slot of job %s: %w", job, err)
	}
	return nil
}

// Accept implements transcript.Store.
func (s *Store) Accept(ctx context.Context, conversation, job uuid.UUID, sentence string) (transcript.Event, error) {
	var ev transcript.Event
	err := s.locked(ctx, conversation, func(tx pgx.Tx) error {
		j, err := lockedJob(ctx, tx, conversation, job, sentence)
		if err != nil {
			return err
		}
		if j.accepted != nil {
			ev, err = eventAt(ctx, tx, conversation, *j.accepted)
			return err
		}
		if ev, err = appendEvent(ctx, tx, accepted(conversation, job, j.sentence)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE transcript.job SET accepted_serial = $3 WHERE conversation = $1 AND job = $2`,
			conversation, job, ev.Serial)
		return err
	})
	if err != nil {
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, err)
	}
	return ev, nil
}

// Finish implements transcript.Store.
func (s *Store) Finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error) {
	if kind != transcript.Reply && kind != transcript.Failed {
		return transcript.Event{}, false, fmt.Errorf("finish job %s: %q is not an outcome", job, kind)
	}
	var ev transcript.Event
	var recorded bool
	err := s.locked(ctx, conversation, func(tx pgx.Tx) error {
		j, err := lockedJob(ctx, tx, conversation, job, sentence)
		if err != nil {
			return err
		}
		if j.outcome != nil {
			ev, err = eventAt(ctx, tx, conversation, *j.outcome)
			return err
		}
		if j.accepted == nil { // the front door died between enqueueing and Accept
			acc, err := appendEvent(ctx, tx, accepted(conversation, job, j.sentence))
			if err != nil {
				return err
			}
			j.accepted = &acc.Serial
		}
		ev, err = appendEvent(ctx, tx, transcript.Event{
			Conversation: conversation, Kind: kind, JobID: job, Text: text, InReplyTo: j.sentence,
		})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE transcript.job SET accepted_serial = $3, outcome_serial = $4
			WHERE conversation = $1 AND job = $2`, conversation, job, *j.accepted, ev.Serial)
		recorded = err == nil
		return err
	})
	if err != nil {
		return transcript.Event{}, false, fmt.Errorf("finish job %s: %w", job, err)
	}
	return ev, recorded, nil
}

// accepted is job's Accepted event, before it is appended.
func accepted(conversation, job uuid.UUID, sentence string) transcript.Event {
	return transcript.Event{Conversation: conversation, Kind: transcript.Accepted, JobID: job, Text: sentence}
}

// jobRow is what the store knows of a job.
type jobRow struct {
	sentence          string
	accepted, outcome *uint64 // serials, nil until recorded
}

// lockedJob returns the job's row, inserting it (reserved now, with sentence) when the front
// door's reservation is missing. tx must hold the conversation's lock: every write to the
// conversation's jobs does, so the row read here cannot change before tx ends.
func lockedJob(ctx context.Context, tx pgx.Tx, conversation, job uuid.UUID, sentence string) (jobRow, error) {
	// The lock was taken by an earlier statement, so this one's snapshot sees every write
	// committed before it; the INSERT's row is not visible to the SELECT of the same
	// statement, so exactly one of the two returns a row.
	var j jobRow
	err := tx.QueryRow(ctx, `
		WITH inserted AS (
		    INSERT INTO transcript.job (conversation, job, sentence) VALUES ($1, $2, $3)
		    ON CONFLICT (conversation, job) DO NOTHING
		    RETURNING sentence, accepted_serial, outcome_serial
		)
		SELECT sentence, accepted_serial, outcome_serial FROM inserted
		UNION ALL
		SELECT sentence, accepted_serial, outcome_serial FROM transcript.job WHERE conversation = $1 AND job = $2`,
		conversation, job, sentence).Scan(&j.sentence, &j.accepted, &j.outcome)
	if err != nil {
		return jobRow{}, fmt.Errorf("read job: %w", err)
	}
	return j, nil
}
