package pgtranscript

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/rounds"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// acceptor runs a Store's Accepts in rounds: the Accepts called while one round is in
// flight go together in the next, one statement (transcript.accept_many, migrations/00014) and
// one commit for all of them. A front door admitting many sentences at once then waits for the
// disk once per round, not once per sentence, and Postgres runs a transaction per round;
// alone, an Accept goes at once.
type acceptor struct {
	pool *pgxpool.Pool
	ttl  pgtype.Interval
	// waker wakes the watchers of each event accepted, also when its caller has gone.
	waker  *waker
	rounds rounds.Group[acceptance, acceptOutcome]
}

// acceptance is one Accept's job.
type acceptance struct {
	conversation, job uuid.UUID
	sentence          string
}

// acceptOutcome is what became of one acceptance: its event, or the conversation gone or the
// job refused.
type acceptOutcome struct {
	event transcript.Event
	err   error
}

func newAcceptor(pool *pgxpool.Pool, ttl pgtype.Interval, w *waker) *acceptor {
	a := &acceptor{pool: pool, ttl: ttl, waker: w}
	a.rounds.Max, a.rounds.Run, a.rounds.Alone = maxRound, refusing(a.runRound), invalid
	return a
}

// accept adds an acceptance to the next round and returns its outcome once the round has
// run, or ctx's error if ctx ends first (the acceptance may still run with its round, and its
// watchers are woken all the same).
func (a *acceptor) accept(ctx context.Context, conversation, job uuid.UUID, sentence string) (transcript.Event, error) {
	o, err := a.rounds.Do(ctx, acceptance{conversation: conversation, job: job, sentence: sentence})
	if err != nil {
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, err)
	}
	if o.err != nil {
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, o.err)
	}
	return o.event, nil
}

// runRound accepts a round's jobs in one statement, within roundTimeout of its own, and
// announces the wake-up of each event accepted, held (waker.hold): nobody waits for it.
func (a *acceptor) runRound(items []acceptance) ([]acceptOutcome, error) {
	conversations, jobs, sentences := make([]uuid.UUID, len(items)), make([]uuid.UUID, len(items)), make([]string, len(items))
	for i, it := range items {
		conversations[i], jobs[i], sentences[i] = it.conversation, it.job, it.sentence
	}
	ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	rows, _ := a.pool.Query(ctx, `SELECT k, outcome, serial, kind, job, text, in_reply_to, at
		FROM transcript.accept_many($1, $2, $3, $4)`, conversations, jobs, sentences, a.ttl)
	outcomes := make([]acceptOutcome, len(items))
	var outcome string
	var ev nullableEvent
	err := forEachElement(rows, len(items), append([]any{&outcome}, ev.dest()...), func(i int) error {
		o := &outcomes[i]
		switch outcome {
		case "gone":
			o.err = transcript.ErrNotFound
		case "refused":
			o.err = transcript.ErrRefused
		case "ok":
			var ok bool
			if o.event, ok = ev.event(conversations[i]); !ok {
				return fmt.Errorf("element %d accepted without its event", i+1)
			}
		default:
			return fmt.Errorf("element %d with outcome %q", i+1, outcome)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("a round of %d acceptances: accept_many: %w", len(items), err)
	}
	for _, o := range outcomes {
		if o.err == nil {
			a.waker.hold(o.event)
		}
	}
	return outcomes, nil
}
