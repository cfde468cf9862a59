package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// What the workers do with a conversation's jobs, seen from its clients and from the model.

func TestQueueConversation_EachJobIsAskedWithTheConversationBeforeItInOrder(t *testing.T) {
	q := newQueueSystem(t)
	srv, model, env := q.heldModel()
	f := q.frontdoor("QUEUE_LIMIT=4")
	q.dispatcher(append(env, "LLM_SYSTEM_PROMPT=You are ELIZA.", "CONTEXT_TURNS=4")...)

	s := openQueue(t, f.rpc)
	sentences := []string{"I dreamt of a cat", "it was orange", "it sang to me", "what does it mean?"}
	for _, sentence := range sentences { // back to back: none is answered before all are queued
		send(t, s, sentence)
	}
	var conv string
	jobs := make([]string, len(sentences))
	for i, sentence := range sentences {
		res := receive(t, s)
		conv, jobs[i] = res.GetConversationId(), res.GetJobId()
		if got := eventOf(res); got != enqueued(uint64(i+1), jobs[i], sentence) || jobs[i] == "" {
			t.Fatalf("response %d: %v, want %q enqueued", i, got, sentence)
		}
	}
	model.release()
	expect(t, bidi(s), conv, answered(5, jobs[0], sentences[0]), answered(6, jobs[1], sentences[1]),
		answered(7, jobs[2], sentences[2]), answered(8, jobs[3], sentences[3]))

	system := fakeopenai.Message{Role: "system", Content: "You are ELIZA."}
	user := func(i int) fakeopenai.Message { return fakeopenai.Message{Role: "user", Content: sentences[i]} }
	assistant := func(i int) fakeopenai.Message {
		return fakeopenai.Message{Role: "assistant", Content: fakeopenai.Echo(sentences[i])}
	}
	want := [][]fakeopenai.Message{
		{system, user(0)},
		{system, user(0), assistant(0), user(1)},
		{system, user(0), assistant(0), user(1), assistant(1), user(2)},
		{system, user(1), assistant(1), user(2), assistant(2), user(3)}, // CONTEXT_TURNS=4: two exchanges
	}
	reqs := srv.Requests()
	if len(reqs) != len(want) {
		t.Fatalf("the model was asked %d times, want %d", len(reqs), len(want))
	}
	for i, r := range reqs {
		if !slices.Equal(r.Messages, want[i]) {
			t.Errorf("job %d was asked with\n%v\nwant\n%v", i+1, r.Messages, want[i])
		}
	}
}

func TestQueueConversation_AJobAnsweredBeforeItsDispatcherWasKilledIsNotAskedAgain(t *testing.T) {
	q := newQueueSystem(t)
	// The first call hangs: its job stays unfinished, and no later job of its partition can
	// be committed, however soon it is answered.
	srv, env := q.model(fakeopenai.WithScript(fakeopenai.Hang()))
	f := q.frontdoor()
	first := q.dispatcher(append(env, "WORKERS=2", "LLM_TIMEOUT=2m")...)

	slowConv := uuid.New()
	quickConv, partition := q.conversationBeside(slowConv)
	slow := openQueue(t, f.rpc)
	slowJob := queueFirst(t, slow, slowConv, "take your time")
	waitRequests(t, srv, 1)
	quick := openQueue(t, f.rpc)
	quickJob := queueFirst(t, quick, quickConv, "be quick")
	expect(t, bidi(quick), quickConv.String(), answered(2, quickJob, "be quick")) // stored

	first.Signal(t, syscall.SIGKILL)
	first.Wait(t, 10*time.Second)
	offsets := q.jobOffsets(partition, slowJob, quickJob)
	if committed := q.committed(partition); committed > offsets[quickJob] {
		t.Fatalf("the group committed offset %d before the kill, past the answered job at %d: nothing to redo", committed, offsets[quickJob])
	}

	srv.Reset()
	_, admin := q.dispatcherWithAdmin(env...)
	expect(t, bidi(slow), slowConv.String(), answered(2, slowJob, "take your time"))
	waitMetric(t, admin, `worker_jobs_total{outcome="already_answered"}`, 1)
	waitCommitted(t, q, partition, offsets[quickJob]+1)
	if reqs := srv.Requests(); len(reqs) != 1 || reqs[0].LastUser() != "take your time" {
		t.Fatalf("after the kill the model was asked %v, want only the unanswered job", lastUsers(reqs))
	}

	// Each job has its answer once, on its open stream and in the transcript.
	for _, c := range []struct {
		stream        *queueStream
		conv          uuid.UUID
		job, sentence string
	}{{slow, slowConv, slowJob, "take your time"}, {quick, quickConv, quickJob, "be quick"}} {
		if err := c.stream.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		expectEnd(t, bidi(c.stream))
		all := attach(t, f.rpc, c.conv.String(), 0)
		if err := all.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		expect(t, bidi(all), c.conv.String(), enqueued(1, c.job, c.sentence), answered(2, c.job, c.sentence))
		expectEnd(t, bidi(all))
		var replies int
		if err := q.db().QueryRow(t.Context(), `SELECT count(*) FROM transcript.event WHERE conversation = $1 AND job = $2 AND kind = 'reply'`,
			c.conv, c.job).Scan(&replies); err != nil || replies != 1 {
			t.Fatalf("the transcript holds %d replies to %q (%v), want 1", replies, c.sentence, err)
		}
	}
}

// A conversation gone while one of its jobs waits (expired by the sweep, idle past
// CONVERSATION_TTL, or deleted) can no longer record that job's outcome. The job must still
// end, so that the jobs after it on its partition are committed.
func TestQueueConversation_AJobOfAnExpiredConversationDoesNotHoldBackItsPartition(t *testing.T) {
	q := newQueueSystem(t)
	_, model, env := q.heldModel()
	f := q.frontdoor()
	q.dispatcher(env...)

	goneConv := uuid.New()
	laterConv, partition := q.conversationBeside(goneConv)
	gone := openQueue(t, f.rpc)
	queueFirst(t, gone, goneConv, "forget me")
	// Gone as after the sweep of any dispatcher, once the conversation has been idle too long
	// and a TTL more.
	if _, err := q.db().Exec(t.Context(), `DELETE FROM transcript.conversation WHERE id = $1`, goneConv); err != nil {
		t.Fatal(err)
	}
	model.release()

	later := openQueue(t, f.rpc)
	laterJob := queueFirst(t, later, laterConv, "hello")
	expect(t, bidi(later), laterConv.String(), answered(2, laterJob, "hello"))
	waitCommitted(t, q, partition, q.jobOffsets(partition, laterJob)[laterJob]+1)
}

// conversationBeside returns a new conversation whose jobs go to the partition of conv's, and
// that partition: jobs on one partition are committed in order.
func (q *queueSystem) conversationBeside(conv uuid.UUID) (uuid.UUID, int) {
	q.t.Helper()
	conn, err := kafka.Dial("tcp", q.ep.KafkaBrokers[0])
	if err != nil {
		q.t.Fatal(err)
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(q.jobs) // the dispatcher has created the topic
	if err != nil {
		q.t.Fatal(err)
	}
	ids := make([]int, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	slices.Sort(ids)
	// As the front door's writer picks them (kafkabus.Bus.Writer).
	partitionOf := func(c uuid.UUID) int {
		return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(c.String())}, ids...)
	}
	for {
		if other := uuid.New(); partitionOf(other) == partitionOf(conv) {
			return other, partitionOf(conv)
		}
	}
}

// jobOffsets returns the offset of each job on partition of the jobs topic, by job id, and
// fails unless the jobs want are there, in that order.
func (q *queueSystem) jobOffsets(partition int, want ...string) map[string]int64 {
	q.t.Helper()
	ctx, cancel := context.WithTimeout(q.t.Context(), 30*time.Second)
	defer cancel()
	offsets := map[string]int64{}
	for _, m := range readPartition(ctx, q.ep.KafkaBrokers, q.jobs, partition) {
		if job, err := queue.UnmarshalJob(m.Value); err == nil { // the workers dead-letter the others
			offsets[job.ID.String()] = m.Offset
		}
	}
	last := int64(-1)
	for _, job := range want {
		off, ok := offsets[job]
		if !ok || off <= last {
			q.t.Fatalf("jobs on partition %d: %v; want %v there, in that order", partition, offsets, want)
		}
		last = off
	}
	return offsets
}

// client is a Kafka client of the stack's brokers.
func (q *queueSystem) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(q.ep.KafkaBrokers...), Timeout: 10 * time.Second}
}

// committed returns the dispatchers' committed offset of partition of the jobs topic: the
// first job they have not finished; -1 when they have committed none.
func (q *queueSystem) committed(partition int) int64 {
	q.t.Helper()
	res, err := q.client().OffsetFetch(q.t.Context(), &kafka.OffsetFetchRequest{GroupID: q.group, Topics: map[string][]int{q.jobs: {partition}}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		q.t.Fatalf("committed offsets of group %s: %v", q.group, err)
	}
	for _, p := range res.Topics[q.jobs] {
		if p.Partition == partition {
			if p.Error != nil {
				q.t.Fatalf("committed offset of %s/%d: %v", q.jobs, partition, p.Error)
			}
			return p.CommittedOffset
		}
	}
	return -1
}

// waitCommitted waits until the dispatchers have committed partition of the jobs topic up to
// at least offset.
func waitCommitted(t *testing.T, q *queueSystem, partition int, offset int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		committed := q.committed(partition)
		if committed >= offset {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition %d committed up to %d, want at least %d", partition, committed, offset)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMetric waits until the sample named series on admin's /metrics is at least want.
func waitMetric(t *testing.T, admin, series string, want float64) {
	t.Helper()
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got float64
		if m := line.FindStringSubmatch(proctest.Get(t, "http://"+admin+"/metrics")); m != nil {
			got, _ = strconv.ParseFloat(m[1], 64)
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v, waiting for %v", series, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastUsers(reqs []fakeopenai.Received) []string {
	var users []string
	for _, r := range reqs {
		users = append(users, fmt.Sprintf("%q", r.LastUser()))
	}
	return users
}

// A job the transcript cannot hold (a NUL in its sentence: no Postgres text takes one),
// written to the jobs topic by something other than a front door, which refuses such a
// sentence. No client was told it was enqueued (its reservation could not be stored either),
// so it goes to the dead-letter topic. Before, it failed every transcript round it was in,
// for ever: its partition was never committed past it, and the jobs that shared its rounds,
// of any conversation, failed with it.
func TestQueueConversation_AJobTheTranscriptCannotHoldIsDeadLetteredWithoutHoldingBackOthers(t *testing.T) {
	q := newQueueSystem(t)
	_, env := q.model()
	f := q.frontdoor()
	q.dispatcher(env...)

	badConv := uuid.New()
	besideConv, partition := q.conversationBeside(badConv)
	first := openQueue(t, f.rpc)
	firstJob := queueFirst(t, first, badConv, "hello")
	expect(t, bidi(first), badConv.String(), answered(2, firstJob, "hello"))
	bad := queue.Job{ID: uuid.New(), ConversationID: badConv, Sentence: "nul\x00here", EnqueuedAt: time.Now()}
	value, err := queue.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := kafka.DialLeader(t.Context(), "tcp", q.ep.KafkaBrokers[0], q.jobs, partition)
	if err != nil {
		t.Fatal(err)
	}
	_, err = leader.WriteMessages(kafka.Message{Key: []byte(badConv.String()), Value: value})
	_ = leader.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Sentences of other conversations, one on the bad job's partition, while it is there.
	convs := []uuid.UUID{besideConv, uuid.New(), uuid.New(), uuid.New()}
	streams := make([]*queueStream, len(convs))
	jobs := make([]string, len(convs))
	for i, conv := range convs {
		streams[i] = openQueue(t, f.rpc)
		jobs[i] = queueFirst(t, streams[i], conv, fmt.Sprint("sentence ", i))
	}
	for i, conv := range convs {
		expect(t, bidi(streams[i]), conv.String(), answered(2, jobs[i], fmt.Sprint("sentence ", i)))
	}
	waitCommitted(t, q, partition, q.jobOffsets(partition, jobs[0])[jobs[0]]+1) // written after the bad job

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	copies := readTopic(ctx, t, q.ep.KafkaBrokers, q.jobs+".dlq")
	if len(copies) != 1 || !strings.Contains(string(copies[0].Value), bad.ID.String()) {
		t.Fatalf("dead letters %d, want the one job the transcript cannot hold", len(copies))
	}
	for _, h := range copies[0].Headers {
		if h.Key == kafkabus.HeaderError && !strings.Contains(string(h.Value), "NUL") {
			t.Errorf("its dead-letter reason %q does not say what is wrong", h.Value)
		}
	}
}

// A model that answers at length: the reply reaches the client, on its stream and on a
// resume, cut to what the transcript keeps, for a client that does not take compressed
// messages (as grpcurl and browsers). Before, an answer over 64 KiB could not be sent: the
// stream failed with ResourceExhausted, and so did every resume of the conversation.
func TestQueueConversation_AVeryLongAnswerReachesTheClientCut(t *testing.T) {
	q := newQueueSystem(t)
	letters := make([]byte, 1<<20) // incompressible enough: random letters
	for i := range letters {
		letters[i] = byte('a' + rand.IntN(26))
	}
	_, env := q.model(fakeopenai.WithResponder(func(string) string { return string(letters) }))
	f := q.frontdoor()
	q.dispatcher(env...)

	plain := func() *queueStream {
		var h2c http.Protocols
		h2c.SetUnencryptedHTTP2(true)
		client := elizav1connect.NewElizaServiceClient(&http.Client{Transport: &http.Transport{Protocols: &h2c}}, "http://"+f.rpc,
			connect.WithGRPC(), connect.WithAcceptCompression("gzip", nil, nil))
		s := client.QueueConversation(t.Context())
		t.Cleanup(func() { _ = s.CloseResponse() })
		return s
	}
	conv := uuid.New()
	s := plain()
	job := queueFirst(t, s, conv, "tell me everything")
	want, _ := transcript.Fit(string(letters))
	reply := func(s *queueStream) {
		t.Helper()
		res, err := s.Receive()
		if err != nil {
			t.Fatalf("the reply: %v", err)
		}
		if res.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY || res.GetSerial() != 2 || res.GetJobId() != job || res.GetSentence() != want {
			t.Fatalf("the reply: %v, serial %d, of %d bytes; want the answer cut to %d", res.GetKind(), res.GetSerial(), len(res.GetSentence()), len(want))
		}
	}
	reply(s)

	again := plain()
	if err := again.Send(&elizav1.QueueConversationRequest{ConversationId: conv.String(), ResumeAfter: 1}); err != nil {
		t.Fatal(err)
	}
	reply(again)
}
