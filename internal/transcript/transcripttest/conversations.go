package transcripttest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

func (h Harness[S]) serialsIncreaseByOne(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	first, second := uuid.New(), uuid.New()
	got := []transcript.Event{
		accept(t, s, conv, first),
		answer(t, s, conv, first),
		accept(t, s, conv, second),
		finish(t, s, conv, second, transcript.Failed, "no answer"),
	}
	checkEvent(t, got[0], conv, 1, transcript.Accepted, first, sentence(first), "")
	checkEvent(t, got[1], conv, 2, transcript.Reply, first, answerTo(first), sentence(first))
	checkEvent(t, got[2], conv, 3, transcript.Accepted, second, sentence(second), "")
	checkEvent(t, got[3], conv, 4, transcript.Failed, second, "no answer", sentence(second))

	stored := events(t, s, conv)
	if len(stored) != len(got) {
		t.Fatalf("%d events stored, want %d", len(stored), len(got))
	}
	for i := range got {
		if !sameEvent(stored[i], got[i]) {
			t.Errorf("stored event %+v, want %+v as appended", stored[i], got[i])
		}
	}
	if info, err := s.Open(t.Context(), conv, false, uuid.Nil); err != nil || info.LastSerial != 4 {
		t.Fatalf("open: %+v, %v; want last serial 4", info, err)
	}
}

func (h Harness[S]) openCreatesOnlyWhenAsked(t *testing.T) {
	s := h.NewStore(t, ttl)
	id := h.fresh(t, 1)[0]
	if _, err := s.Open(t.Context(), id, false, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("open of an unknown conversation without create: %v, want ErrNotFound", err)
	}
	for _, create := range []bool{true, true, false} { // created once, then found
		if info, err := s.Open(t.Context(), id, create, uuid.Nil); err != nil || info != (transcript.Info{ID: id}) {
			t.Fatalf("open (create %v): %+v, %v; want an empty conversation", create, info, err)
		}
	}
	accept(t, s, id, uuid.New())
	if info, err := s.Open(t.Context(), id, true, uuid.Nil); err != nil || info.LastSerial != 1 {
		t.Fatalf("open with create of an existing conversation: %+v, %v; want it as it is", info, err)
	}
}

// ownedConversationIsNotFoundToOthers: a conversation started by a client opens for it only;
// to another client, and to a caller without one, it is as unknown, also when they would
// create it. One started without a client opens for everyone.
func (h Harness[S]) ownedConversationIsNotFoundToOthers(t *testing.T) {
	s := h.NewStore(t, ttl)
	ids := h.fresh(t, 2)
	owned, open := ids[0], ids[1]
	ada, bob := uuid.New(), uuid.New()
	if _, err := s.Open(t.Context(), owned, true, ada); err != nil {
		t.Fatalf("start a conversation as a client: %v", err)
	}
	accept(t, s, owned, uuid.New())
	if info, err := s.Open(t.Context(), owned, false, ada); err != nil || info.LastSerial != 1 {
		t.Fatalf("open by its client: %+v, %v; want it, at serial 1", info, err)
	}
	for _, other := range []uuid.UUID{bob, uuid.Nil} {
		for _, create := range []bool{false, true} {
			if info, err := s.Open(t.Context(), owned, create, other); !errors.Is(err, transcript.ErrNotFound) {
				t.Fatalf("open by %s (create %v): %+v, %v; want ErrNotFound", other, create, info, err)
			}
		}
	}
	if _, err := s.Open(t.Context(), open, true, uuid.Nil); err != nil {
		t.Fatalf("start a conversation without a client: %v", err)
	}
	for _, anyone := range []uuid.UUID{ada, bob, uuid.Nil} {
		if _, err := s.Open(t.Context(), open, false, anyone); err != nil {
			t.Fatalf("open by %s of a conversation of no client: %v", anyone, err)
		}
	}
}

func (h Harness[S]) unknownConversationIsNotFound(t *testing.T) {
	s := h.NewStore(t, ttl)
	id := uuid.New() // never created
	if _, err := s.Open(t.Context(), id, false, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("open: %v, want ErrNotFound", err)
	}
	notFoundEverywhere(t, s, id)
}

func (h Harness[S]) idleConversationIsNotFound(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	accept(t, s, conv, uuid.New())
	h.Age(t, s, conv, ttl+time.Minute)
	for _, create := range []bool{false, true} {
		if info, err := s.Open(t.Context(), conv, create, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
			t.Fatalf("open of an idle conversation (create %v): %+v, %v; want ErrNotFound", create, info, err)
		}
	}
	notFoundEverywhere(t, s, conv)
}

// notFoundEverywhere checks that every method but Open says conv is not found.
func notFoundEverywhere(t *testing.T, s transcript.Store, conv uuid.UUID) {
	t.Helper()
	ctx, job := withDeadline(t), uuid.New()
	calls := map[string]func() error{
		"reserve": func() error { return s.Reserve(ctx, conv, job, "hello", 1) },
		"refuse":  func() error { _, _, err := s.Refuse(ctx, conv, job, "hello"); return err },
		"accept":  func() error { _, err := s.Accept(ctx, conv, job, "hello"); return err },
		"finish": func() error {
			_, _, err := s.Finish(ctx, conv, job, "hello", transcript.Reply, "hi")
			return err
		},
		"prepare": func() error { _, err := s.Prepare(ctx, conv, job, "hello", 10); return err },
		"waiting": func() error { _, err := s.Waiting(ctx, conv); return err },
		"events":  func() error { _, err := s.Events(ctx, conv, 0, 10); return err },
		"watch": func() error {
			_, _, stop, err := s.Watch(ctx, conv)
			if err == nil {
				stop()
			}
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, transcript.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}
