package transcripttest

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

func (h Harness[S]) exchangesAnsweredBeforeTheJob(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	j := jobs(6)
	for _, job := range j[:5] {
		accept(t, s, conv, job)
	}
	exchange := func(job uuid.UUID) transcript.Exchange {
		return transcript.Exchange{Sentence: sentence(job), Answer: answerTo(job)}
	}
	prepared := func(name string, job uuid.UUID, max int, want ...transcript.Exchange) {
		t.Helper()
		p, err := s.Prepare(t.Context(), conv, job, sentence(job), max)
		if err != nil || !slices.Equal(p.Exchanges, want) {
			t.Errorf("%s: exchanges %v, %v; want %v", name, p.Exchanges, err, want)
		}
	}
	prepared("before any answer", j[3], 10)
	// Answered in another order than accepted, as when the Accepts of sentences sent at once
	// commit in another order than their jobs were written to the queue, which the workers
	// follow: the exchanges follow the answers.
	answer(t, s, conv, j[1])
	answer(t, s, conv, j[0])
	finish(t, s, conv, j[2], transcript.Failed, "sorry") // failed: left out
	answer(t, s, conv, j[4])                             // accepted after j[3], answered before it
	prepared("every exchange answered so far, in the order answered", j[3], 10, exchange(j[1]), exchange(j[0]), exchange(j[4]))
	prepared("the last max of them", j[3], 2, exchange(j[0]), exchange(j[4]))
	prepared("none for a job that is answered (it is not asked again)", j[1], 10)
	prepared("for a job not accepted yet (Prepare accepts it), the same", j[5], 10, exchange(j[1]), exchange(j[0]), exchange(j[4]))
	prepared("none wanted", j[5], 0)
}

func (h Harness[S]) eventsAfterUpToLimit(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	for _, job := range jobs(2) {
		accept(t, s, conv, job)
		answer(t, s, conv, job)
	}
	for _, c := range []struct {
		after       uint64
		limit       int
		wantSerials []uint64
	}{
		{0, 10, []uint64{1, 2, 3, 4}},
		{1, 2, []uint64{2, 3}},
		{3, 10, []uint64{4}},
		{4, 10, nil},
		{9, 10, nil},
		{0, 0, nil},
	} {
		evs, err := s.Events(t.Context(), conv, c.after, c.limit)
		var serials []uint64
		for _, ev := range evs {
			serials = append(serials, ev.Serial)
		}
		if err != nil || !slices.Equal(serials, c.wantSerials) {
			t.Errorf("events after %d, at most %d: serials %v, %v; want %v", c.after, c.limit, serials, err, c.wantSerials)
		}
	}
}

// eventsStopAtPageBytes: a read stops after the event that brings its text to
// transcript.PageBytes, whatever its limit, and the next read goes on from there. A reader
// holds about that much at a time, whatever the answers' sizes.
func (h Harness[S]) eventsStopAtPageBytes(t *testing.T) {
	s, conv := h.storeWithConversation(t)
	long := strings.Repeat("x", 300<<10)
	for _, job := range jobs(5) {
		accept(t, s, conv, job)
		finish(t, s, conv, job, transcript.Reply, long)
	}
	// Each answer is 300 KiB: the fourth brings the text past 1 MiB.
	first, err := s.Events(t.Context(), conv, 0, 100)
	if err != nil || len(first) != 8 || transcript.TextBytes(first) < transcript.PageBytes {
		t.Fatalf("the first read: %d events of %d bytes, %v; want 8, stopping after the fourth answer", len(first), transcript.TextBytes(first), err)
	}
	rest, err := s.Events(t.Context(), conv, first[len(first)-1].Serial, 100)
	if err != nil || len(rest) != 2 || rest[0].Serial != 9 {
		t.Fatalf("the next read: %d events from serial %d, %v; want the last 2", len(rest), rest[0].Serial, err)
	}
}
