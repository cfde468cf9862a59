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
	if info, err := s.Open(t.Context(), conv, false); err != nil || info.LastSerial != 4 {
		t.Fatalf("open: %+v, %v; want last serial 4", info, err)
	}
}

func (h Harness[S]) openCreatesOnlyWhenAsked(t *testing.T) {
	s := h.NewStore(t, ttl)
	id := h.fresh(t, 1)[0]
	if _, err := s.Open(t.Context(), id, false); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("open of an unknown conversation without create: %v, want ErrNotFound", err)
	}
	for _, create := range []bool{true, true, false} { // created once, then found
		if info, err := s.Open(t.Context(), id, create); err != nil || info != (transcript.Info{ID: id}) {
			t.Fatalf("open (create %v): %+v, %v; want an empty conversation", create, info, err)
		}
	}
	accept(t, s, id, uuid.New())
	if info, err := s.Open(t.Context(), id, true); err != nil || info.LastSerial != 1 {
		t.Fatalf("open with create of an existing conversation: %+v, %v; want it as it is", info, err)
	}
}

func (h Harness[S]) unknownConversationIsNotFound(t *testing.T) {
	s := h.NewStore(t, ttl)
	id := uuid.New() // never created
	if _, err := s.Open(t.Context(), id, false); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("open: %v, want ErrNotFound", err)
	}
	notFoundEverywhere(t, s, id)
}

func (h Harness[S]) idleConversationIsNotFound(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	accept(t, s, conv, uuid.New())
	h.Age(t, s, conv, ttl+time.Minute)
	for _, create := range []bool{false, true} {
		if info, err := s.Open(t.Context(), conv, create); !errors.Is(err, transcript.ErrNotFound) {
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
