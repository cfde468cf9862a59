package queue_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/queue"
)

func TestGate_RefusesPastTheLimitAndFreesRoomOnRelease(t *testing.T) {
	g := queue.NewGate(3)
	for i := range 3 {
		if !g.Take() {
			t.Fatalf("admission %d refused", i)
		}
	}
	if g.Take() {
		t.Fatal("a fourth admission at once was let through")
	}
	g.Release()
	if !g.Take() {
		t.Fatal("refused after a release")
	}
}

func TestGate_IsSafeForConcurrentUse(t *testing.T) {
	g := queue.NewGate(4)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if g.Take() {
					g.Release()
				}
			}
		})
	}
	wg.Wait()
	for i := range 4 {
		if !g.Take() {
			t.Fatalf("slot %d leaked", i)
		}
	}
}

func TestJob_RoundTripsAndRequiresItsIdentity(t *testing.T) {
	j := queue.Job{ID: uuid.New(), ConversationID: uuid.New(), Sentence: "hi", EnqueuedAt: time.Unix(1, 0).UTC()}
	b, err := queue.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := queue.UnmarshalJob(b); err != nil || got != j {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{`not json`, `{"id":"` + uuid.NewString() + `"}`, `{"id":"x","conversation_id":"y"}`} {
		if _, err := queue.UnmarshalJob([]byte(bad)); err == nil {
			t.Errorf("%s decoded as a job", bad)
		}
	}
	// A sentence no transcript can hold is refused, by name: its rounds would fail for ever.
	nul := `{"id":"` + j.ID.String() + `","conversation_id":"` + j.ConversationID.String() + `","sentence":"a\u0000b"}`
	if _, err := queue.UnmarshalJob([]byte(nul)); !errors.Is(err, queue.ErrNUL) {
		t.Errorf("a job whose sentence holds a NUL: %v, want ErrNUL", err)
	}
	// A job written by the previous version still decodes.
	old := `{"id":"` + j.ID.String() + `","conversation_id":"` + j.ConversationID.String() + `","reply_to":"fd-1","sentence":"hi","history":[{"role":"user","content":"x"}]}`
	if got, err := queue.UnmarshalJob([]byte(old)); err != nil || got.Sentence != "hi" {
		t.Fatalf("old job: %+v %v", got, err)
	}
}
