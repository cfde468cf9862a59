package transcripttest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// lostAfter is the age past which the suite asks Lost for jobs. Its jobs are aged between
// lostAfter and 2*lostAfter, so that on a shared database the dispatchers beside the suite,
// sweeping with their own LOST_JOB_AFTER (30 minutes by default) and TTL (a day), neither
// take its jobs for lost nor expire its conversations.
const lostAfter = 10 * time.Minute

func (h Harness[S]) lostListsAcceptedJobsLeftWithoutOutcome(t *testing.T) {
	s := h.NewStore(t, ttl)
	older, old, idle := h.conversation(t, s), h.conversation(t, s), h.conversation(t, s)
	oldest := uuid.New()
	accept(t, s, older, oldest)
	lost := uuid.New()
	accept(t, s, old, lost)
	answered := uuid.New()
	accept(t, s, old, answered)
	answer(t, s, old, answered)
	failed := uuid.New()
	accept(t, s, old, failed)
	finish(t, s, old, failed, transcript.Failed, "failed")
	neverAccepted := uuid.New()
	if err := reserve(t, s, old, neverAccepted, 100); err != nil {
		t.Fatal(err)
	}
	refused := uuid.New()
	if err := reserve(t, s, old, refused, 100); err != nil {
		t.Fatal(err)
	}
	refuse(t, s, old, refused)
	taken := uuid.New() // accepted by a worker's Prepare, the front door's Accept not seen
	prepare(t, s, old, taken)
	inIdle := uuid.New()
	accept(t, s, idle, inIdle)

	h.Age(t, s, older, lostAfter+lostAfter*3/4)
	h.Age(t, s, old, lostAfter+lostAfter/2)
	h.Age(t, s, idle, ttl+time.Minute) // idle: its job is no one's to answer any more
	recent := uuid.New()
	accept(t, s, old, recent) // the conversation goes on

	if jobs, err := s.Lost(t.Context(), lostAfter, 0); err != nil || len(jobs) != 0 {
		t.Fatalf("lost, at most 0: %v, %v; want none", jobs, err)
	}
	ours := func(batch int) []transcript.Job {
		t.Helper()
		jobs, err := s.Lost(t.Context(), lostAfter, batch)
		if err != nil || len(jobs) > batch {
			t.Fatalf("lost, at most %d: %d jobs, %v", batch, len(jobs), err)
		}
		return slices.DeleteFunc(jobs, func(j transcript.Job) bool {
			return j.Conversation != older && j.Conversation != old && j.Conversation != idle
		})
	}
	want := []transcript.Job{
		{Conversation: older, ID: oldest, Sentence: sentence(oldest)},
		{Conversation: old, ID: lost, Sentence: sentence(lost)},
		{Conversation: old, ID: taken, Sentence: sentence(taken)},
	}
	// On a shared database, other runs' open jobs older than the suite's come first: all of them.
	const all = 1 << 20
	got := ours(all)
	// The two of old were reserved at about the same time: either may come first.
	if len(got) != len(want) || got[0] != want[0] || !sameJobs(got[1:], want[1:]) {
		t.Fatalf("lost jobs of the suite's conversations: %+v, want %+v (oldest first), and not the answered, failed, never accepted, refused, recent one or the idle conversation's", got, want)
	}
	if !h.Shared {
		if got := ours(1); !slices.Equal(got, want[:1]) {
			t.Fatalf("lost, at most 1: %+v, want the oldest, %+v", got, want[:1])
		}
	}

	// The sweep's Finish: the job leaves the list, and its conversation is told.
	ev := finish(t, s, older, oldest, transcript.Failed, "lost")
	checkEvent(t, ev, older, 2, transcript.Failed, oldest, "lost", sentence(oldest))
	if got := ours(all); !sameJobs(got, want[1:]) {
		t.Fatalf("lost jobs after the oldest was finished: %+v, want %+v", got, want[1:])
	}
}

// sameJobs tells whether a and b hold the same jobs, in any order.
func sameJobs(a, b []transcript.Job) bool {
	key := func(j transcript.Job) string { return j.Conversation.String() + j.ID.String() + j.Sentence }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, j := range a {
		ka[i] = key(j)
	}
	for i, j := range b {
		kb[i] = key(j)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
