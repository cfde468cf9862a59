package frontdoor_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// Over a quota, a call is ResourceExhausted with a RetryInfo saying when to come back, and a
// queued sentence is answered with an error on a stream that stays open.
func TestQuotas_RefuseWithRetryInfoAndKeepTheStreamOpen(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	quotas := access.NewQuotas(access.QuotaConfig{Anonymous: access.Limits{RequestsPerSecond: 2, SentencesPerMinute: 2}}, nil, log)
	auth := access.NewAuthenticator(access.Off, access.Free, nil, log).WithQuotas(quotas, elizav1connect.ElizaServiceSayProcedure)
	c := &conversations{t: t, store: transcript.NewMemory(time.Hour), jobs: &jobs{}}
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }).WithQueue(&frontdoor.Queue{
		Jobs: c.jobs, Transcript: c.store, Gate: queue.NewGate(100), Limit: 3, EnqueueTimeout: time.Second, Quotas: quotas, Log: log,
	}), func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	c.client = elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())

	var err error
	for range 3 {
		_, err = c.client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"}))
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted || !strings.Contains(ce.Message(), "2 requests a second, in bursts of at most 2") {
		t.Fatalf("the third Say within a second: %v, want ResourceExhausted naming the limit", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if r, ok := v.(*errdetails.RetryInfo); ok {
				retry = r
			}
		}
	}
	// Two a second: the third comes back in half a second, not the message's whole second.
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 || retry.GetRetryDelay().AsDuration() > 600*time.Millisecond {
		t.Fatalf("RetryInfo %v, want a delay of about half a second", retry)
	}

	s := c.open()
	for i, sentence := range []string{"one", "two"} {
		c.send(s, &elizav1.QueueConversationRequest{Sentence: sentence})
		if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
			t.Fatalf("sentence %d: %s, want enqueued", i+1, short(res))
		}
		c.answer(i, "answer")
		c.receive(s)
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "three"})
	res := c.receive(s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || !strings.Contains(res.GetSentence(), "2 sentences a minute, in bursts of at most 2") {
		t.Fatalf("the third sentence in a minute: %s, want an error naming the quota", short(res))
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "four"})
	if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR {
		t.Fatalf("the stream after a refusal: %s, want it open and refusing", short(res))
	}
	if n := len(c.jobs.all()); n != 2 {
		t.Fatalf("%d jobs queued, want the 2 within the quota", n)
	}

	// A Send refused by the quota starts no conversation: a client over its quota would
	// otherwise make one each time it tried, kept for CONVERSATION_TTL.
	named := uuid.New()
	for given, want := range map[string]string{"": "", named.String(): named.String(), strings.ToUpper(named.String()): named.String()} {
		sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: given, Sentence: "five"}))
		if err != nil {
			t.Fatal(err)
		}
		if m := sent.Msg; m.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || !strings.Contains(m.GetSentence(), "2 sentences a minute, in bursts of at most 2") ||
			m.GetConversationId() != want || m.GetSerial() != 0 {
			t.Fatalf("a Send over the quota (conversation %q): %+v, want an error naming the quota and the conversation as %q", given, m, want)
		}
	}
	if _, err := c.store.Open(ctx(t), named, false, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("the conversation a refused Send named: %v, want it not started", err)
	}
}

// A client's allowance counts sentences queued, not tries: a sentence refused because its
// conversation is full or the queue is unavailable, or a Send whose conversation cannot be
// opened, gives back the sentence it took; one not confirmed either way (it may be answered)
// keeps it.
func TestQuotas_CountSentencesQueuedNotTries(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	quotas := access.NewQuotas(access.QuotaConfig{Anonymous: access.Limits{SentencesPerMinute: 3}}, nil, log)
	auth := access.NewAuthenticator(access.Off, access.Free, nil, log)
	store := &failing{Memory: transcript.NewMemory(time.Hour)}
	c := &conversations{t: t, store: store.Memory, jobs: &jobs{}, metrics: prometheus.NewRegistry()}
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }).WithQueue(&frontdoor.Queue{
		Jobs: c.jobs, Transcript: store, Gate: queue.NewGate(100), Limit: 1, EnqueueTimeout: time.Second, Quotas: quotas,
		Metrics: frontdoor.NewAdmissionMetrics(c.metrics), Log: log,
	}), func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	c.client = elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())

	s := c.open()
	expect := func(sentence string, kind elizav1.QueueConversationResponse_Kind, text string) {
		t.Helper()
		c.send(s, &elizav1.QueueConversationRequest{Sentence: sentence})
		if res := c.receive(s); res.GetKind() != kind || !strings.Contains(res.GetSentence(), text) {
			t.Fatalf("%q: %s, want %s %q", sentence, short(res), kind, text)
		}
	}
	expect("one", elizav1.QueueConversationResponse_KIND_ENQUEUED, frontdoor.TextEnqueued) // the first of three
	expect("full", elizav1.QueueConversationResponse_KIND_QUEUE_FULL, frontdoor.TextQueueFull)
	c.answer(0, "answer")
	c.receive(s)
	c.jobs.fail(errors.New("broker down"))
	expect("down", elizav1.QueueConversationResponse_KIND_ERROR, frontdoor.TextUnavailable)

	// Not confirmed: the write failed, and so did settling it. It may be answered: the second.
	store.failRefuse.Store(true)
	maybe, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "maybe"}))
	if err != nil || maybe.Msg.GetSentence() != frontdoor.TextUnconfirmed {
		t.Fatalf("a Send whose write and its settling failed: %v %v, want %q", maybe, err, frontdoor.TextUnconfirmed)
	}
	store.failRefuse.Store(false)
	c.jobs.fail(nil)

	store.failOpen.Store(true)
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "unopened"})); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("a Send whose conversation cannot be opened: %v, want Unavailable", err)
	}
	store.failOpen.Store(false)

	expect("two", elizav1.QueueConversationResponse_KIND_ENQUEUED, frontdoor.TextEnqueued) // the third
	c.answer(1, "answer")
	c.receive(s)
	expect("three", elizav1.QueueConversationResponse_KIND_ERROR, "3 sentences a minute, in bursts of at most 3")
	if n := len(c.jobs.all()); n != 2 {
		t.Fatalf("%d jobs queued, want 2", n)
	}
	outcomes := c.series("frontdoor_sentences_total", "outcome")
	for outcome, want := range map[string]float64{
		frontdoor.OutcomeEnqueued: 2, frontdoor.OutcomeQueueFull: 1, frontdoor.OutcomeUnconfirmed: 1,
		frontdoor.OutcomeUnavailable: 2, // the broker down, and the transcript that could not open a conversation
		frontdoor.OutcomeOverQuota:   1,
	} {
		if got := outcomes[outcome].GetCounter().GetValue(); got != want {
			t.Errorf("sentences counted %s: %v, want %v", outcome, got, want)
		}
	}
}

// failing is the in-memory transcript whose Open, or Refuse, fails while told to, as
// Postgres's does while it cannot be reached.
type failing struct {
	*transcript.Memory
	failOpen, failRefuse atomic.Bool
}

func (f *failing) Open(ctx context.Context, id uuid.UUID, create bool, owner uuid.UUID) (transcript.Info, error) {
	if f.failOpen.Load() {
		return transcript.Info{}, errors.New("connection refused")
	}
	return f.Memory.Open(ctx, id, create, owner)
}

func (f *failing) Refuse(ctx context.Context, conv, job uuid.UUID, sentence string) (transcript.Event, bool, error) {
	if f.failRefuse.Load() {
		return transcript.Event{}, false, errors.New("connection refused")
	}
	return f.Memory.Refuse(ctx, conv, job, sentence)
}
