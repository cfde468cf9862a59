package main_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
)

// event is what a test asserts of a response: everything but its conversation, which every
// response of a stream shares and expect checks on its own.
type event struct {
	kind      elizav1.QueueConversationResponse_Kind
	serial    uint64
	job       string
	text      string
	inReplyTo string
}

func (e event) String() string {
	return fmt.Sprintf("{%s serial %d job %q %q in reply to %q}",
		strings.TrimPrefix(e.kind.String(), "KIND_"), e.serial, e.job, e.text, e.inReplyTo)
}

func eventOf(res *elizav1.QueueConversationResponse) event {
	return event{kind: res.GetKind(), serial: res.GetSerial(), job: res.GetJobId(), text: res.GetSentence(), inReplyTo: res.GetInReplyTo()}
}

// enqueued is the event of sentence accepted as job.
func enqueued(serial uint64, job, sentence string) event {
	return event{kind: elizav1.QueueConversationResponse_KIND_ENQUEUED, serial: serial, job: job, text: "enqueued", inReplyTo: sentence}
}

// answered is the event of job's answer from the fake model, which echoes its sentence.
func answered(serial uint64, job, sentence string) event {
	return event{kind: elizav1.QueueConversationResponse_KIND_REPLY, serial: serial, job: job, text: fakeopenai.Echo(sentence), inReplyTo: sentence}
}

// queueFull is the refusal of sentence by a full conversation: not an event, so serial 0.
func queueFull(sentence string) event {
	return event{kind: elizav1.QueueConversationResponse_KIND_QUEUE_FULL, text: "queue is full!", inReplyTo: sentence}
}

// responses is one stream's responses as the client reads them; io.EOF when the server ended
// it normally.
type responses func() (*elizav1.QueueConversationResponse, error)

func bidi(s *queueStream) responses { return s.Receive }

func watched(s *connect.ServerStreamForClient[elizav1.QueueConversationResponse]) responses {
	return func() (*elizav1.QueueConversationResponse, error) {
		if s.Receive() {
			return s.Msg(), nil
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
}

// expect reads len(want) responses and fails unless they are want, in that order, all of
// conversation conv. It returns what it read.
func expect(t *testing.T, next responses, conv string, want ...event) []*elizav1.QueueConversationResponse {
	t.Helper()
	var got []*elizav1.QueueConversationResponse
	for range want {
		res, err := next()
		if err != nil {
			t.Fatalf("after %v: %v; want %v", events(got), err, want)
		}
		got = append(got, res)
	}
	if g := events(got); !slices.Equal(g, want) {
		t.Fatalf("responses\n%v\nwant\n%v", g, want)
	}
	for _, res := range got {
		if res.GetConversationId() != conv {
			t.Fatalf("response %v is of conversation %q, want %q", eventOf(res), res.GetConversationId(), conv)
		}
	}
	return got
}

// expectEnd reads until the server ends the stream normally and fails on any response
// before that.
func expectEnd(t *testing.T, next responses) {
	t.Helper()
	var extra []*elizav1.QueueConversationResponse
	for {
		res, err := next()
		switch {
		case errors.Is(err, io.EOF):
			if len(extra) > 0 {
				t.Fatalf("more responses than expected: %v", events(extra))
			}
			return
		case err != nil:
			t.Fatalf("after %v: %v; want the stream to end", events(extra), err)
		}
		extra = append(extra, res)
	}
}

func events(rs []*elizav1.QueueConversationResponse) []event {
	evs := make([]event, len(rs))
	for i, r := range rs {
		evs[i] = eventOf(r)
	}
	return evs
}

// attach opens a stream on conversation conv that resumes after serial after, without a
// sentence.
func attach(t *testing.T, addr, conv string, after uint64) *queueStream {
	t.Helper()
	s := openQueue(t, addr)
	if err := s.Send(&elizav1.QueueConversationRequest{ConversationId: conv, ResumeAfter: after}); err != nil {
		t.Fatalf("attach to %s after %d: %v", conv, after, err)
	}
	return s
}

// gate holds the fake model's answers until it is released, so that a test decides when jobs
// are answered: sentences queued while it is held are all enqueued before any is answered.
// (The requests arrive while it is held; only the answers wait.)
type gate struct {
	mu   sync.Mutex
	held chan struct{} // nil when released
}

// hold makes the answers from now on wait for release.
func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

// release lets the waiting answers and every later one go.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// wait is the model's latency function.
func (g *gate) wait(int) time.Duration {
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	if held != nil {
		<-held
	}
	return 0
}
