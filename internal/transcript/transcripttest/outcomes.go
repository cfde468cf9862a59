package transcripttest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

func (h Harness[S]) acceptTwiceReturnsTheSameEvent(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	job := uuid.New()
	if err := reserve(t, s, conv, job, 1); err != nil {
		t.Fatal(err)
	}
	first := accept(t, s, conv, job)
	checkEvent(t, first, conv, 1, transcript.Accepted, job, sentence(job), "")
	if again := accept(t, s, conv, job); !sameEvent(again, first) {
		t.Fatalf("second accept: %+v, want the first %+v", again, first)
	}
	if n := len(events(t, s, conv)); n != 1 {
		t.Fatalf("%d events after accepting one job twice, want 1", n)
	}
}

func (h Harness[S]) finishTwiceRecordsTheFirstOutcome(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	job := uuid.New()
	accept(t, s, conv, job)
	first := answer(t, s, conv, job)
	// A redone job, with another answer this time, or an error.
	for _, kind := range []transcript.Kind{transcript.Reply, transcript.Failed} {
		again, recorded, err := s.Finish(t.Context(), conv, job, sentence(job), kind, "another outcome")
		if err != nil || recorded || !sameEvent(again, first) {
			t.Fatalf("finish again with %s: %+v, recorded %v, %v; want the first %+v, not recorded", kind, again, recorded, err, first)
		}
	}
	if n := len(events(t, s, conv)); n != 2 {
		t.Fatalf("%d events, want the accepted and the first outcome", n)
	}
}

// finishRefusesWhatIsNotAnOutcome: Finish records a Reply or a Failed, nothing else, and says
// so as ErrInvalid, which a retrying caller stops at; nothing is appended.
func (h Harness[S]) finishRefusesWhatIsNotAnOutcome(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	job := uuid.New()
	accept(t, s, conv, job)
	for _, kind := range []transcript.Kind{transcript.Accepted, transcript.Kind("shrug")} {
		if _, recorded, err := s.Finish(t.Context(), conv, job, sentence(job), kind, "an outcome?"); !errors.Is(err, transcript.ErrInvalid) || recorded {
			t.Fatalf("finish as %q: recorded %v, %v; want ErrInvalid", kind, recorded, err)
		}
	}
	if n := len(events(t, s, conv)); n != 1 {
		t.Fatalf("%d events, want the accepted one only", n)
	}
}

func (h Harness[S]) finishWithoutAcceptAppendsAccepted(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	reserved, unknown := uuid.New(), uuid.New()
	// The front door reserved and enqueued one job and died before accepting it; the other
	// it never even reserved.
	if err := reserve(t, s, conv, reserved, 2); err != nil {
		t.Fatal(err)
	}
	checkEvent(t, answer(t, s, conv, reserved), conv, 2, transcript.Reply, reserved, answerTo(reserved), sentence(reserved))
	checkEvent(t, finish(t, s, conv, unknown, transcript.Failed, "sorry"), conv, 4, transcript.Failed, unknown, "sorry", sentence(unknown))
	evs := events(t, s, conv)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	checkEvent(t, evs[0], conv, 1, transcript.Accepted, reserved, sentence(reserved), "")
	checkEvent(t, evs[2], conv, 3, transcript.Accepted, unknown, sentence(unknown), "")
	// The front door, back, accepts it after all: it gets the event Finish appended.
	if late := accept(t, s, conv, reserved); !sameEvent(late, evs[0]) {
		t.Fatalf("accept after finish: %+v, want %+v", late, evs[0])
	}
}

func (h Harness[S]) prepareReadsTheRecordedOutcome(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	answered, failed, pending, unknown := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	accept(t, s, conv, pending)
	want := map[uuid.UUID]transcript.Event{
		answered: answer(t, s, conv, answered),
		failed:   finish(t, s, conv, failed, transcript.Failed, "sorry"),
	}
	for _, job := range []uuid.UUID{answered, failed, pending, unknown} {
		p, err := s.Prepare(t.Context(), conv, job, sentence(job), 10)
		w, has := want[job]
		if err != nil || (p.Outcome != nil) != has || (has && !sameEvent(*p.Outcome, w)) {
			t.Errorf("outcome of job %s: %+v, %v; want %+v, %v", job, p.Outcome, err, w, has)
		}
	}
}

func (h Harness[S]) waitingListsAcceptedWithoutOutcome(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(4)
	if err := reserve(t, s, conv, j[0], 10); err != nil { // reserved, never accepted
		t.Fatal(err)
	}
	for _, job := range []uuid.UUID{j[3], j[1], j[2]} {
		accept(t, s, conv, job)
	}
	answer(t, s, conv, j[1])
	if got, err := s.Waiting(t.Context(), conv); err != nil || !slices.Equal(got, []uuid.UUID{j[3], j[2]}) {
		t.Fatalf("waiting %v, %v; want %v", got, err, []uuid.UUID{j[3], j[2]})
	}
}

// concurrentAcceptsAndFinishes accepts and finishes jobs of one conversation from many
// goroutines at once, each job several times, as front doors and redone workers do.
func (h Harness[S]) concurrentAcceptsAndFinishes(t *testing.T) {
	const callers = 3 // per job
	s, conv := h.storeWithConversation(t)
	js := jobs(8)
	var mu sync.Mutex
	recorded := map[uuid.UUID][]transcript.Event{}
	returned := map[uuid.UUID][]transcript.Event{}
	var wg sync.WaitGroup
	for _, job := range js {
		for i := range callers {
			wg.Go(func() {
				if i > 0 { // the first caller's job is finished without Accept
					if _, err := s.Accept(t.Context(), conv, job, sentence(job)); err != nil {
						t.Error(err)
						return
					}
				}
				ev, rec, err := s.Finish(t.Context(), conv, job, sentence(job), transcript.Reply, fmt.Sprint("answer ", i))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				returned[job] = append(returned[job], ev)
				if rec {
					recorded[job] = append(recorded[job], ev)
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	evs := events(t, s, conv)
	if len(evs) != 2*len(js) {
		t.Fatalf("%d events, want an accepted and an outcome for each of %d jobs", len(evs), len(js))
	}
	accepted := map[uuid.UUID]uint64{}
	for i, ev := range evs {
		if ev.Serial != uint64(i+1) {
			t.Fatalf("event %d has serial %d: serials are not gapless", i, ev.Serial)
		}
		if ev.Kind == transcript.Accepted {
			accepted[ev.JobID] = ev.Serial
		} else if accepted[ev.JobID] == 0 {
			t.Errorf("job %s: outcome at %d before its accepted event", ev.JobID, ev.Serial)
		}
	}
	for _, job := range js {
		if len(recorded[job]) != 1 {
			t.Fatalf("job %s: %d outcomes recorded, want 1", job, len(recorded[job]))
		}
		for _, ev := range returned[job] {
			if !sameEvent(ev, recorded[job][0]) {
				t.Errorf("job %s: a Finish returned %+v, not the recorded outcome %+v", job, ev, recorded[job][0])
			}
		}
	}
}
