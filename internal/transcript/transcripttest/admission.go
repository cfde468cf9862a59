package transcripttest

import (
	"errors"
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

// refuse refuses job, failing t unless the store reports it refused.
func refuse(t *testing.T, s transcript.Store, conv, job uuid.UUID) {
	t.Helper()
	if ev, refused, err := s.Refuse(t.Context(), conv, job, sentence(job)); err != nil || !refused {
		t.Fatalf("refuse job %s: refused %v (accepted %+v), %v; want refused", job, refused, ev, err)
	}
}

// prepare prepares job as a worker does, with up to 10 exchanges.
func prepare(t *testing.T, s transcript.Store, conv, job uuid.UUID) transcript.Preparation {
	t.Helper()
	p, err := s.Prepare(t.Context(), conv, job, sentence(job), 10)
	if err != nil {
		t.Fatalf("prepare job %s: %v", job, err)
	}
	return p
}

func (h Harness[S]) refusedJobFreesItsSlotAndIsNeverAnswered(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(3)
	checkReserve(t, s, conv, j[0], 1, nil, "the only slot")
	refuse(t, s, conv, j[0])
	refuse(t, s, conv, j[0]) // refusing twice refuses once
	checkReserve(t, s, conv, j[1], 1, nil, "the refused job's slot")

	// Its Kafka write landed after all: the worker that finds it must skip it.
	if p := prepare(t, s, conv, j[0]); !p.Refused || p.Outcome != nil || len(p.Exchanges) != 0 {
		t.Fatalf("prepare of a refused job: %+v, want Refused only", p)
	}
	if ev, err := s.Accept(t.Context(), conv, j[0], sentence(j[0])); !errors.Is(err, transcript.ErrRefused) {
		t.Fatalf("accept of a refused job: %+v, %v; want ErrRefused", ev, err)
	}
	if ev, recorded, err := s.Finish(t.Context(), conv, j[0], sentence(j[0]), transcript.Reply, "hi"); !errors.Is(err, transcript.ErrRefused) || recorded {
		t.Fatalf("finish of a refused job: %+v, %v, %v; want ErrRefused", ev, recorded, err)
	}
	// A job whose reservation the store lost can be refused too.
	refuse(t, s, conv, j[2])
	if p := prepare(t, s, conv, j[2]); !p.Refused {
		t.Fatalf("prepare of a refused job that had no reservation: %+v, want Refused", p)
	}
	if evs := events(t, s, conv); len(evs) != 0 {
		t.Fatalf("refused jobs appended events: %+v", evs)
	}
	if waiting, err := s.Waiting(t.Context(), conv); err != nil || len(waiting) != 0 {
		t.Fatalf("waiting %v, %v; want none (refused jobs never wait)", waiting, err)
	}
}

func (h Harness[S]) prepareTakesTheJobBeforeRefuse(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(2)
	checkReserve(t, s, conv, j[0], 1, nil, "the only slot")
	wake, _, stop, err := s.Watch(withDeadline(t), conv)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// The front door's write timed out, but the job reached the queue and a worker took it
	// first: Prepare accepts it and wakes the watchers.
	if p := prepare(t, s, conv, j[0]); p.Refused || p.Outcome != nil {
		t.Fatalf("prepare of a reserved job: %+v, want it taken", p)
	}
	select {
	case <-wake:
	case <-withDeadline(t).Done():
		t.Fatal("prepare accepted the job without waking the watchers")
	}
	evs := events(t, s, conv)
	if len(evs) != 1 {
		t.Fatalf("events after prepare %+v, want one Accepted", evs)
	}
	checkEvent(t, evs[0], conv, 1, transcript.Accepted, j[0], sentence(j[0]), "")

	// The front door's Refuse comes too late: the job is enqueued after all.
	ev, refused, err := s.Refuse(t.Context(), conv, j[0], sentence(j[0]))
	if err != nil || refused || !sameEvent(ev, evs[0]) {
		t.Fatalf("refuse of a taken job: %+v, refused %v, %v; want %+v, not refused", ev, refused, err, evs[0])
	}
	if again := accept(t, s, conv, j[0]); !sameEvent(again, evs[0]) {
		t.Fatalf("accept of a taken job: %+v, want %+v", again, evs[0])
	}
	checkReserve(t, s, conv, j[1], 1, transcript.ErrFull, "the taken job keeps its slot")
	if p := prepare(t, s, conv, j[0]); p.Refused || p.Outcome != nil { // the job redone: taken once
		t.Fatalf("prepare again: %+v", p)
	}
	if evs := events(t, s, conv); len(evs) != 1 {
		t.Fatalf("events after a second prepare %+v, want the one Accepted", evs)
	}
}

// refuseAndPrepareRacing refuses and prepares many jobs at once, through several stores where
// the harness can make them (a front door and a worker in two processes): for each job exactly
// one of them wins, and both see the same outcome.
func (h Harness[S]) refuseAndPrepareRacing(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	other := s
	if h.Reopen != nil {
		other = h.Reopen(t, s, ttl)
	}
	js := jobs(24)
	type result struct {
		refused  bool
		accepted transcript.Event
		prep     transcript.Preparation
	}
	results := make([]result, len(js))
	var wg sync.WaitGroup
	for i, job := range js {
		if err := reserve(t, s, conv, job, len(js)); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ev, refused, err := s.Refuse(t.Context(), conv, job, sentence(job))
			if err != nil {
				t.Error(err)
			}
			results[i].refused, results[i].accepted = refused, ev
		})
		wg.Go(func() {
			p, err := other.Prepare(t.Context(), conv, job, sentence(job), 0)
			if err != nil {
				t.Error(err)
			}
			results[i].prep = p
		})
	}
	wg.Wait()
	accepted := map[uuid.UUID]transcript.Event{}
	for _, ev := range events(t, s, conv) {
		accepted[ev.JobID] = ev
	}
	var refusals int
	for i, r := range results {
		ev, taken := accepted[js[i]]
		switch {
		case r.refused != r.prep.Refused:
			t.Errorf("job %d: Refuse says refused %v, Prepare %v", i, r.refused, r.prep.Refused)
		case r.refused && taken:
			t.Errorf("job %d: refused, yet accepted as %+v", i, ev)
		case !r.refused && (!taken || !sameEvent(r.accepted, ev)):
			t.Errorf("job %d: taken, Refuse returned %+v; the transcript has %+v", i, r.accepted, ev)
		case r.refused:
			refusals++
		}
	}
	t.Logf("%d of %d jobs refused first, the rest taken first", refusals, len(js))
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
