package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/proctest"
)

type queueStream = connect.BidiStreamForClient[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]

func openQueue(t *testing.T, addr string) *queueStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	s := grpcClient(addr).QueueConversation(ctx)
	t.Cleanup(func() { _ = s.CloseResponse() })
	return s
}

func send(t *testing.T, s *queueStream, sentence string) {
	t.Helper()
	if err := s.Send(&elizav1.QueueConversationRequest{Sentence: sentence}); err != nil {
		t.Fatalf("send %q: %v", sentence, err)
	}
}

func receive(t *testing.T, s *queueStream) *elizav1.QueueConversationResponse {
	t.Helper()
	res, err := s.Receive()
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return res
}

// collect reads until the server ends the stream, sorting acknowledgements from replies.
func collect(t *testing.T, s *queueStream) (acks, replies []*elizav1.QueueConversationResponse) {
	t.Helper()
	for {
		res, err := s.Receive()
		if errors.Is(err, io.EOF) {
			return acks, replies
		}
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if res.GetKind() == elizav1.QueueConversationResponse_KIND_REPLY || res.GetJobId() != "" && res.GetKind() == elizav1.QueueConversationResponse_KIND_ERROR {
			replies = append(replies, res)
		} else {
			acks = append(acks, res)
		}
	}
}

func TestQueueConversation_AnswersOnTheSameStreamThenEndsAfterHalfClose(t *testing.T) {
	q := newQueueSystem(t)
	f := q.frontdoor()
	q.dispatcher()
	s := openQueue(t, f.rpc)
	sentences := []string{"test is a test", "you gotta", "you gotta"}
	for _, sentence := range sentences {
		send(t, s, sentence)
	}
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	acks, replies := collect(t, s) // returns when the server ends the stream
	if len(acks) != 3 || len(replies) != 3 {
		t.Fatalf("%d acknowledgements and %d replies, want 3 and 3", len(acks), len(replies))
	}
	for i, a := range acks {
		if a.GetSentence() != "enqueued" || a.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED || a.GetJobId() == "" {
			t.Errorf("acknowledgement %d: %+v", i, a)
		}
	}
	for i, r := range replies {
		if r.GetInReplyTo() != sentences[i] || r.GetSentence() == "" || r.GetJobId() != acks[i].GetJobId() {
			t.Errorf("reply %d: %+v", i, r)
		}
	}
}

func TestQueueConversation_AnswersAConversationInOrder(t *testing.T) {
	q := newQueueSystem(t)
	f := q.frontdoor("QUEUE_LIMIT=10")
	q.dispatcher()
	s := openQueue(t, f.rpc)
	var sentences []string
	for i := range 10 {
		sentences = append(sentences, fmt.Sprintf("I am thinking about thing number %d", i))
		send(t, s, sentences[i])
	}
	if err := s.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	acks, replies := collect(t, s)
	if len(acks) != 10 || len(replies) != 10 {
		t.Fatalf("%d acknowledgements and %d replies, want 10 and 10", len(acks), len(replies))
	}
	for i, r := range replies {
		if r.GetInReplyTo() != sentences[i] || r.GetSentence() == "" {
			t.Fatalf("reply %d answers %q, want %q", i, r.GetInReplyTo(), sentences[i])
		}
		if r.GetJobId() != acks[i].GetJobId() {
			t.Fatalf("reply %d is for job %s, the %dth enqueued was %s", i, r.GetJobId(), i, acks[i].GetJobId())
		}
	}
}

func TestQueueConversation_HundredStreamsEachJobAnsweredExactlyOnce(t *testing.T) {
	q := newQueueSystem(t)
	f := q.frontdoor("QUEUE_LIMIT=10")
	q.dispatcher("WORKERS=16")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			s := grpcClient(f.rpc).QueueConversation(ctx)
			defer s.CloseResponse() //nolint:errcheck // the outcome is checked through Receive
			for j := range 10 {
				if err := s.Send(&elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("stream %d says %d", i, j)}); err != nil {
					errs <- err
					return
				}
			}
			_ = s.CloseRequest()
			answered := map[string]int{}
			enqueued := 0
			for {
				res, err := s.Receive()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					errs <- err
					return
				}
				switch res.GetKind() {
				case elizav1.QueueConversationResponse_KIND_ENQUEUED:
					enqueued++
				case elizav1.QueueConversationResponse_KIND_REPLY:
					answered[res.GetJobId()]++
				default:
					errs <- fmt.Errorf("stream %d: unexpected %+v", i, res)
					return
				}
			}
			if enqueued != 10 || len(answered) != 10 {
				errs <- fmt.Errorf("stream %d: %d enqueued, %d answered", i, enqueued, len(answered))
			}
			for job, n := range answered {
				if n != 1 {
					errs <- fmt.Errorf("stream %d: job %s answered %d times", i, job, n)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestQueueConversation_BadSentenceGetsAnErrorAndTheStreamStaysOpen(t *testing.T) {
	q := newQueueSystem(t)
	f := q.frontdoor()
	q.dispatcher()
	s := openQueue(t, f.rpc)
	// The first sentence starts the conversation (a bad one would start none: the stream
	// would end InvalidArgument).
	send(t, s, "hello there")
	if res := receive(t, s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		t.Fatalf("the first sentence: %+v", res)
	}
	// notReply skips the reply to "hello there", which may come between the others.
	notReply := func() *elizav1.QueueConversationResponse {
		for {
			if res := receive(t, s); res.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY {
				return res
			}
		}
	}
	for _, bad := range []string{"", strings.Repeat("a", 2000)} {
		send(t, s, bad)
		if res := notReply(); res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || !strings.Contains(res.GetSentence(), "invalid_argument") {
			t.Fatalf("bad sentence got %+v", res)
		}
	}
	send(t, s, "and again")
	if res := notReply(); res.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		t.Fatalf("after errors the stream no longer queues: %+v", res)
	}
}

func TestQueueConversation_UnreachableKafkaIsAClearErrorNotAHang(t *testing.T) {
	q := newQueueSystem(t)
	f := q.frontdoor("KAFKA_BROKERS=" + proctest.FreeAddr(t)) // nothing listens there
	s := openQueue(t, f.rpc)
	send(t, s, "is anyone there?")
	res := receive(t, s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetSentence() != "queue unavailable" {
		t.Fatalf("got %+v, want a queue unavailable error", res)
	}
}

func TestQueueConversation_RepliesReachTheRightStreamsWithTwoFrontDoorsAndTwoDispatchers(t *testing.T) {
	q := newQueueSystem(t)
	doors := []frontdoor{q.frontdoor("QUEUE_LIMIT=5"), q.frontdoor("QUEUE_LIMIT=5")}
	q.dispatcher()
	q.dispatcher()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			s := openQueue(t, doors[i%2].rpc)
			want := map[string]bool{}
			for j := range 5 {
				sentence := fmt.Sprintf("door %d stream %d sentence %d", i%2, i, j)
				want[sentence] = true
				if err := s.Send(&elizav1.QueueConversationRequest{Sentence: sentence}); err != nil {
					t.Error(err)
					return
				}
			}
			_ = s.CloseRequest()
			for {
				res, err := s.Receive()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Error(err)
					return
				}
				if res.GetKind() == elizav1.QueueConversationResponse_KIND_REPLY {
					if !want[res.GetInReplyTo()] {
						t.Errorf("stream %d got a reply to %q, not its own", i, res.GetInReplyTo())
					}
					delete(want, res.GetInReplyTo())
				}
			}
			if len(want) != 0 {
				t.Errorf("stream %d: %d sentences never answered", i, len(want))
			}
		})
	}
	wg.Wait()
}
