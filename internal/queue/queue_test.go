package queue_test

import (
	"sync"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/queue"
)

func TestGate_RefusesPastTheStreamLimitAndFreesRoomOnRelease(t *testing.T) {
	g := queue.NewGate(3, 100)
	s := g.Open()
	for i := range 3 {
		if got := s.Admit(); got != queue.Admitted {
			t.Fatalf("job %d: %v", i, got)
		}
	}
	for range 3 {
		if got := s.Admit(); got != queue.StreamFull {
			t.Fatalf("past the limit: %v, want StreamFull", got)
		}
	}
	s.Release()
	if got := s.Admit(); got != queue.Admitted {
		t.Fatalf("after an answer: %v", got)
	}
	if other := g.Open(); other.Admit() != queue.Admitted {
		t.Fatal("another stream was refused because of this one")
	}
}

func TestGate_BoundsTheProcess(t *testing.T) {
	g := queue.NewGate(10, 4)
	a, b := g.Open(), g.Open()
	for range 2 {
		a.Admit()
		b.Admit()
	}
	if got := g.Open().Admit(); got != queue.ProcessFull {
		t.Fatalf("a fifth job in the process: %v, want ProcessFull", got)
	}
	a.Release()
	if got := g.Open().Admit(); got != queue.Admitted {
		t.Fatalf("after a release: %v", got)
	}
}

func TestGate_IsSafeForConcurrentStreams(t *testing.T) {
	g := queue.NewGate(1000, 1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s := g.Open()
			for range 100 {
				if s.Admit() == queue.Admitted {
					s.Release()
				}
			}
		})
	}
	wg.Wait()
	if got := g.Open().Admit(); got != queue.Admitted {
		t.Fatalf("slots leaked: %v", got)
	}
}

func TestRecords_RoundTripAndRequireIdentity(t *testing.T) {
	j := queue.Job{ID: "j1", ConversationID: "c1", ReplyTo: "fd-1", Sentence: "hi", EnqueuedAt: time.Unix(1, 0).UTC(),
		History: []queue.Turn{{Role: "user", Content: "earlier"}}}
	b, err := queue.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	got, err := queue.UnmarshalJob(b)
	if err != nil || got.ID != j.ID || got.History[0] != j.History[0] || !got.EnqueuedAt.Equal(j.EnqueuedAt) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := queue.UnmarshalJob([]byte(`{"id":"x"}`)); err == nil {
		t.Fatal("a job without conversation and reply_to was accepted")
	}
	if _, err := queue.UnmarshalReply([]byte(`not json`)); err == nil {
		t.Fatal("garbage accepted as a reply")
	}
}
