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

func (h Harness[S]) expireTakesOnlyIdle(t *testing.T) {
	s := h.NewStore(t, century)
	idle := []uuid.UUID{h.conversation(t, s), h.conversation(t, s), h.conversation(t, s)}
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
	notIdle, exactly := century-time.Hour, 2
	if h.Shared {
		notIdle, exactly = time.Hour, -1
	}
	h.Age(t, s, old, notIdle)

	expire(t, s, 0, 0)
	expire(t, s, 2, exactly)
	emptied := 0
	for _, conv := range idle {
		if h.Held(t, s, conv) == 0 {
			emptied++
		}
		if _, err := s.Open(t.Context(), conv, true, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
			t.Fatalf("open with create of an idle or expired conversation: %v, want ErrNotFound until it is forgotten", err)
		}
	}
	if !h.Shared && emptied != 2 {
		t.Fatalf("an expire of two emptied %d of the suite's idle conversations, want 2", emptied)
	}
	// A TTL later: the third is expired, and the batch's room left forgets one of the two
	// expired before; the next Expires forget the other. (A dispatcher beside the suite may
	// have taken all three before.)
	for _, conv := range idle {
		h.Age(t, s, conv, century+time.Hour)
	}
	expire(t, s, 2, exactly)
	expireAll(t, s)
	left := h.notForgotten(t, s, idle)
	if n := len(idle) - len(left); !h.Shared && n != 2 {
		t.Fatalf("a TTL after an expire of two, %d of the suite's idle conversations are forgotten, want 2", n)
	}
	for _, conv := range left {
		h.Age(t, s, conv, century+time.Hour)
	}
	expireAll(t, s)
	if left := h.notForgotten(t, s, left); len(left) != 0 {
		t.Fatalf("a TTL after every idle conversation expired, %d of the suite's %d are not forgotten", len(left), len(idle))
	}
	if info, err := s.Open(t.Context(), old, false, uuid.Nil); err != nil || info.LastSerial != 1 || h.Held(t, s, old) != 2 {
		t.Fatalf("a conversation not idle: %+v, %v; want it kept, with its event and job", info, err)
	}
}

// expire runs Expire with batch and returns how many it expired or forgot; want, if not
// negative, is how many it must.
func expire(t *testing.T, s transcript.Store, batch, want int) int {
	t.Helper()
	n, err := s.Expire(t.Context(), batch)
	if err != nil || n > max(batch, 0) || (want >= 0 && n != want) {
		t.Fatalf("expire of at most %d: %d, %v; want %d", batch, n, err, want)
	}
	return n
}

// expireAll runs Expire until it has nothing left to do.
func expireAll(t *testing.T, s transcript.Store) {
	t.Helper()
	for expire(t, s, 1000, -1) == 1000 {
	}
}

// notForgotten returns the conversations of convs that Expire has not forgotten. An idle or
// expired conversation is not found, even by Open with create; a forgotten one is started
// again (empty) by that Open, and stays so: the ids are not reused otherwise.
func (h Harness[S]) notForgotten(t *testing.T, s S, convs []uuid.UUID) []uuid.UUID {
	t.Helper()
	var left []uuid.UUID
	for _, conv := range convs {
		info, err := s.Open(t.Context(), conv, true, uuid.Nil)
		switch {
		case errors.Is(err, transcript.ErrNotFound):
			left = append(left, conv)
		case err != nil || info.LastSerial != 0:
			t.Fatalf("open of an idle, expired or forgotten conversation: %+v, %v", info, err)
		}
	}
	return left
}

// A conversation expired by Expire wakes its watchers, and what they then read says it is
// gone: a stream open on it ends at once, instead of waiting for its client's next sentence
// (or for ever, for a Watch or a stream half-closed). Its id starts no new conversation until
// Expire forgets it, a TTL later, so a watcher that reads only after a client tried to start
// one under the id still finds it gone, and not a new one whose events it would take for its
// own; and a worker that takes one of its jobs late finds it gone too, instead of accepting
// the job into a new conversation.
func (h Harness[S]) expireWakesTheWatchersOfWhatItExpires(t *testing.T) {
	s := h.NewStore(t, century)
	conv := h.conversation(t, s)
	wake, _ := watch(t, s, conv)
	accept(t, s, conv, uuid.New())
	// Its wake-up taken, so that the next is the expiry's.
	woken(t, wake, "after an accept")
	const last = 1 // the accept's serial
	h.Age(t, s, conv, century+time.Hour)
	expireAll(t, s)
	woken(t, wake, "after its conversation expired")
	if evs, ok := s.Heard(conv, last); ok {
		t.Fatalf("heard %v after the conversation expired, want to be told to read", evs)
	}
	if n := h.Held(t, s, conv); n != 0 {
		t.Fatalf("the expired conversation's events and jobs: %d held, want none", n)
	}
	stores := []S{s}
	if h.Reopen != nil {
		// A process whose TTL is longer than the one it expired with: gone to it too, though
		// the conversation's last activity is within its TTL.
		stores = append(stores, h.Reopen(t, s, 2*century))
	}
	for _, s := range stores {
		if _, err := s.Open(t.Context(), conv, true, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
			t.Fatalf("open with create of the expired conversation: %v, want ErrNotFound", err)
		}
	}
	late := uuid.New()
	if _, err := s.Prepare(t.Context(), conv, late, sentence(late), -1); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("prepare of a job of the expired conversation: %v, want ErrNotFound", err)
	}
	if _, err := s.Events(t.Context(), conv, last, 10); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("the watcher's read of the expired conversation: %v, want ErrNotFound", err)
	}

	h.Age(t, s, conv, century+time.Hour)
	expireAll(t, s)
	if info, err := s.Open(t.Context(), conv, true, uuid.Nil); err != nil || info.LastSerial != 0 {
		t.Fatalf("open with create of the conversation a TTL after it expired: %+v, %v; want a new one", info, err)
	}
}

// A job the conversation does not know, made for an earlier conversation under its id (its
// id a UUIDv7 made more than half the TTL before the conversation), is not recorded in it: every
// method finds the conversation gone to it. Such a job outlived the two TTLs after which the
// id could start a new conversation (a model call, or a wait in Kafka, that long), and its
// answer would otherwise land among the new conversation's events. The conversation's own
// jobs are recorded, those it does not know yet (made after it, or with ids of another
// version) as those it knows.
func (h Harness[S]) earlierConversationsJobIsNotRecorded(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	ctx := t.Context()
	earlier := v7At(t, time.Now().Add(-3*ttl/4))
	if _, err := s.Prepare(ctx, conv, earlier, sentence(earlier), -1); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("prepare of an earlier conversation's job: %v, want ErrNotFound", err)
	}
	if _, err := s.Accept(ctx, conv, earlier, sentence(earlier)); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("accept of an earlier conversation's job: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Finish(ctx, conv, earlier, sentence(earlier), transcript.Reply, answerTo(earlier)); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("finish of an earlier conversation's job: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Refuse(ctx, conv, earlier, sentence(earlier)); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("refuse of an earlier conversation's job: %v, want ErrNotFound", err)
	}
	if n := len(events(t, s, conv)); n != 0 {
		t.Fatalf("%d events after an earlier conversation's job, want none", n)
	}
	// Within half the TTL of the conversation: a front door's clock behind the store's.
	for _, job := range []uuid.UUID{v7At(t, time.Now().Add(-ttl/4)), uuid.New()} {
		answer(t, s, conv, job) // not known to it: the Accepted event first, then the reply
	}
	known := v7At(t, time.Now().Add(-2*ttl))
	if err := reserve(t, s, conv, known, 10); err != nil {
		t.Fatal(err)
	}
	accept(t, s, conv, known)
	if n := len(events(t, s, conv)); n != 5 {
		t.Fatalf("%d events, want the two jobs made for the conversation, each accepted and answered, and the one it knew, accepted", n)
	}
}

// v7At returns a UUIDv7 whose time is at.
func v7At(t *testing.T, at time.Time) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	ms := uint64(at.UnixMilli())
	for i := range 6 {
		id[i] = byte(ms >> (8 * (5 - i)))
	}
	return id
}
