package transcripttest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// The checks that a watcher is not woken use a barrier instead of waiting for a while: a
// wake-up of another watcher, caused by a later append, shows that the store has delivered
// whatever it was going to deliver for the appends before it (a store wakes its watchers in
// the order the appends committed, pgtranscript over one connection).

// watch watches conv until t ends, or until the returned stop.
func watch(t *testing.T, s transcript.Store, conv uuid.UUID) (<-chan struct{}, func()) {
	t.Helper()
	wake, _, stop, err := s.Watch(withDeadline(t), conv)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(stop)
	return wake, stop
}

// woken waits for a wake-up, failing t after orDeadline.
func woken(t *testing.T, wake <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wake:
	case <-time.After(orDeadline):
		t.Fatalf("%s: no wake-up within %v", what, orDeadline)
	}
}

// notWoken fails t if a wake-up is pending.
func notWoken(t *testing.T, wake <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wake:
		t.Fatalf("%s: woken", what)
	default:
	}
}

// A watcher learns from Watch how far the conversation is: the events up to its last serial
// are in the transcript, and each one after wakes it.
func (h Harness[S]) watchReturnsTheLastSerial(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	_, last, stop, err := s.Watch(withDeadline(t), conv)
	if err != nil || last != 0 {
		t.Fatalf("watch of a new conversation: last %d, %v; want 0", last, err)
	}
	stop()
	first, second := uuid.New(), uuid.New()
	accept(t, s, conv, first)
	answer(t, s, conv, first)
	wake, last, stop, err := s.Watch(withDeadline(t), conv)
	if err != nil || last != 2 {
		t.Fatalf("watch after an accept and its answer: last %d, %v; want 2", last, err)
	}
	t.Cleanup(stop)
	ev := accept(t, s, conv, second)
	woken(t, wake, "after an accept past the last serial")
	if after, err := s.Events(t.Context(), conv, last, 10); err != nil || len(after) != 1 || after[0].Serial != ev.Serial || ev.Serial != last+1 {
		t.Fatalf("events after the last serial: %v, %v; want the one accepted, serial %d", after, err, last+1)
	}
}

func (h Harness[S]) watchWakesForAppends(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	wake, _ := watch(t, s, conv)
	job := uuid.New()
	accept(t, s, conv, job)
	woken(t, wake, "after an accept")
	if evs := events(t, s, conv); len(evs) != 1 {
		t.Fatalf("%d events after the wake-up, want 1", len(evs))
	}
	answer(t, s, conv, job)
	woken(t, wake, "after a finish")
}

func (h Harness[S]) wakeUpsAreCoalesced(t *testing.T) {
	s := h.NewStore(t, ttl)
	conv, barrier := h.conversation(t, s), h.conversation(t, s)
	wake, _ := watch(t, s, conv)
	barrierWake, _ := watch(t, s, barrier)
	for _, job := range jobs(3) {
		accept(t, s, conv, job)
	}
	accept(t, s, barrier, uuid.New())
	woken(t, barrierWake, "the barrier")
	woken(t, wake, "after three appends")
	notWoken(t, wake, "a second time for three appends read at once")
}

func (h Harness[S]) stoppedWatchIsNotWoken(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	stopped, stop := watch(t, s, conv)
	barrier, _ := watch(t, s, conv)
	stop()
	stop() // stopping twice is harmless
	accept(t, s, conv, uuid.New())
	woken(t, barrier, "the other watcher")
	notWoken(t, stopped, "a stopped watcher")

	// When the last watcher stops and another comes, the new one is woken.
	_, stopBarrier := watch(t, s, conv)
	stopBarrier()
	rewatched, _ := watch(t, s, conv)
	accept(t, s, conv, uuid.New())
	woken(t, rewatched, "a watcher after the last one stopped")
}

func (h Harness[S]) watchIgnoresOtherConversations(t *testing.T) {
	s := h.NewStore(t, ttl)
	conv, other := h.conversation(t, s), h.conversation(t, s)
	wake, _ := watch(t, s, conv)
	otherWake, _ := watch(t, s, other)
	accept(t, s, other, uuid.New())
	woken(t, otherWake, "the other conversation's watcher")
	notWoken(t, wake, "by another conversation's append")
}

func (h Harness[S]) wokenThroughAnotherStore(t *testing.T) {
	if h.Reopen == nil {
		t.Skip("this store shares its state with no other (Harness.Reopen is nil)")
	}
	s := h.NewStore(t, ttl)
	other := h.Reopen(t, s, ttl)
	conv := h.conversation(t, s)
	wake, _ := watch(t, s, conv)
	otherWake, _ := watch(t, other, conv)
	accept(t, other, conv, uuid.New())
	woken(t, wake, "by an append through another store")
	answer(t, s, conv, uuid.New())
	woken(t, otherWake, "the other store's watcher")
	if evs := events(t, s, conv); len(evs) != 3 {
		t.Fatalf("%d events, want 3 from both stores", len(evs))
	}
}

// callingAgainWakes: a redone job's Accept and Finish append nothing but wake the watchers,
// which may have missed the first wake-up (a process that stored the outcome and died).
func (h Harness[S]) callingAgainWakes(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	job := uuid.New()
	accept(t, s, conv, job)
	answer(t, s, conv, job)
	wake, _ := watch(t, s, conv)
	accept(t, s, conv, job)
	woken(t, wake, "by an accept called again")
	if _, recorded, err := s.Finish(t.Context(), conv, job, sentence(job), transcript.Reply, "again"); err != nil || recorded {
		t.Fatalf("finish called again: recorded %v, %v", recorded, err)
	}
	woken(t, wake, "by a finish called again")
	if evs := events(t, s, conv); len(evs) != 2 {
		t.Fatalf("%d events, want 2: calling again must append nothing", len(evs))
	}
}

// heardIsWhatAWatcherWasWokenFor: once a watcher is woken for an append, Heard returns the
// events it was woken for after a serial (small events, woken for one by one: every store
// holds those), and nothing to read after the last; a conversation nobody watches is unknown.
func (h Harness[S]) heardIsWhatAWatcherWasWokenFor(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	if _, ok := s.Heard(conv, 0); ok {
		t.Fatal("Heard of a conversation nobody watches: ok, want unknown")
	}
	wake, _ := watch(t, s, conv)
	job := uuid.New()
	var all []transcript.Event
	for _, ev := range []func() transcript.Event{
		func() transcript.Event { return accept(t, s, conv, job) },
		func() transcript.Event { return answer(t, s, conv, job) },
	} {
		appended := ev()
		all = append(all, appended)
		woken(t, wake, "after an append")
		if evs, ok := s.Heard(conv, appended.Serial); !ok || len(evs) != 0 {
			t.Fatalf("Heard after the serial woken for (%d): %v, %v; want nothing to read", appended.Serial, evs, ok)
		}
		if evs, ok := s.Heard(conv, 0); !ok || !sameEvents(evs, all) {
			t.Fatalf("Heard after serial 0: %v, %v; want every event woken for, %v", evs, ok, all)
		}
	}
}

// sameEvents reports whether a and b are the same events, their times equal to the
// microsecond (what Postgres keeps).
func sameEvents(a, b []transcript.Event) bool {
	return slices.EqualFunc(a, b, func(x, y transcript.Event) bool {
		x.At, y.At = x.At.Truncate(time.Microsecond), y.At.Truncate(time.Microsecond)
		return x.At.Equal(y.At) && x.Conversation == y.Conversation && x.Serial == y.Serial && x.Kind == y.Kind &&
			x.JobID == y.JobID && x.Text == y.Text && x.InReplyTo == y.InReplyTo
	})
}
