package main_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/proctest"
)

func TestQueueConversation_TheREADMESessionWithASlowModel(t *testing.T) {
	q := newQueueSystem(t)
	_, model := q.model(fakeopenai.WithLatency(1500 * time.Millisecond))
	f := q.frontdoor("QUEUE_LIMIT=3")
	q.dispatcher(model...)
	s := openQueue(t, f.rpc)

	sentences := []string{"test is a test", "you gotta", "you gotta"}
	var conv string
	jobs := make([]string, len(sentences))
	for i, sentence := range sentences {
		conv, jobs[i] = queueOn(t, s, sentence, uint64(i+1))
	}
	for range 3 { // the conversation has QUEUE_LIMIT jobs waiting
		send(t, s, "you gotta")
		expect(t, bidi(s), conv, queueFull("you gotta"))
	}
	// Then, as the workers answer, three replies on the same open stream.
	expect(t, bidi(s), conv, answered(4, jobs[0], sentences[0]), answered(5, jobs[1], sentences[1]), answered(6, jobs[2], sentences[2]))
	// With room again, the stream queues once more.
	queueOn(t, s, "still here", 7)
}

func TestQueueConversation_RetryAfterIsHonouredWithExactlyOneRetry(t *testing.T) {
	q := newQueueSystem(t)
	srv, model := q.model(fakeopenai.WithScript(fakeopenai.RateLimited(time.Second)))
	f := q.frontdoor()
	q.dispatcher(model...)
	s := openQueue(t, f.rpc)
	send(t, s, "hello")
	if res := receive(t, s); res.GetSentence() != "enqueued" {
		t.Fatalf("%+v", res)
	}
	res := receive(t, s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY {
		t.Fatalf("%+v", res)
	}
	// Measured where the wait happens, at the model: the first call may be answered 429
	// before this client has even read "enqueued".
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the model saw %d requests, want 2 (the 429 and one retry)", len(reqs))
	}
	if waited := reqs[1].Time.Sub(reqs[0].Time); waited < time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 1", waited)
	}
}

func TestQueueConversation_BreakerOpensOnAFailingModelAndEveryJobGetsAnError(t *testing.T) {
	q := newQueueSystem(t)
	srv, model := q.model(fakeopenai.WithDefault(fakeopenai.Fail(500)))
	f := q.frontdoor()
	_, admin := q.dispatcherWithAdmin(append(model, "LLM_MAX_ATTEMPTS=2", "LLM_BREAKER_FAILURES=2",
		"LLM_BREAKER_COOLDOWN=2s", "LLM_MAX_JOB_AGE=4s")...)

	var streams []*queueStream
	for range 4 {
		s := openQueue(t, f.rpc)
		send(t, s, "are you there?")
		if res := receive(t, s); res.GetSentence() != "enqueued" {
			t.Fatalf("%+v", res)
		}
		streams = append(streams, s)
	}
	deadline := time.Now().Add(15 * time.Second) // the maximum job age, plus slack
	for i, s := range streams {
		res := receive(t, s)
		if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetJobId() == "" || res.GetSentence() == "" {
			t.Fatalf("stream %d: %+v, want an error reply", i, res)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %d waited past the maximum job age", i)
		}
	}
	if !strings.Contains(proctest.Get(t, "http://"+admin+"/metrics"), `llm_breaker_transitions_total{from="closed",to="open"}`) {
		t.Fatal("the breaker never opened")
	}

	srv.SetDefault(fakeopenai.OK()) // the model recovers
	s := openQueue(t, f.rpc)
	send(t, s, "better now?")
	receive(t, s) // enqueued
	if res := receive(t, s); res.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY {
		t.Fatalf("after recovery: %+v", res)
	}
}

func TestQueueConversation_KillNineOfADispatcherLosesNoJob(t *testing.T) {
	q := newQueueSystem(t)
	srv, model := q.model(fakeopenai.WithLatency(300 * time.Millisecond))
	f := q.frontdoor("QUEUE_LIMIT=5")
	first := q.dispatcher(append(model, "WORKERS=4")...)

	var streams []*queueStream
	for range 10 {
		s := openQueue(t, f.rpc)
		for range 5 {
			send(t, s, "one of fifty")
		}
		if err := s.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
	}
	waitRequests(t, srv, 8) // some answered, most still in flight or queued
	first.Signal(t, syscall.SIGKILL)
	first.Wait(t, 10*time.Second)
	q.dispatcher(append(model, "WORKERS=8")...)

	for i, s := range streams {
		// Each job once enqueued and once answered, in the order queued; the events of the
		// conversation numbered without a gap.
		acks, replies := collect(t, s)
		if len(acks) != 5 || len(replies) != 5 {
			t.Fatalf("stream %d: %d enqueued and %d replies, want 5 and 5", i, len(acks), len(replies))
		}
		jobs := map[string]bool{}
		serials := map[uint64]bool{}
		for j, a := range acks {
			r := replies[j]
			if a.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED || r.GetJobId() != a.GetJobId() ||
				r.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY || r.GetSentence() != "echo: one of fifty" ||
				r.GetInReplyTo() != "one of fifty" || jobs[a.GetJobId()] {
				t.Fatalf("stream %d, job %d: enqueued %v, answered %v", i, j, eventOf(a), eventOf(r))
			}
			jobs[a.GetJobId()], serials[a.GetSerial()], serials[r.GetSerial()] = true, true, true
		}
		for serial := range uint64(10) {
			if !serials[serial+1] {
				t.Fatalf("stream %d: no event %d among %v and %v", i, serial+1, events(acks), events(replies))
			}
		}
	}
}

func TestDispatcher_SIGTERMFinishesModelCallsInFlightAndCommits(t *testing.T) {
	q := newQueueSystem(t)
	srv, model := q.model(fakeopenai.WithLatency(2 * time.Second))
	f := q.frontdoor()
	d := q.dispatcher(append(model, "WORKERS=4")...)
	var streams []*queueStream
	for range 4 {
		s := openQueue(t, f.rpc)
		send(t, s, "take your time")
		_ = s.CloseRequest()
		streams = append(streams, s)
	}
	waitRequests(t, srv, 4)
	d.Signal(t, syscall.SIGTERM)
	if code := d.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("dispatcher exited %d", code)
	}
	for i, s := range streams {
		if _, replies := collect(t, s); len(replies) != 1 {
			t.Fatalf("stream %d: %d replies", i, len(replies))
		}
	}
	// Committed: a new dispatcher in the same group finds nothing to redo.
	srv.Reset()
	q.dispatcher(model...)
	s := openQueue(t, f.rpc)
	send(t, s, "marker")
	_ = s.CloseRequest()
	collect(t, s)
	if n := srv.Count(); n != 1 {
		t.Fatalf("the model saw %d requests after the restart, want only the marker's", n)
	}
}

func TestQueueConversation_AClientThatLeftAfterEnqueuedGetsTheReplyWhenItResumes(t *testing.T) {
	q := newQueueSystem(t)
	srv, model := q.model(fakeopenai.WithLatency(time.Second))
	f := q.frontdoor()
	q.dispatcher(model...)
	s := openQueue(t, f.rpc)
	conv, job := queueOn(t, s, "I have to go", 1)
	if err := s.CloseResponse(); err != nil { // the client disconnects before the answer
		t.Fatal(err)
	}
	waitRequests(t, srv, 1)

	back := attach(t, f.rpc, conv, 1)
	if err := back.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	expect(t, bidi(back), conv, answered(2, job, "I have to go")) // only what it had not seen
	expectEnd(t, bidi(back))
}

// waitRequests waits until the fake model has received at least n requests.
func waitRequests(t *testing.T, srv *fakeopenai.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for srv.Count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the model received %d requests, waiting for %d", srv.Count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
