package pgtranscript

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// roundTimeout bounds one round of reservations, acceptances, preparations or outcomes.
const roundTimeout = 10 * time.Second

// A worker's first read of a job (Prepare) and its outcome (Finish) are held: their rounds may
// wait this long, from their first item, for company before they run; a round that reaches
// maxRound, or an item that is not held, ends the wait. Nobody waits on a client for them:
// the job has been "enqueued" already and its answer takes a model call, so a few
// milliseconds more are nothing to its caller, and without them a worker process at 1,000
// sentences a second ran as many rounds, each a transaction, as there was CPU left for
// (BENCHMARKS.md, "Seventeenth round": with them, Postgres's CPU per answered sentence fell by
// about a sixth). The first read waits longer: by then the front door's Accept round has usually
// committed, so the read finds the job accepted and is not read again.
const (
	prepareHold = 10 * time.Millisecond
	finishHold  = 5 * time.Millisecond
)

// maxRound is the most items one round of reservations, acceptances, preparations or
// outcomes takes: the rest wait for the next. It bounds how many conversations one
// transaction locks, and for how long.
const maxRound = 128

// forEachElement reads what a function of a round (reserve_many, accept_many, finish_many)
// returns for its n elements: a row each, its 1-based index k first, then the columns
// scanned into dest. each is called with the element's 0-based index once dest holds its
// row. It fails when a row names no element of the round, or fewer rows than elements come
// back.
func forEachElement(rows pgx.Rows, n int, dest []any, each func(i int) error) error {
	var k, got int
	_, err := pgx.ForEachRow(rows, append([]any{&k}, dest...), func() error {
		if k < 1 || k > n {
			return fmt.Errorf("element %d of %d", k, n)
		}
		got++
		return each(k - 1)
	})
	switch {
	case err != nil:
		return err
	case got != n:
		return fmt.Errorf("%d rows for %d elements", got, n)
	}
	return nil
}

// refusedValue holds the SQLSTATEs of a value Postgres refuses: a character no text holds
// (22021, a NUL; 22P05, in JSON), a text too long (22001), a number out of range (22003), a
// malformed literal (22P02), a NOT NULL or a CHECK violation (23502, 23514). Not the other
// data exceptions, which a function raises for a bug of the caller's (22023) and which every
// item would hit alike; nor a foreign-key or unique violation, which can be a race (a
// conversation deleted meanwhile) that trying again settles.
var refusedValue = map[string]bool{"22021": true, "22P05": true, "22001": true, "22003": true, "22P02": true, "23502": true, "23514": true}

// refusing runs a round with run, and marks its error transcript.ErrInvalid when Postgres
// refused a value of it (refusedValue). Such an error may be one item's doing, so its round
// is run again one item at a time (rounds.Group.Alone: invalid).
func refusing[T, R any](run func([]T) ([]R, error)) func([]T) ([]R, error) {
	return func(items []T) ([]R, error) {
		results, err := run(items)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && refusedValue[pgErr.Code] {
			err = fmt.Errorf("%w: %w", transcript.ErrInvalid, err)
		}
		return results, err
	}
}

// invalid is rounds.Group.Alone for rounds run through refusing.
func invalid(err error) bool { return errors.Is(err, transcript.ErrInvalid) }
