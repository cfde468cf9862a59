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

// waker sends the wake-ups of a Store's appends in rounds: the appends announced while one
// round is in flight go out together in the next, one statement and one transaction for all
// of them, in the order they were announced, each notification carrying its event (payload).
// Under load that is one notifying transaction for many appends instead of one each; alone,
// an append's wake-up leaves at once.
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
	w.rounds.Run = w.send
	return w
}

// announce adds the wake-up for ev to the next round and returns that round; wait on it, or
// do not, to leave the wake-up to be sent.
func (w *waker) announce(ev transcript.Event) *rounds.Round[wakeUp, struct{}] {
	r, _ := w.rounds.Add(wakeUp{conversation: ev.Conversation, payload: payload(ev)})
	return r
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
