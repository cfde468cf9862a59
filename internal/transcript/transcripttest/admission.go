package transcripttest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// jobs returns n new job ids.
func jobs(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	return ids
}

// checkReserve fails t unless reserving job at limit gives want (nil or ErrFull).
func checkReserve(t *testing.T, s transcript.Store, conv, job uuid.UUID, limit int, want error, why string) {
	t.Helper()
	if err := reserve(t, s, conv, job, limit); !errors.Is(err, want) {
		t.Fatalf("%s: reserve gave %v, want %v", why, err, want)
	}
}

func (h Harness[S]) reserveCountsAcceptedAndFresh(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(4)
	checkReserve(t, s, conv, j[0], 2, nil, "first of two slots")
	accept(t, s, conv, j[0])
	checkReserve(t, s, conv, j[1], 2, nil, "second of two slots")
	checkReserve(t, s, conv, j[2], 2, transcript.ErrFull, "an accepted job and a fresh reservation hold both slots")

	// The front door that reserved j[1] died before accepting it: past the lease its
	// reservation no longer counts; the accepted job still does.
	h.Age(t, s, conv, transcript.ReservationLease+time.Second)
	checkReserve(t, s, conv, j[2], 2, nil, "a lapsed reservation frees its slot")
	checkReserve(t, s, conv, j[3], 2, transcript.ErrFull, "the accepted job and the new reservation hold both slots")
}

// concurrentReservesTakeAtMostLimit reserves many jobs of one conversation at once, through
// several stores on the same state where the harness can make them (front doors in several
// processes): exactly limit of them get a slot.
func (h Harness[S]) concurrentReservesTakeAtMostLimit(t *testing.T) {
	const limit, callers = 3, 16
	s, conv := h.storeWithConversation(t)
	others := []S{s}
	if h.Reopen != nil {
		others = append(others, h.Reopen(t, s, ttl), h.Reopen(t, s, ttl))
	}
	var reserved, full atomic.Int32
	var wg sync.WaitGroup
	for i, job := range jobs(callers) {
		wg.Go(func() {
			switch err := others[i%len(others)].Reserve(t.Context(), conv, job, sentence(job), limit); {
			case err == nil:
				reserved.Add(1)
			case errors.Is(err, transcript.ErrFull):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if reserved.Load() != limit || full.Load() != callers-limit {
		t.Fatalf("%d callers at once, limit %d: %d reserved, %d full", callers, limit, reserved.Load(), full.Load())
	}
}

func (h Harness[S]) reservingTwiceTakesOneSlot(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(3)
	checkReserve(t, s, conv, j[0], 2, nil, "first reservation")
	checkReserve(t, s, conv, j[0], 2, nil, "the same job again")
	checkReserve(t, s, conv, j[1], 2, nil, "the second slot is still free")
	checkReserve(t, s, conv, j[0], 2, nil, "a job holding a slot, at the limit")
	checkReserve(t, s, conv, j[2], 2, transcript.ErrFull, "both slots taken")
}

func (h Harness[S]) releaseFreesOnlyNotAccepted(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(3)
	checkReserve(t, s, conv, j[0], 1, nil, "the only slot")
	if err := s.Release(t.Context(), conv, j[0]); err != nil {
		t.Fatalf("release: %v", err)
	}
	checkReserve(t, s, conv, j[1], 1, nil, "the released slot")
	acc := accept(t, s, conv, j[1])
	if err := s.Release(t.Context(), conv, j[1]); err != nil { // too late: it is in the queue
		t.Fatalf("release of an accepted job: %v", err)
	}
	checkReserve(t, s, conv, j[2], 1, transcript.ErrFull, "an accepted job keeps its slot when released")
	if waiting, err := s.Waiting(t.Context(), conv); err != nil || !slices.Equal(waiting, j[1:2]) {
		t.Fatalf("waiting %v, %v; want the accepted job %s", waiting, err, j[1])
	}
	if again := accept(t, s, conv, j[1]); !sameEvent(again, acc) {
		t.Fatalf("accept after release: %+v, want %+v", again, acc)
	}
}

func (h Harness[S]) finishFreesTheSlot(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(2)
	checkReserve(t, s, conv, j[0], 1, nil, "the only slot")
	accept(t, s, conv, j[0])
	checkReserve(t, s, conv, j[1], 1, transcript.ErrFull, "the job is not answered yet")
	answer(t, s, conv, j[0])
	checkReserve(t, s, conv, j[1], 1, nil, "the answered job's slot")
}
