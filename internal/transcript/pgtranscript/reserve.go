package pgtranscript

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/rounds"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// reserver runs a Store's Reserves in rounds, as the acceptor runs its Accepts: the Reserves
// called while one round is in flight go together in the next, one statement
// (transcript.reserve_many, migrations/00015) and one transaction for all of them. A
// reservation does not wait for the disk, so what a round saves is the round trips and the
// transactions: with hundreds of streams admitting at once, one each per sentence was a third
// of a front door's statements.
type reserver struct {
	pool   *pgxpool.Pool
	ttl    pgtype.Interval
	rounds rounds.Group[reservation, error]
}

// reservation is one Reserve's job and its conversation's limit.
type reservation struct {
	conversation, job uuid.UUID
	sentence          string
	limit             int
}

func newReserver(pool *pgxpool.Pool, ttl pgtype.Interval) *reserver {
	r := &reserver{pool: pool, ttl: ttl}
	r.rounds.Max, r.rounds.Run, r.rounds.Alone = maxRound, refusing(r.runRound), invalid
	return r
}

// reserve adds a reservation to the next round and returns its outcome once the round has
// run: nil, transcript.ErrFull or transcript.ErrNotFound; or ctx's error if ctx ends first,
// when the reservation may still be taken with its round (a lease: it frees its slot after
// transcript.ReservationLease unless its job is accepted).
func (r *reserver) reserve(ctx context.Context, conversation, job uuid.UUID, sentence string, limit int) error {
	outcome, err := r.rounds.Do(ctx, reservation{conversation: conversation, job: job, sentence: sentence, limit: limit})
	if connect := (*pgconn.ConnectError)(nil); errors.As(err, &connect) {
		// The round's statement had no connection to go on: nothing was reserved.
		return fmt.Errorf("reserve a slot for job %s: %w: %w", job, transcript.ErrNotSent, err)
	}
	if err != nil {
		return fmt.Errorf("reserve a slot for job %s: %w", job, err)
	}
	if outcome != nil {
		return fmt.Errorf("reserve a slot for job %s: %w", job, outcome)
	}
	return nil
}

// runRound takes a round's slots in one statement, within roundTimeout of its own.
func (r *reserver) runRound(items []reservation) ([]error, error) {
	n := len(items)
	conversations, jobs, sentences, limits := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]string, n), make([]int32, n)
	for i, it := range items {
		conversations[i], jobs[i], sentences[i], limits[i] = it.conversation, it.job, it.sentence, int32(min(it.limit, 1<<31-1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	rows, _ := r.pool.Query(ctx, `SELECT k, outcome FROM transcript.reserve_many($1, $2, $3, $4, $5, $6)`,
		conversations, jobs, sentences, limits, r.ttl, lease)
	outcomes := make([]error, n)
	var outcome string
	err := forEachElement(rows, n, []any{&outcome}, func(i int) error {
		switch outcome {
		case "ok":
		case "full":
			outcomes[i] = transcript.ErrFull
		case "gone":
			outcomes[i] = transcript.ErrNotFound
		default:
			return fmt.Errorf("element %d with outcome %q", i+1, outcome)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("a round of %d reservations: reserve_many: %w", n, err)
	}
	return outcomes, nil
}
