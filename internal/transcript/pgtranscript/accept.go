package pgtranscript

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// acceptTimeout bounds one round of acceptances.
const acceptTimeout = 10 * time.Second

// maxAcceptRound is the most acceptances one round takes: the rest wait for the next. It
// bounds how many conversations one transaction locks, and for how long.
const maxAcceptRound = 128

// acceptor runs a Store's Accepts the way Postgres commits to disk in groups: the Accepts
// called while one round is in flight go together in the next, one statement
// (transcript.accept_many, migrations/00014) and one commit for all of them. A front door
// admitting many sentences at once then waits for the disk once per round, not once per
// sentence, and Postgres runs a transaction per round; alone, an Accept goes at once.
//
// A goroutine runs the rounds while there is something to accept and ends when there is
// not, so a Store needs no closing.
type acceptor struct {
	pool *pgxpool.Pool
	ttl  pgtype.Interval
	// waker wakes the watchers of each event accepted, also when its caller has gone.
	waker *waker

	mu      sync.Mutex
	full    []*acceptRound // rounds gathered to their size, to run before next
	next    *acceptRound   // the round being gathered; nil when nothing waits
	running bool           // a goroutine is running rounds
	rounds  int            // rounds taken to be run, ever
	waiting int            // acceptances added whose round has not run yet
}

// acceptRound is the acceptances of one round and, once run, their outcomes.
type acceptRound struct {
	conversations, jobs []uuid.UUID
	sentences           []string
	// done is closed when the round has run: outcomes holds one result per acceptance, in
	// order, or err says why the round failed as a whole.
	done     chan struct{}
	outcomes []acceptOutcome
	err      error
}

// acceptOutcome is what became of one acceptance: its event, or the conversation gone or the
// job refused.
type acceptOutcome struct {
	event transcript.Event
	err   error
}

// accept adds an acceptance to the next round and returns its outcome once the round has
// run, or ctx's error if ctx ends first (the acceptance may still run with its round, and its
// watchers are woken all the same).
func (a *acceptor) accept(ctx context.Context, conversation, job uuid.UUID, sentence string) (transcript.Event, error) {
	a.mu.Lock()
	r := a.next
	if r == nil || len(r.jobs) >= maxAcceptRound {
		// A full round is left to the goroutine, which takes it before this one.
		r = &acceptRound{done: make(chan struct{})}
		if a.next != nil {
			a.full = append(a.full, a.next)
		}
		a.next = r
	}
	i := len(r.jobs)
	r.conversations = append(r.conversations, conversation)
	r.jobs = append(r.jobs, job)
	r.sentences = append(r.sentences, sentence)
	a.waiting++
	if !a.running {
		a.running = true
		go a.run() //nolint:contextcheck // a round serves many callers and outlives each one's ctx
	}
	a.mu.Unlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, ctx.Err())
	}
	if r.err != nil {
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, r.err)
	}
	o := r.outcomes[i]
	if o.err != nil {
		return transcript.Event{}, fmt.Errorf("accept job %s: %w", job, o.err)
	}
	return o.event, nil
}

// run runs rounds until none is waiting.
func (a *acceptor) run() {
	for {
		a.mu.Lock()
		var r *acceptRound
		switch {
		case len(a.full) > 0:
			r, a.full = a.full[0], a.full[1:]
		case a.next != nil:
			r, a.next = a.next, nil
		default:
			a.running = false
			a.mu.Unlock()
			return
		}
		a.rounds++
		a.mu.Unlock()
		a.runRound(r)
		for _, o := range r.outcomes {
			if o.err == nil {
				a.waker.announce(o.event)
			}
		}
		a.mu.Lock()
		a.waiting -= len(r.jobs)
		a.mu.Unlock()
		close(r.done)
	}
}

// runRound accepts r's jobs in one statement, within acceptTimeout of its own: it serves many
// callers and outlives each one's context.
func (a *acceptor) runRound(r *acceptRound) {
	ctx, cancel := context.WithTimeout(context.Background(), acceptTimeout)
	defer cancel()
	rows, _ := a.pool.Query(ctx, `SELECT k, outcome, serial, kind, job, text, in_reply_to, at
		FROM transcript.accept_many($1, $2, $3, $4)`, r.conversations, r.jobs, r.sentences, a.ttl)
	outcomes := make([]acceptOutcome, len(r.jobs))
	got := 0
	var (
		k         int
		outcome   string
		serial    *uint64
		kind      *transcript.Kind
		job       *uuid.UUID
		text      *string
		inReplyTo *string
		at        *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&k, &outcome, &serial, &kind, &job, &text, &inReplyTo, &at}, func() error {
		if k < 1 || k > len(outcomes) {
			return fmt.Errorf("accept_many returned element %d of %d", k, len(outcomes))
		}
		o := &outcomes[k-1]
		switch outcome {
		case "gone":
			o.err = transcript.ErrNotFound
		case "refused":
			o.err = transcript.ErrRefused
		case "ok":
			if serial == nil || kind == nil || job == nil || text == nil || inReplyTo == nil || at == nil {
				return fmt.Errorf("accept_many returned element %d accepted without its event", k)
			}
			o.event = transcript.Event{Conversation: r.conversations[k-1], Serial: *serial, Kind: *kind, JobID: *job,
				Text: *text, InReplyTo: *inReplyTo, At: *at}
		default:
			return fmt.Errorf("accept_many returned element %d with outcome %q", k, outcome)
		}
		got++
		return nil
	})
	switch {
	case err != nil:
		r.err = fmt.Errorf("a round of %d acceptances: %w", len(r.jobs), err)
	case got != len(outcomes):
		r.err = fmt.Errorf("a round of %d acceptances: accept_many answered %d", len(r.jobs), got)
	default:
		r.outcomes = outcomes
	}
}
