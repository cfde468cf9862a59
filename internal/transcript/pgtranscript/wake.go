package pgtranscript

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// wakeTimeout bounds one round of wake-ups: a statement that notifies every conversation
// announced since the round before.
const wakeTimeout = 10 * time.Second

// waker sends the wake-ups of a Store's appends the way Postgres commits to disk in groups:
// the appends announced while one round is in flight go out together in the next, one
// statement and one transaction for all of them, in the order they were announced, each
// notification carrying its event (payload). Under load that is one notifying transaction for
// many appends instead of one each; alone, an append's wake-up leaves at once.
//
// A goroutine runs the rounds while there is something to send and ends when there is not,
// so a Store needs no closing.
type waker struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	next    *wakeRound // the round being gathered; nil when nothing is announced
	sending bool       // a goroutine is running rounds
	rounds  int        // rounds taken to be sent, ever
}

// wakeRound is the wake-ups of one round and, once sent, its outcome.
type wakeRound struct {
	conversations []uuid.UUID
	payloads      []string
	// sent is closed when the round has been sent, or has failed with err.
	sent chan struct{}
	err  error
}

// announce adds the wake-up for ev to the next round and returns that round; wait on it with
// (*wakeRound).wait, or do not, to leave the wake-up to be sent.
func (w *waker) announce(ev transcript.Event) *wakeRound {
	p := payload(ev)
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.next
	if r == nil {
		r = &wakeRound{sent: make(chan struct{})}
		w.next = r
	}
	r.conversations = append(r.conversations, ev.Conversation)
	r.payloads = append(r.payloads, p)
	if !w.sending {
		w.sending = true
		go w.send()
	}
	return r
}

// send runs rounds until none is gathered.
func (w *waker) send() {
	for {
		w.mu.Lock()
		r := w.next
		w.next = nil
		if r == nil {
			w.sending = false
			w.mu.Unlock()
			return
		}
		w.rounds++
		w.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), wakeTimeout)
		_, err := w.pool.Exec(ctx, `SELECT transcript.wake($1, $2)`, r.conversations, r.payloads)
		cancel()
		if err != nil {
			r.err = fmt.Errorf("wake the watchers of %d conversations: %w", len(r.conversations), err)
			w.log.Warn("cannot wake the watchers of conversations; their next event will", "conversations", len(r.conversations), "error", err)
		}
		close(r.sent)
	}
}

// wait returns once the round has been sent, with its error, or when ctx ends.
func (r *wakeRound) wait(ctx context.Context) error {
	select {
	case <-r.sent:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
