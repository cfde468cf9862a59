package main_test

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// Conversations outlive streams and front doors: their events are read from the transcript,
// whichever front door a client reaches.

// queueOn sends sentence on s, whose conversation's next event is serial, and reads its
// "enqueued". It returns the conversation and the job.
func queueOn(t *testing.T, s *queueStream, sentence string, serial uint64) (conv, job string) {
	t.Helper()
	send(t, s, sentence)
	res := receive(t, s)
	if got := eventOf(res); res.GetJobId() == "" || got != enqueued(serial, res.GetJobId(), sentence) {
		t.Fatalf("response to %q: %v, want it enqueued as event %d", sentence, got, serial)
	}
	return res.GetConversationId(), res.GetJobId()
}

// queueFirst sends the first message of s: sentence, on conversation conv, new to the
// server. It reads the sentence's "enqueued" and returns the job.
func queueFirst(t *testing.T, s *queueStream, conv uuid.UUID, sentence string) string {
	t.Helper()
	if err := s.Send(&elizav1.QueueConversationRequest{ConversationId: conv.String(), Sentence: sentence}); err != nil {
		t.Fatalf("send %q: %v", sentence, err)
	}
	res := receive(t, s)
	if got := eventOf(res); res.GetJobId() == "" || got != enqueued(1, res.GetJobId(), sentence) || res.GetConversationId() != conv.String() {
		t.Fatalf("response to %q: %v of %s, want it enqueued as the first event of %s", sentence, got, res.GetConversationId(), conv)
	}
	return res.GetJobId()
}

func TestQueueConversation_ResumesOnAnotherFrontDoorAfterKillNineWithEveryReplyOnceInOrder(t *testing.T) {
	q := newQueueSystem(t)
	_, model, env := q.heldModel()
	first, second := q.frontdoor(), q.frontdoor()
	q.dispatcher(env...)

	s := openQueue(t, first.rpc)
	sentences := []string{"I lost my keys", "and my wallet", "and then my train"}
	var conv string
	jobs := make([]string, len(sentences))
	for i, sentence := range sentences {
		conv, jobs[i] = queueOn(t, s, sentence, uint64(i+1))
	}
	first.proc.Signal(t, syscall.SIGKILL) // with three jobs accepted and none answered
	first.proc.Wait(t, 10*time.Second)

	// The client comes back to the other front door with the last serial it saw, and the
	// answers come as the model gives them.
	back := attach(t, second.rpc, conv, 3)
	model.release()
	if err := back.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	expect(t, bidi(back), conv,
		answered(4, jobs[0], sentences[0]), answered(5, jobs[1], sentences[1]), answered(6, jobs[2], sentences[2]))
	expectEnd(t, bidi(back))

	// From the start, the whole conversation, each event once.
	all := attach(t, second.rpc, conv, 0)
	if err := all.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	expect(t, bidi(all), conv,
		enqueued(1, jobs[0], sentences[0]), enqueued(2, jobs[1], sentences[1]), enqueued(3, jobs[2], sentences[2]),
		answered(4, jobs[0], sentences[0]), answered(5, jobs[1], sentences[1]), answered(6, jobs[2], sentences[2]))
	expectEnd(t, bidi(all))
}

func TestQueueConversation_TwoStreamsOnOneConversationBothReceiveEveryEvent(t *testing.T) {
	q := newQueueSystem(t)
	_, model, env := q.heldModel()
	f := q.frontdoor()
	q.dispatcher(env...)

	a := openQueue(t, f.rpc)
	conv, j1 := queueOn(t, a, "I feel left out", 1)
	b := attach(t, f.rpc, conv, 0)
	expect(t, bidi(b), conv, enqueued(1, j1, "I feel left out")) // what it missed
	_, j2 := queueOn(t, b, "me too", 2)
	expect(t, bidi(a), conv, enqueued(2, j2, "me too")) // the other stream's sentence

	model.release()
	for _, s := range []*queueStream{a, b} {
		expect(t, bidi(s), conv, answered(3, j1, "I feel left out"), answered(4, j2, "me too"))
	}
	for _, s := range []*queueStream{a, b} {
		if err := s.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		expectEnd(t, bidi(s))
	}
}

func TestQueueConversation_QueueLimitCountsTheConversationsJobsFromEveryStreamAndFrontDoor(t *testing.T) {
	q := newQueueSystem(t)
	_, model, env := q.heldModel()
	doors := []frontdoor{q.frontdoor("QUEUE_LIMIT=3"), q.frontdoor("QUEUE_LIMIT=3")}
	q.dispatcher(env...)

	a := openQueue(t, doors[0].rpc)
	conv, j1 := queueOn(t, a, "one", 1)
	_, j2 := queueOn(t, a, "two", 2)
	b := attach(t, doors[1].rpc, conv, 2)
	_, j3 := queueOn(t, b, "three", 3)
	expect(t, bidi(a), conv, enqueued(3, j3, "three"))

	// None is answered yet: the fourth sentence of the conversation is refused, on either.
	send(t, b, "four")
	expect(t, bidi(b), conv, queueFull("four"))
	send(t, a, "five")
	expect(t, bidi(a), conv, queueFull("five"))

	model.release()
	for _, s := range []*queueStream{a, b} {
		expect(t, bidi(s), conv, answered(4, j1, "one"), answered(5, j2, "two"), answered(6, j3, "three"))
	}
	// Answered, the jobs free their slots.
	_, j7 := queueOn(t, b, "six", 7)
	expect(t, bidi(a), conv, enqueued(7, j7, "six"))
	for _, s := range []*queueStream{a, b} {
		expect(t, bidi(s), conv, answered(8, j7, "six"))
		if err := s.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		expectEnd(t, bidi(s))
	}
}

func TestQueueConversation_AnIdleConversationIsGoneAfterItsTTL(t *testing.T) {
	q := newQueueSystem(t)
	_, env := q.model()
	const ttl = 2 * time.Second
	// Only the front door's TTL is short. A dispatcher's would be too, but its expiry sweep
	// would delete every conversation of the shared stack idle for 2 s, other tests' as well.
	f := q.frontdoor("CONVERSATION_TTL=" + ttl.String())
	q.dispatcher(env...)

	s := openQueue(t, f.rpc)
	conv, job := queueOn(t, s, "remember me", 1)
	expect(t, bidi(s), conv, answered(2, job, "remember me"))
	lastEvent := time.Now() // the conversation's last append was before this

	// Within the TTL it can be resumed.
	back := attach(t, f.rpc, conv, 0)
	if err := back.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	expect(t, bidi(back), conv, enqueued(1, job, "remember me"), answered(2, job, "remember me"))
	expectEnd(t, bidi(back))

	time.Sleep(time.Until(lastEvent.Add(ttl + 500*time.Millisecond))) // waiting out the TTL

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client := grpcClient(f.rpc)
	_, err := attach(t, f.rpc, conv, 2).Receive()
	wantExpired(t, "a resume", err)
	resend := openQueue(t, f.rpc)
	if err := resend.Send(&elizav1.QueueConversationRequest{ConversationId: conv, Sentence: "still there?"}); err != nil {
		t.Fatal(err)
	}
	_, err = resend.Receive()
	wantExpired(t, "a stream with a sentence", err)
	_, err = client.Send(ctx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: "still there?"}))
	wantExpired(t, "Send", err)
	watch, err := client.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
	if err == nil {
		_, err = watched(watch)()
	}
	wantExpired(t, "Watch", err)
}

func wantExpired(t *testing.T, what string, err error) {
	t.Helper()
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), "is unknown, has expired, or is another client's") {
		t.Fatalf("%s of an expired conversation: %v; want NotFound saying it has expired", what, err)
	}
}

func TestSendAndWatch_OverHTTP1GiveTheEventsOfAQueuedConversation(t *testing.T) {
	q := newQueueSystem(t)
	_, model, env := q.heldModel()
	f := q.frontdoor()
	q.dispatcher(env...)
	var http1 http.Protocols
	http1.SetHTTP1(true)
	browser := elizav1connect.NewElizaServiceClient(&http.Client{Transport: &http.Transport{Protocols: &http1}},
		"http://"+f.rpc, connect.WithProtoJSON())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var conv string
	say := func(sentence string, serial uint64) string {
		t.Helper()
		res, err := browser.Send(ctx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: sentence}))
		if err != nil {
			t.Fatalf("send %q: %v", sentence, err)
		}
		got := res.Msg
		if conv == "" {
			conv = got.GetConversationId()
		}
		if got.GetConversationId() != conv || got.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED ||
			got.GetSentence() != "enqueued" || got.GetSerial() != serial || got.GetJobId() == "" {
			t.Fatalf("send %q: %+v, want it enqueued as event %d of %s", sentence, got, serial, conv)
		}
		return got.GetJobId()
	}
	sentences := []string{"I am sad", "because of the weather", "it rains"}
	var jobs []string
	for i, sentence := range sentences {
		jobs = append(jobs, say(sentence, uint64(i+1)))
	}

	watch, err := browser.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	stream := attach(t, f.rpc, conv, 0) // what QueueConversation sends of it
	var fromWatch, fromStream []*elizav1.QueueConversationResponse
	both := func(want ...event) {
		t.Helper()
		fromWatch = append(fromWatch, expect(t, watched(watch), conv, want...)...)
		fromStream = append(fromStream, expect(t, bidi(stream), conv, want...)...)
	}
	both(enqueued(1, jobs[0], sentences[0]), enqueued(2, jobs[1], sentences[1]), enqueued(3, jobs[2], sentences[2]))
	model.release()
	both(answered(4, jobs[0], sentences[0]), answered(5, jobs[1], sentences[1]), answered(6, jobs[2], sentences[2]))
	fourth := say("and I forgot my umbrella", 7)
	both(enqueued(7, fourth, "and I forgot my umbrella"), answered(8, fourth, "and I forgot my umbrella"))

	for i := range fromWatch {
		if !proto.Equal(fromWatch[i], fromStream[i]) {
			t.Fatalf("response %d: Watch sent %v, QueueConversation %v", i, fromWatch[i], fromStream[i])
		}
	}
}
