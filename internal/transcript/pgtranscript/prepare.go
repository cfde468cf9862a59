package pgtranscript

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/rounds"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// preparer runs a Store's Prepares in rounds, as the acceptor runs its Accepts: the Prepares
// called while one round is in flight go together in the next, one statement
// (transcript.prepare_many, migrations/00018) for all of them. A round reads only; the jobs
// it finds not accepted yet are prepared one by one (Store.prepareOne), under their
// conversations' locks, so that a round never waits for a writer.
type preparer struct {
	pool   *pgxpool.Pool
	ttl    pgtype.Interval
	rounds rounds.Group[preparing, prepared]
}

// preparing is one Prepare's job and how many exchanges it reads (negative: no limit).
type preparing struct {
	conversation, job uuid.UUID
	most              int
}

// prepared is what a round read for one job: its preparation, or that the job is to be
// prepared on its own (unsettled), or the conversation gone.
type prepared struct {
	prep      transcript.Preparation
	unsettled bool
	err       error
}

func newPreparer(pool *pgxpool.Pool, ttl pgtype.Interval) *preparer {
	p := &preparer{pool: pool, ttl: ttl}
	p.rounds.Max, p.rounds.Hold, p.rounds.Run, p.rounds.Alone = maxRound, prepareHold, refusing(p.runRound), invalid
	return p
}

// runRound reads a round's jobs in one statement, within roundTimeout of its own.
func (p *preparer) runRound(items []preparing) ([]prepared, error) {
	n := len(items)
	conversations, jobs, limits := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]*int, n)
	for i, it := range items {
		conversations[i], jobs[i], limits[i] = it.conversation, it.job, limitOf(it.most)
	}
	ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	rows, _ := p.pool.Query(ctx, `SELECT k, what, serial, kind, job, text, in_reply_to, at, sentence, answer
		FROM transcript.prepare_many($1, $2, $3, $4)`, conversations, jobs, limits, p.ttl)
	out := make([]prepared, n)
	seen := make([]bool, n)
	var (
		k                 int
		what              string
		ev                nullableEvent
		exchanged, answer *string
	)
	dest := append(append([]any{&k, &what}, ev.dest()...), &exchanged, &answer)
	_, err := pgx.ForEachRow(rows, dest, func() error {
		if k < 1 || k > n {
			return fmt.Errorf("element %d of %d", k, n)
		}
		i := k - 1
		o := &out[i]
		if what != "exchange" {
			if seen[i] {
				return fmt.Errorf("element %d: a second %q row", k, what)
			}
			seen[i] = true
		}
		switch what {
		case "gone":
			o.err = transcript.ErrNotFound
		case "unsettled":
			o.unsettled = true
		case "outcome":
			outcome, ok := ev.event(conversations[i])
			if !ok {
				return fmt.Errorf("element %d: an outcome without its event", k)
			}
			o.prep.Outcome = &outcome
		case "ready":
		case "exchange":
			if !seen[i] || exchanged == nil || answer == nil {
				return fmt.Errorf("element %d: an exchange out of place", k)
			}
			o.prep.Exchanges = append(o.prep.Exchanges, transcript.Exchange{Sentence: *exchanged, Answer: *answer})
		default:
			return fmt.Errorf("element %d: a row %q", k, what)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("a round of %d preparations: prepare_many: %w", n, err)
	}
	for i := range out {
		if !seen[i] {
			out[i].unsettled = true // nothing read: prepareOne reads it whole
		}
		slices.Reverse(out[i].prep.Exchanges) // newest first, as the index reads them
	}
	return out, nil
}
