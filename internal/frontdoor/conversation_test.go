package frontdoor_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// These tests run the conversation RPCs on the in-memory transcript with a recording queue
// and play the worker themselves (Finish); the same RPCs run on Kafka and Postgres in
// cmd/frontdoor's tests.

// jobs records what was enqueued, failing while err is set. With lands set, a failing write
// is recorded all the same, as a Kafka write that timed out and landed later; landed, if set,
// is called with each job that lands before Enqueue returns (a worker taking it at once).
type jobs struct {
	mu     sync.Mutex
	jobs   []queue.Job
	err    error
	lands  bool
	landed func(queue.Job)
	// stall makes each write wait until its context is done, then fail with the context's
	// error and land, as a write to a stalled broker does.
	stall bool
}

func (j *jobs) Enqueue(ctx context.Context, job queue.Job) error {
	j.mu.Lock()
	stall := j.stall
	j.mu.Unlock()
	if stall || ctx.Err() != nil {
		// As kafka-go's writer does with a context done before the write is acknowledged:
		// the message is sent all the same, and the call returns the context's error.
		<-ctx.Done()
		j.mu.Lock()
		defer j.mu.Unlock()
		j.jobs = append(j.jobs, job)
		return ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil || j.lands {
		j.jobs = append(j.jobs, job)
		if j.landed != nil {
			j.landed(job)
		}
	}
	return j.err
}

func (j *jobs) all() []queue.Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]queue.Job(nil), j.jobs...)
}

func (j *jobs) fail(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err = err
}

// failButLand makes the writes fail and land anyway, calling landed with each.
func (j *jobs) failButLand(err error, landed func(queue.Job)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.err, j.lands, j.landed = err, true, landed
}

type conversations struct {
	t       *testing.T
	service *frontdoor.Service
	client  elizav1connect.ElizaServiceClient
	store   *transcript.Memory
	jobs    *jobs
	// metrics holds the admission's instruments.
	metrics *prometheus.Registry
	// h is the server, for requests made by hand.
	h *harness
}

func startConversations(t *testing.T, ttl time.Duration) *conversations {
	t.Helper()
	m := transcript.NewMemory(ttl)
	return startConversationsOn(t, m, m)
}

// startConversationsOn serves conversations on store, whose state m holds (store may wrap m).
func startConversationsOn(t *testing.T, m *transcript.Memory, store transcript.Store, with ...func(*frontdoor.Options)) *conversations {
	t.Helper()
	c := &conversations{t: t, store: m, jobs: &jobs{}, metrics: prometheus.NewRegistry()}
	c.service = frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }).WithQueue(&frontdoor.Queue{
		Jobs: c.jobs, Transcript: store, Gate: queue.NewGate(100), Limit: 3, EnqueueTimeout: time.Second,
		Metrics: frontdoor.NewAdmissionMetrics(c.metrics), Log: slog.New(slog.DiscardHandler),
	})
	c.h = startService(t, c.service, append([]func(*frontdoor.Options){func(o *frontdoor.Options) {
		o.Drain, o.StuckWriteWait = c.service.Draining(), stuckWriteWait
	}}, with...)...)
	c.client = elizav1connect.NewElizaServiceClient(c.h.h2c, c.h.url, connect.WithGRPC())
	return c
}

// stuckWriteWait is the tests' StuckWriteWait.
const stuckWriteWait = 300 * time.Millisecond

type stream = connect.BidiStreamForClient[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]

func (c *conversations) open() *stream {
	c.t.Helper()
	s := c.client.QueueConversation(ctx(c.t))
	c.t.Cleanup(func() { _ = s.CloseResponse() })
	return s
}

func (c *conversations) send(s *stream, req *elizav1.QueueConversationRequest) {
	c.t.Helper()
	if err := s.Send(req); err != nil {
		c.t.Fatalf("send %+v: %v", req, err)
	}
}

func (c *conversations) receive(s *stream) *elizav1.QueueConversationResponse {
	c.t.Helper()
	res, err := s.Receive()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return res
}

// answer plays the worker: it records the outcome of the n-th job enqueued.
func (c *conversations) answer(n int, text string) {
	c.t.Helper()
	var job queue.Job
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if all := c.jobs.all(); len(all) > n {
			job = all[n]
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("job %d was never enqueued", n)
		}
	}
	if _, _, err := c.store.Finish(c.t.Context(), job.ConversationID, job.ID, job.Sentence, transcript.Reply, text); err != nil {
		c.t.Fatal(err)
	}
}

// short describes a response as the tests compare it: kind, serial and text.
func short(res *elizav1.QueueConversationResponse) string {
	return fmt.Sprintf("%s/%d/%s/%s", res.GetKind().String()[5:], res.GetSerial(), res.GetSentence(), res.GetInReplyTo())
}

func TestQueueConversation_StartsAConversationAndNumbersItsEvents(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	first := c.receive(s)
	if short(first) != "ENQUEUED/1/enqueued/hello" || first.GetJobId() == "" {
		t.Fatalf("first response %+v", first)
	}
	if _, err := uuid.Parse(first.GetConversationId()); err != nil {
		t.Fatalf("conversation id %q: %v", first.GetConversationId(), err)
	}
	c.answer(0, "hi there")
	reply := c.receive(s)
	if short(reply) != "REPLY/2/hi there/hello" || reply.GetJobId() != first.GetJobId() || reply.GetConversationId() != first.GetConversationId() {
		t.Fatalf("reply %+v", reply)
	}
}

func TestQueueConversation_JobIDsAreOrderedByWhenTheyWereMade(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	var ids []uuid.UUID
	for _, sentence := range []string{"one", "two", "three"} {
		c.send(s, &elizav1.QueueConversationRequest{Sentence: sentence})
		res := c.receive(s)
		id, err := uuid.Parse(res.GetJobId())
		if err != nil || id.Version() != 7 {
			t.Fatalf("job id %q of %q: version %d, %v; want a UUIDv7", res.GetJobId(), sentence, id.Version(), err)
		}
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		if bytes.Compare(ids[i-1][:], ids[i][:]) >= 0 {
			t.Fatalf("job ids out of order: %s then %s", ids[i-1], ids[i])
		}
	}
}

func TestQueueConversation_QueueFullIsPerConversationAndSaysWhichSentence(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	for i, want := range []string{"ENQUEUED/1/enqueued/a", "ENQUEUED/2/enqueued/b", "ENQUEUED/3/enqueued/c", "QUEUE_FULL/0/queue is full!/d"} {
		c.send(s, &elizav1.QueueConversationRequest{Sentence: string(rune('a' + i))})
		if got := short(c.receive(s)); got != want {
			t.Fatalf("response %d = %s, want %s", i, got, want)
		}
	}
	// Another conversation has room of its own.
	other := c.open()
	c.send(other, &elizav1.QueueConversationRequest{Sentence: "e"})
	if got := short(c.receive(other)); got != "ENQUEUED/1/enqueued/e" {
		t.Fatalf("another conversation: %s", got)
	}
	// An answer frees a slot.
	c.answer(0, "A")
	if got := short(c.receive(s)); got != "REPLY/4/A/a" {
		t.Fatalf("reply %s", got)
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "f"})
	if got := short(c.receive(s)); got != "ENQUEUED/5/enqueued/f" {
		t.Fatalf("after an answer: %s", got)
	}
}

func TestQueueConversation_ResumeSendsTheRestExactlyOnceThenWhatHappens(t *testing.T) {
	c := startConversations(t, time.Hour)
	a := c.open()
	c.send(a, &elizav1.QueueConversationRequest{Sentence: "one"})
	conv := c.receive(a).GetConversationId()
	c.send(a, &elizav1.QueueConversationRequest{Sentence: "two"})
	c.receive(a)
	_ = a.CloseRequest()
	_ = a.CloseResponse() // the client goes away with two jobs waiting
	c.answer(0, "ONE")

	b := c.open()
	c.send(b, &elizav1.QueueConversationRequest{ConversationId: conv, ResumeAfter: 1})
	for _, want := range []string{"ENQUEUED/2/enqueued/two", "REPLY/3/ONE/one"} {
		if got := short(c.receive(b)); got != want {
			t.Fatalf("resumed: %s, want %s", got, want)
		}
	}
	// Where the history ended when it resumed, as a Watch says: the client knows its "two"
	// is there, and sends it not again.
	if got := b.ResponseHeader().Get(frontdoor.HeaderLastSerial); got != "3" {
		t.Fatalf("%s %q, want 3", frontdoor.HeaderLastSerial, got)
	}
	c.answer(1, "TWO")
	if got := short(c.receive(b)); got != "REPLY/4/TWO/two" {
		t.Fatalf("live after the replay: %s", got)
	}
	// Half-closed with nothing waiting, the stream ends.
	_ = b.CloseRequest()
	if _, err := b.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("after half-close: %v, want the end of the stream", err)
	}
}

func TestQueueConversation_HalfClosedResumeWaitsForJobsQueuedOnAnEarlierStream(t *testing.T) {
	c := startConversations(t, time.Hour)
	a := c.open()
	c.send(a, &elizav1.QueueConversationRequest{Sentence: "one"})
	first := c.receive(a)
	_ = a.CloseResponse()

	// grpcurl sends its input and half-closes at once.
	b := c.open()
	c.send(b, &elizav1.QueueConversationRequest{ConversationId: first.GetConversationId(), ResumeAfter: first.GetSerial()})
	_ = b.CloseRequest()
	c.answer(0, "ONE")
	if got := short(c.receive(b)); got != "REPLY/2/ONE/one" {
		t.Fatalf("resumed: %s", got)
	}
	if _, err := b.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v, want the end of the stream", err)
	}
}

func TestQueueConversation_TwoStreamsOnOneConversationBothGetEveryEvent(t *testing.T) {
	c := startConversations(t, time.Hour)
	a := c.open()
	c.send(a, &elizav1.QueueConversationRequest{Sentence: "from a"})
	first := c.receive(a)
	b := c.open()
	c.send(b, &elizav1.QueueConversationRequest{ConversationId: first.GetConversationId(), ResumeAfter: 1, Sentence: "from b"})
	if got := short(c.receive(b)); got != "ENQUEUED/2/enqueued/from b" {
		t.Fatalf("b's own: %s", got)
	}
	if got := short(c.receive(a)); got != "ENQUEUED/2/enqueued/from b" {
		t.Fatalf("a sees b's sentence: %s", got)
	}
	c.answer(0, "A")
	for name, s := range map[string]*stream{"a": a, "b": b} {
		if got := short(c.receive(s)); got != "REPLY/3/A/from a" {
			t.Fatalf("%s: %s", name, got)
		}
	}
}

func TestQueueConversation_RefusesBadInputWithTheRightCode(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	known := c.receive(s)
	cases := map[string]struct {
		req  *elizav1.QueueConversationRequest
		code connect.Code
	}{
		"malformed id": {&elizav1.QueueConversationRequest{ConversationId: "not-a-uuid", Sentence: "x"}, connect.CodeInvalidArgument},
		// A job cannot carry it: its workers would refuse it, and its answer would never come.
		"the nil UUID":         {&elizav1.QueueConversationRequest{ConversationId: uuid.Nil.String(), Sentence: "x"}, connect.CodeInvalidArgument},
		"resume the nil UUID":  {&elizav1.QueueConversationRequest{ConversationId: uuid.Nil.String(), ResumeAfter: 1}, connect.CodeInvalidArgument},
		"attach to unknown":    {&elizav1.QueueConversationRequest{ConversationId: uuid.NewString()}, connect.CodeNotFound},
		"resume unknown":       {&elizav1.QueueConversationRequest{ConversationId: uuid.NewString(), ResumeAfter: 1, Sentence: "x"}, connect.CodeNotFound},
		"resume beyond":        {&elizav1.QueueConversationRequest{ConversationId: known.GetConversationId(), ResumeAfter: 9}, connect.CodeInvalidArgument},
		"resume without an id": {&elizav1.QueueConversationRequest{ResumeAfter: 1, Sentence: "x"}, connect.CodeInvalidArgument},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := c.open()
			_ = s.Send(tc.req) // io.EOF when the stream has ended already: its error comes from Receive
			if _, err := s.Receive(); connect.CodeOf(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
	// A first sentence refused as it stands starts no conversation, as a Send's does not (it
	// started one, which its id then named and a Watch followed): without an id, or with one
	// the server does not have, the stream ends InvalidArgument.
	unknown := uuid.NewString()
	for name, req := range map[string]*elizav1.QueueConversationRequest{
		"nothing":               {},
		"spaces":                {Sentence: "   "},
		"too long":              {Sentence: strings.Repeat("a", frontdoor.MaxSentenceBytes+1)},
		"spaces, an id unknown": {ConversationId: unknown, Sentence: " \u200b\t"},
	} {
		s := c.open()
		_ = s.Send(req) // io.EOF when the stream has ended already: its error comes from Receive
		if res, err := s.Receive(); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Fatalf("a first sentence of %s: %+v, %v; want InvalidArgument", name, res, err)
		}
	}
	s = c.open()
	c.send(s, &elizav1.QueueConversationRequest{ConversationId: unknown})
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("attaching to the id of a refused first sentence: %v, want NotFound: no conversation was started", err)
	}
	// On a conversation the server has, it is answered like any other, after the history, and
	// the stream stays open.
	s = c.open()
	c.send(s, &elizav1.QueueConversationRequest{ConversationId: known.GetConversationId(), Sentence: "  "})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("the history first: %s", got)
	}
	if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetSerial() != 0 || res.GetConversationId() != known.GetConversationId() {
		t.Fatalf("a blank first sentence on a conversation: %+v", res)
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "now"})
	if got := short(c.receive(s)); got != "ENQUEUED/2/enqueued/now" {
		t.Fatalf("after it: %s", got)
	}
	// A client's own new id starts a conversation with that id.
	mine := uuid.NewString()
	s = c.open()
	c.send(s, &elizav1.QueueConversationRequest{ConversationId: mine, Sentence: "hi"})
	if res := c.receive(s); res.GetConversationId() != mine || res.GetSerial() != 1 {
		t.Fatalf("a client-chosen id: %+v", res)
	}
}

func TestQueueConversation_AnEnqueueFailureSaysUnavailableAndFreesTheSlot(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.jobs.fail(errors.New("kafka down"))
	for range 4 {
		c.send(s, &elizav1.QueueConversationRequest{Sentence: "lost"})
		if got := short(c.receive(s)); got != "ERROR/0/queue unavailable/lost" {
			t.Fatalf("with Kafka down: %s", got)
		}
	}
	c.jobs.fail(nil)
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "back"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/back" {
		t.Fatalf("after Kafka is back: %s", got)
	}
}

func TestQueueConversation_TimesEachStageOfAnAdmission(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("enqueued: %s", got)
	}
	c.jobs.fail(errors.New("kafka down"))
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "lost"})
	if got := short(c.receive(s)); got != "ERROR/0/queue unavailable/lost" {
		t.Fatalf("with Kafka down: %s", got)
	}
	want := map[string]uint64{frontdoor.StageReserve: 2, frontdoor.StageEnqueue: 2, frontdoor.StageAccept: 1, frontdoor.StageRefuse: 1}
	if got := c.observations("frontdoor_admission_stage_seconds"); !maps.Equal(got, want) {
		t.Fatalf("admissions timed by stage: %v, want %v", got, want)
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: ""}) // refused before the transcript: not an admission
	if got := short(c.receive(s)); got != "ERROR/0/invalid_argument: sentence is empty: say something/" {
		t.Fatalf("an empty sentence: %s", got)
	}
	if got := c.observations("frontdoor_admission_seconds")[""]; got != 2 {
		t.Fatalf("admissions timed whole: %d, want 2 (the one enqueued and the one whose write failed)", got)
	}
}

// Each sentence is counted by its admission's outcome, not by the RPC that brought it: a
// stream brings many, and a refusal is an ok RPC.
func TestQueueConversation_CountsEachSentenceByItsOutcome(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	for _, sentence := range []string{"one", "two", "three", "four"} { // QUEUE_LIMIT 3, nothing answers
		c.send(s, &elizav1.QueueConversationRequest{Sentence: sentence})
		c.receive(s)
	}
	c.send(s, &elizav1.QueueConversationRequest{Sentence: ""})
	c.receive(s)
	want := map[string]float64{}
	for _, outcome := range frontdoor.SentenceOutcomes() {
		want[outcome] = 0
	}
	want[frontdoor.OutcomeEnqueued], want[frontdoor.OutcomeQueueFull], want[frontdoor.OutcomeInvalid] = 3, 1, 1
	got := map[string]float64{}
	for outcome, m := range c.series("frontdoor_sentences_total", "outcome") {
		got[outcome] = m.GetCounter().GetValue()
	}
	if !maps.Equal(got, want) {
		t.Fatalf("sentences by outcome: %v, want %v", got, want)
	}
}

// observations reads how many observations the histogram name holds, by the value of its
// series' "stage" label ("" for a series without one).
func (c *conversations) observations(name string) map[string]uint64 {
	c.t.Helper()
	counts := map[string]uint64{}
	for stage, m := range c.series(name, "stage") {
		counts[stage] = m.GetHistogram().GetSampleCount()
	}
	return counts
}

// streamsEnded reads frontdoor_conversation_streams_ended_total, by reason.
func (c *conversations) streamsEnded() map[string]float64 {
	c.t.Helper()
	counts := map[string]float64{}
	for reason, m := range c.series("frontdoor_conversation_streams_ended_total", "reason") {
		counts[reason] = m.GetCounter().GetValue()
	}
	return counts
}

// series reads the metric name's series, by the value of their label ("" for a series
// without it); it fails the test when name is not registered.
func (c *conversations) series(name, label string) map[string]*dto.Metric {
	c.t.Helper()
	families, err := c.metrics.Gather()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		series := map[string]*dto.Metric{}
		for _, m := range f.GetMetric() {
			var value string
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					value = l.GetValue()
				}
			}
			series[value] = m
		}
		return series
	}
	c.t.Fatalf("%s is not registered", name)
	return nil
}

// prepare plays a worker taking job from the queue.
func (c *conversations) prepare(job queue.Job) transcript.Preparation {
	c.t.Helper()
	p, err := c.store.Prepare(context.Background(), job.ConversationID, job.ID, job.Sentence, 10)
	if err != nil {
		c.t.Error(err)
	}
	return p
}

func TestQueueConversation_AWriteThatFailsButLandsLaterIsRefusedAndNeverAnswered(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.jobs.failButLand(context.DeadlineExceeded, nil)
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "stalled"})
	res := c.receive(s)
	if got := short(res); got != "ERROR/0/queue unavailable/stalled" {
		t.Fatalf("a write that timed out: %s", got)
	}
	job := c.jobs.all()[0]
	if res.GetJobId() != job.ID.String() {
		t.Fatalf("the refusal names job %q, want %s", res.GetJobId(), job.ID)
	}
	// The message lands after all and a worker finds it: it skips it.
	if p := c.prepare(job); !p.Refused {
		t.Fatalf("the worker's preparation of the refused job: %+v, want Refused", p)
	}
}

// networked is the in-memory transcript whose Refuse takes a round trip, failing if its
// context ends first, as a store across a network does.
type networked struct{ *transcript.Memory }

func (n networked) Refuse(ctx context.Context, conv, job uuid.UUID, sentence string) (transcript.Event, bool, error) {
	select {
	case <-ctx.Done():
		return transcript.Event{}, false, ctx.Err()
	case <-time.After(20 * time.Millisecond):
	}
	return n.Memory.Refuse(ctx, conv, job, sentence)
}

func TestQueueConversation_AWriteThatTimesOutIsRefusedWithinATimeoutOfItsOwn(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, networked{m})
	s := c.open()
	c.jobs.mu.Lock()
	c.jobs.stall = true
	c.jobs.mu.Unlock()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "stalled"})
	if got := short(c.receive(s)); got != "ERROR/0/queue unavailable/stalled" {
		t.Fatalf("a write that used up ENQUEUE_TIMEOUT: %s (the refusal needs a deadline of its own)", got)
	}
	if p := c.prepare(c.jobs.all()[0]); !p.Refused {
		t.Fatalf("the worker's preparation of the stalled job: %+v, want Refused", p)
	}
	// A client whose deadline passes while the write stalls was failed by the queue: it did
	// not leave.
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond) // within ENQUEUE_TIMEOUT, 1 s
	defer cancel()
	if _, err := c.client.Send(short, connect.NewRequest(&elizav1.SendRequest{Sentence: "stalled again"})); connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("a Send whose deadline passes during a stalled write: %v", err)
	}
	var failed, left float64
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		outcomes := c.series("frontdoor_sentences_total", "outcome")
		failed, left = outcomes[frontdoor.OutcomeUnavailable].GetCounter().GetValue(), outcomes[frontdoor.OutcomeLeft].GetCounter().GetValue()
		return failed == 2
	}, func() string {
		return fmt.Sprintf("sentences counted unavailable %v, left %v; want 2 and 0", failed, left)
	})
	if left != 0 {
		t.Fatalf("sentences counted left: %v, want 0", left)
	}
}

func TestQueueConversation_AWriteThatFailsAfterAWorkerTookItsJobSaysEnqueued(t *testing.T) {
	c := startConversations(t, time.Hour)
	s := c.open()
	c.jobs.failButLand(context.DeadlineExceeded, func(job queue.Job) { c.prepare(job) })
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "raced"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/raced" {
		t.Fatalf("a write that timed out but whose job a worker took: %s", got)
	}
	c.answer(0, "answered")
	if got := short(c.receive(s)); got != "REPLY/2/answered/raced" {
		t.Fatalf("its answer: %s", got)
	}
}

func TestSend_ARefusalAfterAFailedWriteNamesItsJob(t *testing.T) {
	c := startConversations(t, time.Hour)
	c.jobs.failButLand(context.DeadlineExceeded, nil)
	res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "stalled"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.Msg.GetSentence() != frontdoor.TextUnavailable ||
		res.Msg.GetJobId() != c.jobs.all()[0].ID.String() || res.Msg.GetSerial() != 0 {
		t.Fatalf("send with a write that timed out: %+v", res.Msg)
	}
}

// unsettled is a transcript that cannot refuse: Postgres went away with Kafka.
type unsettled struct{ *transcript.Memory }

func (unsettled) Refuse(context.Context, uuid.UUID, uuid.UUID, string) (transcript.Event, bool, error) {
	return transcript.Event{}, false, errors.New("connection refused")
}

func TestQueueConversation_AFailedWriteThatCannotBeRefusedIsNotConfirmed(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, unsettled{m})
	s := c.open()
	c.jobs.failButLand(context.DeadlineExceeded, nil)
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "unknown"})
	res := c.receive(s)
	if got := short(res); got != "ERROR/0/"+frontdoor.TextUnconfirmed+"/unknown" || res.GetJobId() != c.jobs.all()[0].ID.String() {
		t.Fatalf("a write neither confirmed nor refused: %s, job %q", got, res.GetJobId())
	}
	// It may still be answered: a worker that finds it takes it, and the stream hears of it.
	c.prepare(c.jobs.all()[0])
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/unknown" {
		t.Fatalf("the job taken by a worker: %s", got)
	}
}

func TestSendAndWatch_QueueAndFollowAConversationWithoutStreamingRequests(t *testing.T) {
	c := startConversations(t, time.Hour)
	sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	if sent.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED || sent.Msg.GetSerial() != 1 || sent.Msg.GetJobId() == "" {
		t.Fatalf("send: %+v", sent.Msg)
	}
	conv := sent.Msg.GetConversationId()
	watch, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	next := func() string {
		t.Helper()
		if !watch.Receive() {
			t.Fatalf("watch ended: %v", watch.Err())
		}
		return short(watch.Msg())
	}
	if got := next(); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("replay: %s", got)
	}
	c.answer(0, "hi")
	if got := next(); got != "REPLY/2/hi/hello" {
		t.Fatalf("live: %s", got)
	}
	again, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: "more"}))
	if err != nil || again.Msg.GetSerial() != 3 {
		t.Fatalf("second send: %+v %v", again.Msg, err)
	}
	if got := next(); got != "ENQUEUED/3/enqueued/more" {
		t.Fatalf("live enqueued: %s", got)
	}
}

// A Watch's request has its body's wait (BodyWait) only until that body has come: a Watch
// follows its conversation for as long as its client likes, over HTTP/1.1 (where the wait is
// the connection's read deadline) and HTTP/2.
func TestWatch_OutlivesTheWaitForItsRequest(t *testing.T) {
	const bodyWait = 100 * time.Millisecond
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) { o.BodyWait = bodyWait })
	for n, tc := range []struct {
		name   string
		client *http.Client
	}{{"HTTP/1.1", c.h.http1}, {"HTTP/2", c.h.h2c}} {
		sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
		if err != nil {
			t.Fatal(err)
		}
		watch, err := elizav1connect.NewElizaServiceClient(tc.client, c.h.url).Watch(ctx(t),
			connect.NewRequest(&elizav1.WatchRequest{ConversationId: sent.Msg.GetConversationId()}))
		if err != nil {
			t.Fatal(err)
		}
		if !watch.Receive() || short(watch.Msg()) != "ENQUEUED/1/enqueued/hello" {
			t.Fatalf("%s: replay: %v", tc.name, watch.Err())
		}
		time.Sleep(5 * bodyWait)
		c.answer(n, "hi")
		if !watch.Receive() || short(watch.Msg()) != "REPLY/2/hi/hello" {
			t.Fatalf("%s: the answer, %v after the Watch began: %v", tc.name, 5*bodyWait, watch.Err())
		}
		_ = watch.Close()
	}
}

// A Watch says at once, in its response's headers and before any event, the conversation's
// last serial when it began: where its history ends. A client following a conversation with
// nothing new knows it has caught up without waiting for an event that may never come.
func TestWatch_SaysWhereTheHistoryEndsBeforeAnyEvent(t *testing.T) {
	c := startConversations(t, time.Hour)
	var conv string
	for _, sentence := range []string{"one", "two"} {
		sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: sentence}))
		if err != nil {
			t.Fatal(err)
		}
		conv = sent.Msg.GetConversationId()
	}
	c.answer(0, "hi") // serial 3
	for _, protocol := range []connect.ClientOption{connect.WithGRPC(), connect.WithGRPCWeb(), connect.WithProtoJSON()} {
		client := elizav1connect.NewElizaServiceClient(c.h.h2c, c.h.url, protocol)
		for _, after := range []uint64{0, 3} { // history to replay; nothing new
			watch, err := client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv, AfterSerial: after}))
			if err != nil {
				t.Fatal(err)
			}
			header := make(chan string, 1)
			go func() { header <- watch.ResponseHeader().Get(frontdoor.HeaderLastSerial) }()
			select {
			case got := <-header:
				if got != "3" {
					t.Errorf("after %d: %s %q, want \"3\"", after, frontdoor.HeaderLastSerial, got)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("after %d: no response headers before an event", after)
			}
			if after == 0 { // the headers came alone: the first message is the first event
				if !watch.Receive() {
					t.Fatalf("watch ended: %v", watch.Err())
				}
				if got := short(watch.Msg()); got != "ENQUEUED/1/enqueued/one" {
					t.Errorf("the first message after the headers: %s", got)
				}
			}
			_ = watch.Close()
		}
	}
}

func TestSendAndWatch_RefuseBadInput(t *testing.T) {
	c := startConversations(t, 200*time.Millisecond)
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: ""})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("empty sentence: %v", err)
	}
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "bad\x00x"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a NUL in the sentence: %v", err)
	}
	if got := c.series("frontdoor_sentences_total", "outcome")[frontdoor.OutcomeInvalid].GetCounter().GetValue(); got != 2 {
		t.Fatalf("invalid sentences counted: %v, want the empty one and the one with a NUL", got)
	}
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: "x", Sentence: "hi"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("malformed id: %v", err)
	}
	// A long one is not sent back whole.
	long := strings.Repeat("a", 2000)
	_, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: long, Sentence: "hi"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || len(err.Error()) > 200 || !strings.Contains(err.Error(), "(2000 bytes)") {
		t.Fatalf("a 2,000-byte id: %v, want InvalidArgument saying its length and not all of it", err)
	}
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: uuid.Nil.String(), Sentence: "hi"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("the nil UUID: %v", err)
	}
	watchErr := func(req *elizav1.WatchRequest) error {
		w, err := c.client.Watch(ctx(t), connect.NewRequest(req))
		if err != nil {
			return err
		}
		defer w.Close()
		w.Receive()
		return w.Err()
	}
	if err := watchErr(&elizav1.WatchRequest{ConversationId: uuid.NewString()}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown conversation: %v", err)
	}
	if err := watchErr(&elizav1.WatchRequest{ConversationId: uuid.Nil.String()}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("the nil UUID: %v", err)
	}
	sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := watchErr(&elizav1.WatchRequest{ConversationId: sent.Msg.GetConversationId(), AfterSerial: 5}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("after_serial beyond the end: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // idle past the 200ms CONVERSATION_TTL of this test
	if err := watchErr(&elizav1.WatchRequest{ConversationId: sent.Msg.GetConversationId()}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("expired conversation: %v", err)
	}
}

// A Send with after_serial goes on with the conversation the client has seen, or fails: it
// never starts a new one under that id, as a Send without it does once the expired
// conversation is forgotten (and the model would answer a sentence whose client has moved on).
func TestSend_WithAfterSerialGoesOnOnlyWithTheConversationItNames(t *testing.T) {
	c := startConversations(t, 200*time.Millisecond)
	send := func(id string, after uint64) (*elizav1.SendResponse, error) {
		res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: id, Sentence: "hello", AfterSerial: after}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}
	if _, err := send("", 1); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("after_serial without a conversation: %v, want InvalidArgument", err)
	}
	first, err := send("", 0)
	if err != nil || first.GetSerial() != 1 {
		t.Fatalf("a new conversation's first sentence: %v, %v", first, err)
	}
	id := first.GetConversationId()
	// Beyond the last serial: the conversation the client saw was lost, and this one started
	// again under its id.
	if _, err := send(id, 5); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after_serial beyond the conversation's last: %v, want NotFound", err)
	}
	if next, err := send(id, 1); err != nil || next.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED || next.GetSerial() != 2 {
		t.Fatalf("a sentence after serial 1: %v, %v; want enqueued as serial 2", next, err)
	}
	unknown := uuid.New()
	if _, err := send(unknown.String(), 3); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after_serial of a conversation the server does not have: %v, want NotFound", err)
	}
	if _, err := c.store.Open(ctx(t), unknown, false, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("the conversation it named: %v, want it not started", err)
	}
	if n := len(c.jobs.all()); n != 2 {
		t.Fatalf("%d jobs queued, want the 2 enqueued", n)
	}

	time.Sleep(300 * time.Millisecond) // idle past the 200ms CONVERSATION_TTL of this test
	if _, err := send(id, 2); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after_serial of an expired conversation: %v, want NotFound", err)
	}
	// Expired by the sweep: its events are gone and its id is kept, so that even a Send
	// without after_serial starts nothing under it, for a TTL.
	if _, err := c.store.Expire(ctx(t), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := send(id, 2); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after_serial of a conversation swept away: %v, want NotFound", err)
	}
	if _, err := send(id, 0); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("a sentence without after_serial to a conversation swept away: %v, want NotFound until its id is forgotten", err)
	}
	// Forgotten a TTL later: a Send without after_serial starts a new conversation under the
	// id, from serial 1; one with it still does not.
	time.Sleep(300 * time.Millisecond)
	if _, err := c.store.Expire(ctx(t), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := send(id, 2); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("after_serial of a conversation forgotten: %v, want NotFound", err)
	}
	if _, err := c.store.Open(ctx(t), uuid.MustParse(id), false, uuid.Nil); !errors.Is(err, transcript.ErrNotFound) {
		t.Fatalf("the forgotten conversation: %v, want it not started again", err)
	}
	if again, err := send(id, 0); err != nil || again.GetSerial() != 1 {
		t.Fatalf("a sentence without after_serial to a conversation forgotten: %v, %v; want a new one, enqueued as serial 1", again, err)
	}
	if n := len(c.jobs.all()); n != 3 {
		t.Fatalf("%d jobs queued, want the 3 enqueued", n)
	}
	outcomes := c.series("frontdoor_sentences_total", "outcome")
	for outcome, want := range map[string]float64{frontdoor.OutcomeEnqueued: 3, frontdoor.OutcomeInvalid: 1, frontdoor.OutcomeNotFound: 6} {
		if got := outcomes[outcome].GetCounter().GetValue(); got != want {
			t.Errorf("sentences counted %s: %v, want %v", outcome, got, want)
		}
	}
}

// startCountingReads serves conversations on the in-memory transcript, counting the reads
// the streams make of it.
func startCountingReads(t *testing.T) (*conversations, *reads) {
	t.Helper()
	m := transcript.NewMemory(time.Hour)
	r := &reads{Memory: m}
	return startConversationsOn(t, m, r), r
}

// reads is the in-memory transcript counting the reads a stream makes of it.
type reads struct {
	*transcript.Memory
	mu             sync.Mutex
	waiting, event int
}

func (r *reads) Waiting(ctx context.Context, conv uuid.UUID) ([]uuid.UUID, error) {
	r.mu.Lock()
	r.waiting++
	r.mu.Unlock()
	return r.Memory.Waiting(ctx, conv)
}

func (r *reads) Events(ctx context.Context, conv uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	r.mu.Lock()
	r.event++
	r.mu.Unlock()
	return r.Memory.Events(ctx, conv, after, limit)
}

// counts returns the reads so far and starts counting again.
func (r *reads) counts() (waiting, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	waiting, events, r.waiting, r.event = r.waiting, r.event, 0, 0
	return waiting, events
}

func TestQueueConversation_AHalfClosedStreamReadsTheTranscriptOnlyOnceItsOwnJobsAreAnswered(t *testing.T) {
	c, r := startCountingReads(t)
	s := c.open()
	for _, sentence := range []string{"a", "b", "c"} {
		c.send(s, &elizav1.QueueConversationRequest{Sentence: sentence})
		c.receive(s)
	}
	_ = s.CloseRequest()
	r.counts()
	for i, want := range []string{"REPLY/4/A/a", "REPLY/5/B/b", "REPLY/6/C/c"} {
		c.answer(i, string(rune('A'+i)))
		if got := short(c.receive(s)); got != want {
			t.Fatalf("reply %d: %s, want %s", i, got, want)
		}
	}
	if _, err := s.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v, want the end of the stream", err)
	}
	// The replies come with their wake-ups; only the end is checked against the store.
	if waiting, events := r.counts(); waiting != 1 || events != 1 {
		t.Fatalf("after half-close the stream asked Waiting %d times and read Events %d times, want once each", waiting, events)
	}
}

func TestQueueConversation_AReplyAppendedDuringAnAdmissionIsSentFirstWithoutAReadBack(t *testing.T) {
	c, r := startCountingReads(t)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "one"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/one" {
		t.Fatalf("first: %s", got)
	}
	// The first job is answered while the second sentence is being enqueued: the second's
	// "enqueued" (serial 3) is appended after the reply (serial 2), which the stream has not
	// sent yet.
	first := c.jobs.all()[0]
	c.jobs.mu.Lock()
	c.jobs.landed = func(queue.Job) {
		if _, _, err := c.store.Finish(context.Background(), first.ConversationID, first.ID, first.Sentence, transcript.Reply, "ONE"); err != nil {
			t.Error(err)
		}
	}
	c.jobs.mu.Unlock()
	r.counts()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "two"})
	for _, want := range []string{"REPLY/2/ONE/one", "ENQUEUED/3/enqueued/two"} {
		if got := short(c.receive(s)); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if _, events := r.counts(); events != 0 {
		t.Fatalf("the stream read Events %d times, want none: the store was woken with the reply", events)
	}
}

// watchedFirst is the transcript counting reads whose Reserve waits until a Watch has begun:
// a stream's first sentence is then accepted after its watch began, as it is when the
// listener is quicker than the queue, and the watch finds the conversation empty.
type watchedFirst struct {
	*reads
	watched chan struct{}
	once    sync.Once
}

func (w *watchedFirst) Watch(ctx context.Context, conv uuid.UUID) (<-chan struct{}, uint64, func(), error) {
	wake, last, stop, err := w.reads.Watch(ctx, conv)
	w.once.Do(func() { close(w.watched) })
	return wake, last, stop, err
}

func (w *watchedFirst) Reserve(ctx context.Context, conv, job uuid.UUID, sentence string, limit int) error {
	select {
	case <-w.watched:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.reads.Reserve(ctx, conv, job, sentence, limit)
}

func TestQueueConversation_ANewConversationsFirstSentenceIsEnqueuedWithoutReadingTheTranscript(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	r := &reads{Memory: m}
	c := startConversationsOn(t, m, &watchedFirst{reads: r, watched: make(chan struct{})})
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "one"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/one" {
		t.Fatalf("first: %s", got)
	}
	if _, events := r.counts(); events != 0 {
		t.Fatalf("the stream read Events %d times, want none: the watch said the conversation was empty", events)
	}
	// A resume from an earlier serial reads what it missed.
	resumed := c.open()
	c.send(resumed, &elizav1.QueueConversationRequest{ConversationId: c.jobs.all()[0].ConversationID.String()})
	if got := short(c.receive(resumed)); got != "ENQUEUED/1/enqueued/one" {
		t.Fatalf("resumed from 0: %s", got)
	}
	if _, events := r.counts(); events != 1 {
		t.Fatalf("the resume read Events %d times, want once", events)
	}
}

// slowWatch is the in-memory transcript whose Watch returns only once a job has been
// enqueued, as a listener that is slow to LISTEN while the queue is fast.
type slowWatch struct {
	*transcript.Memory
	enqueued chan struct{}
}

func (w *slowWatch) Watch(ctx context.Context, conv uuid.UUID) (<-chan struct{}, uint64, func(), error) {
	select {
	case <-w.enqueued:
	case <-ctx.Done():
		return nil, 0, nil, ctx.Err()
	}
	return w.Memory.Watch(ctx, conv)
}

func TestQueueConversation_TheFirstSentenceIsQueuedWhileTheStreamStartsToWatch(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	w := &slowWatch{Memory: m, enqueued: make(chan struct{})}
	c := startConversationsOn(t, m, w)
	var once sync.Once
	c.jobs.landed = func(queue.Job) { once.Do(func() { close(w.enqueued) }) }
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "one"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/one" {
		t.Fatalf("first: %s", got)
	}
	c.answer(0, "ONE")
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "two"})
	for _, want := range []string{"REPLY/2/ONE/one", "ENQUEUED/3/enqueued/two"} {
		if got := short(c.receive(s)); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
}

func TestDrain_EndsWatchesAtOnceAndQueuedStreamsOnceTheirAnswersAreSent(t *testing.T) {
	c := startConversations(t, time.Hour)
	waiting := c.open() // a sentence of its own unanswered when the drain begins
	c.send(waiting, &elizav1.QueueConversationRequest{Sentence: "hello"})
	if got := short(c.receive(waiting)); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("waiting: %s", got)
	}
	answered := c.open() // its sentence answered
	c.send(answered, &elizav1.QueueConversationRequest{Sentence: "hi"})
	first := c.receive(answered)
	c.answer(1, "yo")
	if got := short(c.receive(answered)); got != "REPLY/2/yo/hi" {
		t.Fatalf("answered: %s", got)
	}
	// (From the answer: a watch's call returns with its first event.)
	watch, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: first.GetConversationId(), AfterSerial: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	if !watch.Receive() || short(watch.Msg()) != "REPLY/2/yo/hi" {
		t.Fatalf("watch: %v", watch.Err())
	}

	c.service.Drain()
	c.service.Drain() // twice is once
	// Each ended as unavailable, with the ErrorInfo that tells a program to resume elsewhere.
	if watch.Receive() || !frontdoor.IsDraining(watch.Err()) {
		t.Fatalf("the watch after the drain: %v, want it ended as draining", watch.Err())
	}
	if res, err := answered.Receive(); err == nil || !frontdoor.IsDraining(err) {
		t.Fatalf("a stream with nothing of its own due: %+v %v, want it ended as draining", res, err)
	}
	// The waiting stream queues no more sentences: each is refused, said so to be sent again
	// where the client resumes (they vanished without a word). It ends once its own answer is
	// sent.
	c.send(waiting, &elizav1.QueueConversationRequest{Sentence: "still there?"})
	if got := short(c.receive(waiting)); got != "ERROR/0/"+frontdoor.TextDraining+"/still there?" {
		t.Fatalf("a sentence sent after the drain: %s, want it refused as draining", got)
	}
	c.answer(0, "hi there")
	if got := short(c.receive(waiting)); got != "REPLY/2/hi there/hello" {
		t.Fatalf("waiting, after the drain: %s, want its answer", got)
	}
	if res, err := waiting.Receive(); err == nil || !frontdoor.IsDraining(err) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("the waiting stream once answered: %+v %v, want it ended as unavailable, saying to resume", res, err)
	}
	if n := len(c.jobs.all()); n != 2 {
		t.Fatalf("%d jobs enqueued, want 2: a sentence sent after the drain began is not taken", n)
	}
	// Counted apart from the streams a failing transcript ends, which ReplyDeliveryFailures
	// alerts on.
	if got, want := c.streamsEnded(), map[string]float64{frontdoor.EndDraining: 3, frontdoor.EndTranscriptUnavailable: 0}; !maps.Equal(got, want) {
		t.Fatalf("streams ended by reason: %v, want %v", got, want)
	}
}

// A draining stream whose own answers do not come within the drain's wait (a model slower
// than the shutdown's grace, or none answering) ends with ErrDraining then: it waited out the
// grace and was cut with it, without a word of resuming. Its answer comes where it resumes.
func TestDrain_EndsAQueuedStreamWhoseAnswerIsLateWithinItsWait(t *testing.T) {
	c := startConversations(t, time.Hour)
	c.service.WithDrainWait(300 * time.Millisecond)
	waiting := c.open()
	c.send(waiting, &elizav1.QueueConversationRequest{Sentence: "hello"})
	ack := c.receive(waiting)
	c.service.Drain()
	began := time.Now()
	if res, err := waiting.Receive(); err == nil || !frontdoor.IsDraining(err) {
		t.Fatalf("a stream whose answer does not come: %+v %v, want it ended as draining", res, err)
	}
	if took := time.Since(began); took > 2*time.Second { // the default wait is 5 s
		t.Fatalf("ended %s after the drain, want within its wait", took)
	}
	c.answer(0, "hi there")
	resumed := c.open()
	c.send(resumed, &elizav1.QueueConversationRequest{ConversationId: ack.GetConversationId(), ResumeAfter: 1})
	if got := short(c.receive(resumed)); got != "REPLY/2/hi there/hello" {
		t.Fatalf("resumed: %s, want the answer", got)
	}
}

// unreadable is the in-memory transcript whose events cannot be read back.
type unreadable struct{ *transcript.Memory }

func (unreadable) Events(context.Context, uuid.UUID, uint64, int) ([]transcript.Event, error) {
	return nil, errors.New("connection refused")
}

func TestWatch_ATranscriptThatCannotBeReadEndsTheStreamAsAFault(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, unreadable{m})
	sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: sent.Msg.GetConversationId()}))
	if err == nil {
		defer watch.Close()
		if watch.Receive() {
			t.Fatalf("a watch whose replay cannot be read sent %v", watch.Msg())
		}
		err = watch.Err()
	}
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("a watch whose replay cannot be read: %v, want unavailable", err)
	}
	if got, want := c.streamsEnded(), map[string]float64{frontdoor.EndDraining: 0, frontdoor.EndTranscriptUnavailable: 1}; !maps.Equal(got, want) {
		t.Fatalf("streams ended by reason: %v, want %v", got, want)
	}
}

// A stream that starts a conversation and cannot follow it ends Unavailable naming it: its
// first sentence's job is enqueued, and without the id the client could neither resume for
// the answer nor know the sentence was queued (it sent it again, into a new conversation).
func TestQueueConversation_ANewConversationThatCannotBeFollowedIsNamedInTheError(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, unwatchable{m})
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	_, err := s.Receive()
	jobs := c.jobs.all()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs enqueued, want the first sentence's", len(jobs))
	}
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "resume conversation "+jobs[0].ConversationID.String()+" later") {
		t.Fatalf("stream ended with %v, want unavailable naming conversation %s", err, jobs[0].ConversationID)
	}
}

// unwatchable is the in-memory transcript whose conversations cannot be watched, as
// pgtranscript's while its listener reconnects for longer than the wait allows.
type unwatchable struct{ *transcript.Memory }

func (unwatchable) Watch(context.Context, uuid.UUID) (<-chan struct{}, uint64, func(), error) {
	return nil, 0, nil, errors.New("waiting for the listener: context deadline exceeded")
}

// paging is the in-memory transcript that records how many bytes of text each read of
// events returned.
type paging struct {
	*transcript.Memory
	mu    sync.Mutex
	reads []int
}

func (p *paging) Events(ctx context.Context, conv uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	events, err := p.Memory.Events(ctx, conv, after, limit)
	p.mu.Lock()
	p.reads = append(p.reads, transcript.TextBytes(events))
	p.mu.Unlock()
	return events, err
}

// A watch of a conversation of long answers reads it a megabyte or so at a time, so that a
// client that does not read holds no more than that of the front door, also when short
// answers come first. Before, it read 500 events at a time whatever their size: with answers
// of 256 KiB, 66 MB per such client.
func TestWatch_ALongConversationIsReadAPageOfAboutAMegabyteAtATime(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	p := &paging{Memory: m}
	c := startConversationsOn(t, m, p)
	long := strings.Repeat("a long answer ", 200<<10/14) // about 200 KiB
	var conv string
	const answers = 50
	for i := range answers {
		sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: fmt.Sprint("sentence ", i)}))
		if err != nil {
			t.Fatal(err)
		}
		conv = sent.Msg.GetConversationId()
		if i < 20 { // short answers first: a page sized by the events before it would be too large
			c.answer(i, "short")
		} else {
			c.answer(i, long)
		}
	}
	p.mu.Lock()
	p.reads = nil
	p.mu.Unlock()
	watch, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	for serial := uint64(1); serial <= 2*answers; serial++ {
		if !watch.Receive() || watch.Msg().GetSerial() != serial {
			t.Fatalf("event %d: %v %v", serial, watch.Msg(), watch.Err())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, size := range p.reads {
		if size > 2<<20 {
			t.Errorf("read %d of %v returned %d bytes, want about a megabyte at most", i, p.reads, size)
		}
	}
}

// A client that stops reading does not hold the front door's shutdown: once it drains, a
// write that its client does not take within StuckWriteWait gives the stream up. Before, the
// shutdown waited for it for the whole of SHUTDOWN_GRACE.
func TestDrain_AClientThatStopsReadingDoesNotHoldTheShutdown(t *testing.T) {
	c := startConversations(t, time.Hour)
	long := strings.Repeat("a long answer ", 250<<10/14) // about 250 KiB
	var conv string
	const answers = 40
	for i := range answers { // 10 MB: more than a Go client's window of 4 MB, or the sockets' buffers
		sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: fmt.Sprint("sentence ", i)}))
		if err != nil {
			t.Fatal(err)
		}
		conv = sent.Msg.GetConversationId()
		c.answer(i, long)
	}
	// Watches that read nothing, over HTTP/2 and HTTP/1.1: each client takes a few megabytes
	// (its window; the sockets' buffers), then the front door's write waits. (Without
	// compression, which would make the answers a few kilobytes.)
	for _, client := range []elizav1connect.ElizaServiceClient{
		elizav1connect.NewElizaServiceClient(c.h.h2c, c.h.url, connect.WithGRPC(), connect.WithAcceptCompression("gzip", nil, nil)),
		elizav1connect.NewElizaServiceClient(c.h.http1, c.h.url, connect.WithGRPCWeb(), connect.WithAcceptCompression("gzip", nil, nil)),
	} {
		watch, err := client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
		if err != nil {
			t.Fatal(err)
		}
		defer watch.Close()
	}
	// And one that grants a window of 2 GB and then does not read its socket: the front door's
	// writes to the connection itself wait, and so would a reset of the stream.
	defer stuckH2Watch(t, c.h.url, conv).Close()
	// A stream with nothing to write is not given up for it: this one waits for its answer.
	waiting := c.open()
	c.send(waiting, &elizav1.QueueConversationRequest{Sentence: "hello"})
	c.receive(waiting)
	time.Sleep(200 * time.Millisecond) // for the watches' writes to fill what their clients take

	c.service.Drain()
	time.Sleep(3 * stuckWriteWait)
	c.answer(answers, "hi there")
	if got := short(c.receive(waiting)); !strings.HasPrefix(got, "REPLY/") {
		t.Fatalf("the stream waiting for its answer, after the drain: %s, want its answer", got)
	}
	shutdown, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := c.h.server.Shutdown(shutdown); err != nil {
		t.Fatalf("the shutdown with a client that does not read: %v after %v, want it over at once", err, time.Since(began))
	}
}

// stuckH2Watch opens a Watch of conv over HTTP/2 by hand, granting the server windows of
// 2 GB, and never reads from the connection, which it returns.
func stuckH2Watch(t *testing.T, url, conv string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := proto.Marshal(&elizav1.WatchRequest{ConversationId: conv})
	if err != nil {
		t.Fatal(err)
	}
	var headers bytes.Buffer
	enc := hpack.NewEncoder(&headers)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", strings.TrimPrefix(url, "http://")},
		{":path", elizav1connect.ElizaServiceWatchProcedure}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	fr := http2.NewFramer(conn, conn)
	const huge = 1<<31 - 1
	for _, err := range []error{
		func() error { _, err := io.WriteString(conn, http2.ClientPreface); return err }(),
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: huge}),
		fr.WriteWindowUpdate(0, huge-65535),
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headers.Bytes(), EndHeaders: true}),
		fr.WriteData(1, true, append([]byte{0, 0, 0, 0, byte(len(req))}, req...)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// slowReserve is the in-memory transcript whose reservations take a while (100 ms unless
// set), and are made whether or not their caller still waits, as a round's are
// (internal/rounds). Each one made is told on made. With lost set, each is made and then
// fails with it, as a commit whose answer the connection lost.
type slowReserve struct {
	*transcript.Memory
	takes time.Duration
	made  chan struct{}
	lost  error
}

func newSlowReserve(m *transcript.Memory, takes time.Duration) slowReserve {
	return slowReserve{Memory: m, takes: takes, made: make(chan struct{}, 100)}
}

func (s slowReserve) Reserve(ctx context.Context, conv, job uuid.UUID, sentence string, limit int) error {
	time.Sleep(cmp.Or(s.takes, 100*time.Millisecond))
	err := s.Memory.Reserve(context.Background(), conv, job, sentence, limit)
	s.made <- struct{}{}
	if ctx.Err() != nil {
		return ctx.Err() // the caller stopped waiting; the reservation is made
	}
	if err == nil && s.lost != nil {
		return s.lost
	}
	return err
}

// A client that leaves while its sentence's slot is being reserved leaves its conversation
// no fuller. Before, the reservation was made all the same and nothing undid it: after a few
// such sentences the conversation said "queue is full!" until the leases ran out, a minute.
func TestSend_AClientThatLeavesDuringItsReservationLeavesNoSlotTaken(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	slow := newSlowReserve(m, 0)
	c := startConversationsOn(t, m, slow)
	first, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	conv := first.Msg.GetConversationId()
	c.answer(0, "hi")
	for i := range 3 { // the conversation's limit
		hurried, cancel := context.WithCancel(t.Context())
		leave := time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.client.Send(hurried, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: fmt.Sprint("hurried ", i)}))
		leave.Stop()
		cancel()
		if connect.CodeOf(err) != connect.CodeCanceled {
			t.Fatalf("a send given up: %v", err)
		}
	}
	slow.await(t, 4) // the first sentence's and the three hurried ones', made after their clients left
	// Each hurried reservation is undone as it is made: a sentence after them is enqueued at
	// once, not after their leases (a minute).
	var res *connect.Response[elizav1.SendResponse]
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		res, err = c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: "still there?"}))
		return err == nil && res.Msg.GetKind() == elizav1.QueueConversationResponse_KIND_ENQUEUED
	}, func() string {
		return fmt.Sprintf("a sentence after the hurried ones: %v %v, want it enqueued", res, err)
	})
	// Counted as sentences whose clients left, not as the queue failing them.
	var left, failed float64
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		outcomes := c.series("frontdoor_sentences_total", "outcome")
		left, failed = outcomes[frontdoor.OutcomeLeft].GetCounter().GetValue(), outcomes[frontdoor.OutcomeUnavailable].GetCounter().GetValue()
		return left == 3
	}, func() string {
		return fmt.Sprintf("sentences counted left %v, unavailable %v; want 3 and 0", left, failed)
	})
	if failed != 0 {
		t.Fatalf("sentences counted unavailable: %v, want 0", failed)
	}
}

// await waits until n reservations have been made.
func (s slowReserve) await(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.made:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d reservations made", n)
		}
	}
}

// A reservation given up on after EnqueueTimeout (the database slow) leaves no slot taken when
// it is made after all: its job is refused first. Before, it held its slot for the lease, a
// minute.
func TestSend_AReservationGivenUpOnLeavesNoSlotTaken(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	slow := newSlowReserve(m, 1200*time.Millisecond) // EnqueueTimeout is 1 s
	c := startConversationsOn(t, m, slow)
	open, err := m.Open(t.Context(), uuid.New(), true, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	conv := open.ID.String()
	var wg sync.WaitGroup
	for i := range 3 { // the conversation's limit, all given up on
		wg.Go(func() {
			res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: fmt.Sprint("slow ", i)}))
			if err != nil || res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR {
				t.Errorf("a send whose reservation was given up on: %v %v, want an error", res, err)
			}
		})
	}
	wg.Wait()
	slow.await(t, 3) // made after the front door gave them up and refused their jobs
	if err := m.Reserve(t.Context(), open.ID, uuid.New(), "still room?", 3); err != nil {
		t.Fatalf("a reservation after the ones given up on: %v, want room", err)
	}
}

// A reservation made whose answer was lost (the connection broke as its round committed)
// leaves no slot taken either: any failed Reserve may have been made, and its job is refused.
// Before, only a Reserve given up on was, and such a reservation held its slot for its lease.
func TestSend_AReservationMadeButFailedLeavesNoSlotTaken(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	lost := newSlowReserve(m, time.Millisecond)
	lost.lost = errors.New("reserve a slot: conn closed")
	c := startConversationsOn(t, m, lost)
	open, err := m.Open(t.Context(), uuid.New(), true, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the conversation's limit
		res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: open.ID.String(), Sentence: fmt.Sprint("lost ", i)}))
		if err != nil || res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.Msg.GetSentence() != frontdoor.TextUnavailable {
			t.Fatalf("a send whose reservation failed: %v %v, want %q", res, err, frontdoor.TextUnavailable)
		}
	}
	if err := m.Reserve(t.Context(), open.ID, uuid.New(), "still room?", 3); err != nil {
		t.Fatalf("a reservation after the failed ones: %v, want room", err)
	}
	if written := c.jobs.all(); len(written) != 0 {
		t.Fatalf("jobs written to the queue after a failed reservation: %v", written)
	}
}

// outage is the in-memory transcript that, once down, cannot be reached: its reservations
// are not sent, and its reads fail. It counts the Refuses it is asked for.
type outage struct {
	*transcript.Memory
	down    atomic.Bool
	refuses atomic.Int32
}

func (o *outage) Refuse(ctx context.Context, conv, job uuid.UUID, sentence string) (transcript.Event, bool, error) {
	o.refuses.Add(1)
	return o.Memory.Refuse(ctx, conv, job, sentence)
}

func (o *outage) Reserve(ctx context.Context, conv, job uuid.UUID, sentence string, limit int) error {
	if o.down.Load() {
		return fmt.Errorf("reserve a slot: %w: dial tcp: connection refused", transcript.ErrNotSent)
	}
	return o.Memory.Reserve(ctx, conv, job, sentence, limit)
}

func (o *outage) Events(ctx context.Context, conv uuid.UUID, after uint64, limit int) ([]transcript.Event, error) {
	if o.down.Load() {
		return nil, errors.New("read events: dial tcp: connection refused")
	}
	return o.Memory.Events(ctx, conv, after, limit)
}

// A sentence refused because the transcript is down, on a stream that then ends for the same
// reason, is told its refusal before the stream ends: the refusal has no serial, and a resume
// would not bring it. Before, only a conversation gone had its refusal sent, and the client
// never learnt what became of the sentence.
func TestQueueConversation_ASentenceRefusedInAnOutageIsToldBeforeTheStreamEnds(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	store := &outage{Memory: m}
	c := startConversationsOn(t, m, store)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("first: %s", got)
	}
	store.down.Store(true)
	if err := s.Send(&elizav1.QueueConversationRequest{Sentence: "still there?"}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	res := c.receive(s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetInReplyTo() != "still there?" ||
		res.GetSentence() != frontdoor.TextUnavailable || res.GetSerial() != 0 {
		t.Fatalf("a sentence in the outage: %+v, want it refused as unavailable", res)
	}
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("the stream after it: %v, want it ended Unavailable", err)
	}
}

// A reservation that never reached the store (no connection to Postgres) has nothing to undo:
// the sentence is refused as unavailable without a Refuse, which would be a second connection
// attempt, and a second warning, for each sentence of an outage.
func TestSend_AReservationNotSentIsNotUndone(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	store := &outage{Memory: m}
	store.down.Store(true)
	c := startConversationsOn(t, m, store)
	open, err := m.Open(t.Context(), uuid.New(), true, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: open.ID.String(), Sentence: "anyone there?"}))
	if err != nil || res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.Msg.GetSentence() != frontdoor.TextUnavailable {
		t.Fatalf("a send whose reservation was not sent: %v %v, want %q", res, err, frontdoor.TextUnavailable)
	}
	if n := store.refuses.Load(); n != 0 {
		t.Fatalf("%d Refuses after a reservation that was not sent, want none", n)
	}
	if written := c.jobs.all(); len(written) != 0 {
		t.Fatalf("jobs written to the queue after a failed reservation: %v", written)
	}
}

// A watch whose deadline passes ends with deadline_exceeded, the caller's doing, not as a
// fault of the server (unavailable) or as canceled.
func TestWatch_ADeadlinePassedEndsItAsDeadlineExceeded(t *testing.T) {
	c := startConversations(t, time.Hour)
	sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"conversationId":"` + sent.Msg.GetConversationId() + `"}`)
	frame := append([]byte{0, 0, 0, 0, byte(len(body))}, body...)
	r, err := http.NewRequestWithContext(ctx(t), http.MethodPost, c.h.url+"/connectrpc.eliza.v1.ElizaService/Watch", bytes.NewReader(frame))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/connect+json")
	r.Header.Set("Connect-Timeout-Ms", "200")
	res, err := c.h.h2c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	all, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(all), `"code":"deadline_exceeded"`) {
		t.Fatalf("the watch ended with %q, want deadline_exceeded", all)
	}
}

// A first message that resumes without naming a conversation is refused before any
// conversation is made. Before, each such message left a conversation nobody could name.
func TestQueueConversation_AResumeWithoutAConversationMakesNone(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	o := &opening{Memory: m}
	c := startConversationsOn(t, m, o)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{ResumeAfter: 5})
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a resume without a conversation: %v, want invalid_argument", err)
	}
	if n := o.created.Load(); n != 0 {
		t.Fatalf("%d conversations made, want none", n)
	}
}

// opening is the in-memory transcript that counts the conversations it was asked to make.
type opening struct {
	*transcript.Memory
	created atomic.Int32
}

func (o *opening) Open(ctx context.Context, id uuid.UUID, create bool, owner uuid.UUID) (transcript.Info, error) {
	if create {
		o.created.Add(1)
	}
	return o.Memory.Open(ctx, id, create, owner)
}

// A conversation that goes idle past its TTL while a stream holds it open is gone for that
// stream too: its next sentence is refused as not_found, naming the sentence, and the stream
// ends NotFound, with nothing to resume. It is no fault of the transcript's: before, the
// sentence had no answer and the stream ended Unavailable ("resume later", which then said
// NotFound), counted as the transcript unavailable, which an alert watches.
func TestQueueConversation_ASentenceToAConversationExpiredMeanwhileIsNotFound(t *testing.T) {
	c := startConversations(t, 200*time.Millisecond)
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	if got := short(c.receive(s)); got != "ENQUEUED/1/enqueued/hello" {
		t.Fatalf("first: %s", got)
	}
	time.Sleep(300 * time.Millisecond) // idle past the TTL
	// The server may end the stream before the Send returns: it then says EOF.
	if err := s.Send(&elizav1.QueueConversationRequest{Sentence: "still there?"}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	res := c.receive(s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetInReplyTo() != "still there?" ||
		!strings.HasPrefix(res.GetSentence(), "not_found: ") || res.GetSerial() != 0 {
		t.Fatalf("a sentence to the expired conversation: %+v, want it refused as not found", res)
	}
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("the stream after it: %v, want it ended NotFound", err)
	}
	if got := c.series("frontdoor_sentences_total", "outcome")[frontdoor.OutcomeNotFound].GetCounter().GetValue(); got != 1 {
		t.Fatalf("sentences counted not_found: %v, want 1", got)
	}
	if ended := c.streamsEnded(); ended[frontdoor.EndTranscriptUnavailable] != 0 {
		t.Fatalf("streams ended: %v, want none counted as the transcript unavailable", ended)
	}
}

// The same for a Send whose conversation expires between its opening and its admission: it
// is NotFound, as one expired before.
func TestSend_ToAConversationExpiredDuringItsAdmissionIsNotFound(t *testing.T) {
	m := transcript.NewMemory(200 * time.Millisecond)
	c := startConversationsOn(t, m, newSlowReserve(m, 300*time.Millisecond))
	// A new conversation, created by the Send, that expires while its slot is reserved.
	res, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("got %v, %v, want NotFound", res, err)
	}
}

// slowAccept is the in-memory transcript whose Accepts take takes: a conversation idle for
// nearly its TTL passes its Reserve and is gone by its Accept.
type slowAccept struct {
	*transcript.Memory
	takes time.Duration
}

func (s slowAccept) Accept(ctx context.Context, conv, job uuid.UUID, sentence string) (transcript.Event, error) {
	time.Sleep(s.takes)
	return s.Memory.Accept(ctx, conv, job, sentence)
}

// A conversation gone between a sentence's Kafka write and its Accept: the sentence is not
// "enqueued" (its worker drops the job, unanswered) but refused as not_found, naming its job,
// on a stream (which then ends NotFound) and on a Send alike.
func TestQueueConversation_AConversationGoneBeforeItsAcceptIsNotFound(t *testing.T) {
	m := transcript.NewMemory(200 * time.Millisecond)
	c := startConversationsOn(t, m, slowAccept{m, 300 * time.Millisecond})
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
	res := c.receive(s)
	if res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || res.GetInReplyTo() != "hello" ||
		!strings.HasPrefix(res.GetSentence(), "not_found: ") || res.GetJobId() != c.jobs.all()[0].ID.String() {
		t.Fatalf("a sentence whose conversation was gone by its Accept: %+v, want it refused as not found, naming its job", res)
	}
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("the stream after it: %v, want it ended NotFound", err)
	}
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("a Send whose conversation was gone by its Accept: %v, want NotFound", err)
	}
	if got := c.series("frontdoor_sentences_total", "outcome")[frontdoor.OutcomeNotFound].GetCounter().GetValue(); got != 2 {
		t.Fatalf("sentences counted not_found: %v, want 2", got)
	}
}

// A sentence refused before it reaches the transcript (an empty one) to a conversation that
// expired meanwhile gets its refusal all the same, before the stream ends NotFound; and a
// stream half-closed after its conversation expired ends NotFound, not as the transcript
// unavailable.
func TestQueueConversation_AnExpiredConversationEndsItsStreamNotFound(t *testing.T) {
	for _, last := range []string{"empty sentence", "half-close"} {
		t.Run(last, func(t *testing.T) {
			c := startConversations(t, 200*time.Millisecond)
			s := c.open()
			c.send(s, &elizav1.QueueConversationRequest{Sentence: "hello"})
			c.receive(s) // enqueued
			c.answer(0, "hi")
			c.receive(s)                       // the answer
			time.Sleep(300 * time.Millisecond) // idle past the TTL
			if last == "half-close" {
				if err := s.CloseRequest(); err != nil {
					t.Fatal(err)
				}
			} else {
				// The server may end the stream before the Send returns: it then says EOF.
				if err := s.Send(&elizav1.QueueConversationRequest{}); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || !strings.HasPrefix(res.GetSentence(), "invalid_argument: ") {
					t.Fatalf("an empty sentence to the expired conversation: %+v, want its refusal", res)
				}
			}
			if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeNotFound {
				t.Fatalf("the stream: %v, want it ended NotFound", err)
			}
			if ended := c.streamsEnded(); ended[frontdoor.EndTranscriptUnavailable] != 0 {
				t.Fatalf("streams ended: %v, want none counted as the transcript unavailable", ended)
			}
		})
	}
}

// A conversation expired while streams are open on it ends them NotFound at once: a Watch,
// and a stream half-closed waiting for an answer that will not come. Before, they stayed open
// until their clients left.
func TestWatch_EndsNotFoundWhenItsConversationExpires(t *testing.T) {
	c := startConversations(t, 200*time.Millisecond)
	sent, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	conv := sent.Msg.GetConversationId()
	w, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv, AfterSerial: 1}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := c.open()
	c.send(s, &elizav1.QueueConversationRequest{ConversationId: conv, ResumeAfter: 1})
	if err := s.CloseRequest(); err != nil { // waits for the answer to "hello"
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // idle past the TTL
	if _, err := c.store.Expire(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	// Told as a request naming the conversation is told, not with the reads that found it gone.
	said := "conversation " + conv + " is unknown, has expired, or is another client's"
	if w.Receive() || connect.CodeOf(w.Err()) != connect.CodeNotFound || connectMessage(w.Err()) != said {
		t.Fatalf("the watch: %v, want it ended NotFound: %s", w.Err(), said)
	}
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeNotFound || connectMessage(err) != said {
		t.Fatalf("the half-closed stream: %v, want it ended NotFound: %s", err, said)
	}
}

// connectMessage is err's message as its client reads it, without its code.
func connectMessage(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	return ce.Message()
}

// goneAtRefuse is the in-memory transcript whose conversations are all gone by the time a job's
// Kafka write has failed: its Refuse says so.
type goneAtRefuse struct{ *transcript.Memory }

func (goneAtRefuse) Refuse(context.Context, uuid.UUID, uuid.UUID, string) (transcript.Event, bool, error) {
	return transcript.Event{}, false, transcript.ErrNotFound
}

// A sentence whose Kafka write failed, and whose conversation was gone by its Refuse, is
// refused as not_found, naming its job (which its worker drops if the write landed): it was
// "not confirmed: this sentence may still be answered".
func TestSend_AConversationGoneBeforeAFailedWriteIsRefusedIsNotFound(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, goneAtRefuse{m})
	c.jobs.failButLand(context.DeadlineExceeded, nil)
	if _, err := c.client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	if got := c.series("frontdoor_sentences_total", "outcome")[frontdoor.OutcomeNotFound].GetCounter().GetValue(); got != 1 {
		t.Fatalf("sentences counted not_found: %v, want 1", got)
	}
}

// clientHeader names the client a test's call is made as (asClient): what authentication
// would have put in the call's context, without a database of clients.
const clientHeader = "X-Test-Client"

// asClient is an interceptor that makes each call the client clientHeader names, if any.
type asClient struct{}

func (asClient) caller(ctx context.Context, h http.Header) context.Context {
	if id, err := uuid.Parse(h.Get(clientHeader)); err == nil {
		return access.WithClient(ctx, access.Client{ID: id, Tier: access.Premium})
	}
	return ctx
}

func (a asClient) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		return next(a.caller(ctx, req.Header()), req)
	}
}

func (asClient) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a asClient) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(a.caller(ctx, conn.RequestHeader()), conn)
	}
}

// A conversation started with a token is its client's: to another client, and to a caller
// without a token, it is as unknown (NotFound), in Send, Watch and QueueConversation alike.
// One started without a token is open to anyone who knows its id. Before, any caller who had
// a conversation's id could follow it and send to it.
func TestConversations_AConversationStartedByAClientIsNotFoundToAnyOther(t *testing.T) {
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) { o.Auth = asClient{} })
	ada, bob := uuid.NewString(), uuid.NewString()
	as := func(id string) elizav1connect.ElizaServiceClient {
		transport := c.h.h2c.Transport
		if id != "" {
			transport = access.WithHeader(transport, clientHeader, id)
		}
		return elizav1connect.NewElizaServiceClient(&http.Client{Transport: transport}, c.h.url, connect.WithGRPC())
	}
	watch := func(client elizav1connect.ElizaServiceClient, conv string) error {
		wctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
		defer cancel()
		w, err := client.Watch(wctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv}))
		if err != nil {
			return err
		}
		defer w.Close()
		if !w.Receive() {
			return w.Err()
		}
		return nil
	}
	for _, starter := range []string{ada, ""} {
		res, err := as(starter).Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
		if err != nil {
			t.Fatalf("start a conversation as %q: %v", starter, err)
		}
		conv := res.Msg.GetConversationId()
		for _, caller := range []string{ada, bob, ""} {
			want := connect.CodeNotFound
			if starter == "" || caller == starter {
				want = 0
			}
			client := as(caller)
			_, sendErr := client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: "again"}))
			s := client.QueueConversation(ctx(t))
			_ = s.Send(&elizav1.QueueConversationRequest{ConversationId: conv})
			_ = s.CloseRequest()
			_, queueErr := s.Receive()
			_ = s.CloseResponse()
			for rpc, err := range map[string]error{"Send": sendErr, "Watch": watch(client, conv), "QueueConversation": queueErr} {
				if got := connect.CodeOf(err); want == 0 && err != nil || want != 0 && got != want {
					t.Errorf("%s on a conversation started by %q, as %q: %v, want %v", rpc, starter, caller, err, want)
				}
			}
		}
	}
}

// A stream whose client sends what cannot be read ends with connect's code for it (internal
// for an envelope cut short or a compressed message without its compression named,
// unimplemented for a server stream's request missing or repeated), as a unary call's does;
// none of them is a fault of the server's, or logged as a warning.
func TestLog_AStreamsMessageThatCannotBeReadIsNoWarning(t *testing.T) {
	var logged proctest.Buffer
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) {
		o.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	watch := `{"conversationId":"` + uuid.NewString() + `"}`
	envelope := func(msg string) string {
		return string(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))) + msg
	}
	// A compression connect does not know is refused before the handler runs: over gRPC, its
	// error is in the headers; over the Connect protocol, in the stream's end (which was not
	// counted).
	c.h.postRaw(t, elizav1connect.ElizaServiceWatchProcedure, "application/grpc", envelope(watch), "Grpc-Encoding", "br")
	c.h.postRaw(t, elizav1connect.ElizaServiceWatchProcedure, "application/connect+json", envelope(watch), "Connect-Content-Encoding", "br")
	for _, bad := range []struct{ procedure, contentType, body string }{
		{elizav1connect.ElizaServiceConverseProcedure, "application/grpc", "\x00\x00\x00\x00\x05ab"},               // an envelope cut short
		{elizav1connect.ElizaServiceConverseProcedure, "application/grpc", "\x01\x00\x00\x00\x02ab"},               // compressed, without grpc-encoding
		{elizav1connect.ElizaServiceConverseProcedure, "application/connect+json", "\x00\x00\x00\x00\x09{}"},       // Connect's envelope cut short
		{elizav1connect.ElizaServiceWatchProcedure, "application/connect+json", "\x00\x00\x00\x00\x09{}"},          // the request cut short
		{elizav1connect.ElizaServiceWatchProcedure, "application/connect+json", ""},                                // no request
		{elizav1connect.ElizaServiceWatchProcedure, "application/connect+json", envelope(watch) + envelope(watch)}, // two
	} {
		c.h.postRaw(t, bad.procedure, bad.contentType, bad.body)
	}
	want := `
frontdoor_rpc_requests_total{code="internal",procedure="/connectrpc.eliza.v1.ElizaService/Converse"} 3
frontdoor_rpc_requests_total{code="internal",procedure="/connectrpc.eliza.v1.ElizaService/Watch"} 1
frontdoor_rpc_requests_total{code="unimplemented",procedure="/connectrpc.eliza.v1.ElizaService/Watch"} 4
`
	if err := requestsCounted(c.h.metrics, want); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logged.String(), "level=WARN") || strings.Count(logged.String(), "level=INFO msg=rpc") != 8 {
		t.Fatalf("logged %q, want each call logged at info, none of them as a warning", logged.String())
	}
}

// refuseStreams is an interceptor that refuses every stream as unavailable before its request
// is read, as authentication does when it cannot check a token.
type refuseStreams struct{ connect.Interceptor }

func (refuseStreams) WrapStreamingHandler(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(context.Context, connect.StreamingHandlerConn) error {
		return connect.NewError(connect.CodeUnavailable, errors.New("cannot check the token right now"))
	}
}

// A server stream that fails before its request is read, by the server's fault, is a warning
// still: only what the client sent wrong is not.
func TestLog_AServerStreamRefusedBeforeItsRequestIsReadIsTheServersFault(t *testing.T) {
	var logged proctest.Buffer
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) {
		o.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Auth = refuseStreams{connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc { return next })}
	})
	w, err := c.client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: uuid.NewString()}))
	if err == nil {
		w.Receive()
		err = w.Err()
		_ = w.Close()
	}
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("Watch: %v, want the interceptor's Unavailable", err)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logged.String(), "msg=rpc") }, logged.String)
	if !strings.Contains(logged.String(), "level=WARN msg=rpc procedure=/connectrpc.eliza.v1.ElizaService/Watch code=unavailable") {
		t.Fatalf("logged %q, want the call as a warning", logged.String())
	}
}
