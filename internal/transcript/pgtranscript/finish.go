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

// finisher runs a Store's Finishes in rounds, as the acceptor runs its Accepts: the Finishes
// called while one round is in flight go together in the next, one statement
// (transcript.finish_many, migrations/00016) and one commit for all of them. A pool of
// workers answering many jobs at once then waits for the disk once per round, not once per
// job. A round may wait finishHold for company before it runs.
type finisher struct {
	pool *pgxpool.Pool
	ttl  pgtype.Interval
	// waker wakes the watchers of each outcome, also when its caller has gone.
	waker  *waker
	rounds rounds.Group[finishing, finishOutcome]
}

// finishing is one Finish's job and outcome.
type finishing struct {
	conversation, job uuid.UUID
	sentence          string
	kind              transcript.Kind
	text              string
}

// finishOutcome is what became of one finishing: the job's outcome event, whether this round
// recorded it, and its wake-up's ticket; or the conversation gone or the job refused.
type finishOutcome struct {
	event    transcript.Event
	recorded bool
	woken    rounds.Ticket[wakeUp, struct{}]
	err      error
}

func newFinisher(pool *pgxpool.Pool, ttl pgtype.Interval, w *waker) *finisher {
	f := &finisher{pool: pool, ttl: ttl, waker: w}
	f.rounds.Max, f.rounds.Hold, f.rounds.Run, f.rounds.Alone = maxRound, finishHold, refusing(f.runRound), invalid
	return f
}

// finish adds a finishing to the next round and returns its outcome once the round has run
// and the outcome's watchers are woken, or ctx's error if ctx ends first (the outcome may
// still be recorded with its round, and its watchers are woken all the same).
func (f *finisher) finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error) {
	o, err := f.rounds.DoHeld(ctx, finishing{conversation: conversation, job: job, sentence: sentence, kind: kind, text: text})
	if err != nil {
		return transcript.Event{}, false, fmt.Errorf("finish job %s: %w", job, err)
	}
	if o.err != nil {
		return transcript.Event{}, false, fmt.Errorf("finish job %s: %w", job, o.err)
	}
	if _, err := o.woken.Wait(ctx); err != nil {
		return transcript.Event{}, false, fmt.Errorf("finish job %s: wake the watchers of event %d: %w", job, o.event.Serial, err)
	}
	return o.event, o.recorded, nil
}

// runRound records a round's outcomes in one statement, within roundTimeout of its own, and
// announces the wake-up of each outcome, recorded now or before (a Finish called again wakes
// the watchers again).
func (f *finisher) runRound(items []finishing) ([]finishOutcome, error) {
	n := len(items)
	conversations, jobs := make([]uuid.UUID, n), make([]uuid.UUID, n)
	sentences, kinds, texts := make([]string, n), make([]string, n), make([]string, n)
	for i, it := range items {
		conversations[i], jobs[i] = it.conversation, it.job
		sentences[i], kinds[i], texts[i] = it.sentence, string(it.kind), it.text
	}
	ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
	defer cancel()
	rows, _ := f.pool.Query(ctx, `SELECT k, outcome, recorded, serial, kind, job, text, in_reply_to, at
		FROM transcript.finish_many($1, $2, $3, $4, $5, $6)`, conversations, jobs, sentences, kinds, texts, f.ttl)
	outcomes := make([]finishOutcome, n)
	var outcome string
	var recorded *bool
	var ev nullableEvent
	err := forEachElement(rows, n, append([]any{&outcome, &recorded}, ev.dest()...), func(i int) error {
		o := &outcomes[i]
		switch outcome {
		case "gone":
			o.err = transcript.ErrNotFound
		case "refused":
			o.err = transcript.ErrRefused
		case "ok":
			var ok bool
			if o.event, ok = ev.event(conversations[i]); !ok || recorded == nil {
				return fmt.Errorf("element %d finished without its event", i+1)
			}
			o.recorded = *recorded
		default:
			return fmt.Errorf("element %d with outcome %q", i+1, outcome)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("a round of %d finishings: finish_many: %w", n, err)
	}
	for i := range outcomes {
		if outcomes[i].err == nil {
			outcomes[i].woken = f.waker.announce(outcomes[i].event)
		}
	}
	return outcomes, nil
}
