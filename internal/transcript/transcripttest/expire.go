package transcripttest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// century is the TTL of Expire's store. No real conversation is idle that long, so on a
// shared database Expire finds only those the suite aged past it (or a twin run's).
const century = 100 * 365 * 24 * time.Hour

func (h Harness[S]) expireDeletesOnlyIdle(t *testing.T) {
	s := h.NewStore(t, century)
	idle := []uuid.UUID{h.conversation(t, s), h.conversation(t, s)}
	old := h.conversation(t, s)
	for _, conv := range append([]uuid.UUID{old}, idle...) {
		accept(t, s, conv, uuid.New())
	}
	for _, conv := range idle {
		h.Age(t, s, conv, century+time.Hour)
	}
	// Old, not idle. On a shared database the dispatchers running beside the suite sweep
	// with their own TTL (a day by default) and would take a conversation that old, and the
	// suite's idle ones before it: there, the suite checks bounds, not exact counts.
	notIdle, exactly := century-time.Hour, 1
	if h.Shared {
		notIdle, exactly = time.Hour, -1
	}
	h.Age(t, s, old, notIdle)

	expire(t, s, 0, 0)
	expire(t, s, 1, exactly)
	if n := h.deleted(t, s, idle); n > 1 || (!h.Shared && n != 1) {
		t.Fatalf("expire of one deleted %d of the suite's idle conversations, want 1", n)
	}
	for expire(t, s, 1000, -1) == 1000 { // until every idle conversation is gone
	}
	if n := h.deleted(t, s, idle); n != len(idle) {
		t.Fatalf("after expiring every idle conversation, %d of the suite's %d are deleted", n, len(idle))
	}
	if info, err := s.Open(t.Context(), old, false); err != nil || info.LastSerial != 1 {
		t.Fatalf("a conversation not idle: %+v, %v; want it kept", info, err)
	}
}

// expire runs Expire with batch and returns how many it deleted; want, if not negative, is
// how many it must delete.
func expire(t *testing.T, s transcript.Store, batch, want int) int {
	t.Helper()
	n, err := s.Expire(t.Context(), batch)
	if err != nil || n > max(batch, 0) || (want >= 0 && n != want) {
		t.Fatalf("expire of at most %d: deleted %d, %v; want %d", batch, n, err, want)
	}
	return n
}

// deleted returns how many of the idle conversations have been deleted. An idle conversation
// is not found, even by Open with create; a deleted one is created again (empty), and stays
// so: the ids are not reused otherwise.
func (h Harness[S]) deleted(t *testing.T, s S, idle []uuid.UUID) int {
	t.Helper()
	n := 0
	for _, conv := range idle {
		info, err := s.Open(t.Context(), conv, true)
		switch {
		case errors.Is(err, transcript.ErrNotFound):
		case err != nil || info.LastSerial != 0:
			t.Fatalf("open of idle or expired conversation: %+v, %v", info, err)
		default:
			n++
		}
	}
	return n
}

// A conversation deleted by Expire wakes its watchers, and what they then read says it is
// gone: a stream open on it ends at once, instead of waiting for its client's next sentence
// (or for ever, for a Watch or a stream half-closed).
func (h Harness[S]) expireWakesTheWatchersOfWhatItDeletes(t *testing.T) {
	s := h.NewStore(t, century)
	conv := h.conversation(t, s)
	wake, _ := watch(t, s, conv)
	accept(t, s, conv, uuid.New())
	// Its wake-up taken, so that the next is the deletion's.
	woken(t, wake, "after an accept")
	const last = 1 // the accept's serial
	h.Age(t, s, conv, century+time.Hour)
	for expire(t, s, 1000, -1) == 1000 { // until every idle conversation is gone
	}
	woken(t, wake, "after its conversation was deleted")
	if evs, ok := s.Heard(conv, last); ok {
		t.Fatalf("heard %v after the conversation was deleted, want to be told to read", evs)
	}
	if _, err := s.Events(t.Context(), conv, last, 10); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("events of the deleted conversation: %v, want ErrNotFound", err)
	}
}
