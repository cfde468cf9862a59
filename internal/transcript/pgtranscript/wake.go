package pgtranscript

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/rounds"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// wakeTimeout bounds one round of wake-ups: a statement that notifies every conversation
// announced since the round before.
const wakeTimeout = 10 * time.Second

// wakeHold is how long a wake-up that nobody waits for (an accepted sentence's) may wait for
// others to share its round: a few milliseconds later for the other watchers of its
// conversation, and under a steady trickle of admissions a notifying transaction for several
// of them instead of one each.
const wakeHold = 5 * time.Millisecond

// waker sends the wake-ups of a Store's appends in rounds: the appends announced while one
// round is in flight go together in the next, one statement and one transaction for all
// of them, in the order they were announced, each notification carrying its event (payload).
// Under load that is one notifying transaction for many appends instead of one each; alone,
// an append's wake-up leaves at once, unless it is held (hold): then its round waits up to
// wakeHold for company, and leaves at once with the first wake-up that is not held.
type waker struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	rounds rounds.Group[wakeUp, struct{}]
}

// wakeUp is one notification: a conversation's channel and its payload.
type wakeUp struct {
	conversation uuid.UUID
	payload      string
}

func newWaker(pool *pgxpool.Pool, log *slog.Logger) *waker {
	w := &waker{pool: pool, log: log}
	w.rounds.Hold, w.rounds.Run = wakeHold, w.send
	return w
}

// announce adds the wake-up for ev to the next round and returns its ticket; wait on it, or
// do not, to leave the wake-up to be sent.
func (w *waker) announce(ev transcript.Event) rounds.Ticket[wakeUp, struct{}] {
	return w.rounds.Add(wakeUp{conversation: ev.Conversation, payload: payload(ev)})
}

// hold adds the wake-up for ev to the next round, which may wait up to wakeHold for more: for
// a wake-up that nobody waits for.
func (w *waker) hold(ev transcript.Event) {
	w.rounds.AddHeld(wakeUp{conversation: ev.Conversation, payload: payload(ev)})
}

// send sends a round's wake-ups in one statement.
func (w *waker) send(ups []wakeUp) ([]struct{}, error) {
	conversations, payloads := make([]uuid.UUID, len(ups)), make([]string, len(ups))
	for i, u := range ups {
		conversations[i], payloads[i] = u.conversation, u.payload
	}
	ctx, cancel := context.WithTimeout(context.Background(), wakeTimeout)
	defer cancel()
	if _, err := w.pool.Exec(ctx, `SELECT transcript.wake($1, $2)`, conversations, payloads); err != nil {
		w.log.Warn("cannot wake the watchers of conversations; their next event will", "conversations", len(ups), "error", err)
		return nil, fmt.Errorf("wake the watchers of %d conversations: %w", len(ups), err)
	}
	return make([]struct{}, len(ups)), nil
}
