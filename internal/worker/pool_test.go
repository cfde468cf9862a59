package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/worker"
)

// These tests put the pool on kfake (internal/kafkatest) the way the dispatcher does: a
// pipelined consumer group on the jobs topic, kafkabus.Each around the pool, replies and
// dead letters through the common writer. Only the model is played by the test.

const (
	jobsTopic    = "eliza.jobs"
	repliesTopic = "eliza.replies"
	group        = "dispatcher-llm"
)

type rig struct {
	t      *testing.T
	broker *kafkatest.Broker
	bus    *kafkabus.Bus
	reg    *prometheus.Registry
}

func newRig(t *testing.T) *rig {
	t.Helper()
	broker := kafkatest.Start(t, 3, jobsTopic, repliesTopic, kafkabus.DeadLetterTopic(jobsTopic))
	return &rig{t: t, broker: broker, bus: kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3}), reg: prometheus.NewRegistry()}
}

// member runs one dispatcher's conversation workers until stop is called: the group leaves
// (leaving uncommitted what it could not finish within handleTimeout), then the pool's calls
// in flight end and the writers close.
func (r *rig) member(model worker.Model, workers int, handleTimeout time.Duration) *running {
	r.t.Helper()
	replies, dlq := r.bus.Writer(repliesTopic), r.bus.Writer(kafkabus.DeadLetterTopic(jobsTopic))
	log := slog.New(slog.DiscardHandler)
	metrics := worker.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"member": fmt.Sprint(time.Now().UnixNano())}, r.reg))
	pool := worker.NewPool(workers, model, kafkaqueue.Replies{W: replies}, metrics, log)
	g := consumer.NewPipelined(consumer.Config{
		Brokers: r.bus.Brokers(), GroupID: group, Topic: jobsTopic, BatchSize: 4 * workers,
		SessionTimeout: time.Second, HandleTimeout: handleTimeout, MaxBackoff: 50 * time.Millisecond, Log: log,
	}, kafkabus.Each(kafkabus.NewDeadLetters(dlq, metrics.DeadLettered(), log), worker.Decode, pool.Process))
	ctx, cancel := context.WithCancel(context.Background())
	m := &running{t: r.t, cancel: cancel, done: make(chan error, 1), finish: func() {
		pool.Wait()
		_ = replies.Close()
		_ = dlq.Close()
	}}
	go func() { m.done <- g.Run(ctx) }()
	r.t.Cleanup(m.stop)
	return m
}

// running is a member started by rig.member.
type running struct {
	t              *testing.T
	cancel         context.CancelFunc
	done           chan error
	finish         func()
	leaveOnce, all sync.Once
}

// leave stops the group and waits until it has left.
func (m *running) leave() {
	m.leaveOnce.Do(func() {
		m.cancel()
		if err := <-m.done; err != nil {
			m.t.Errorf("group: %v", err)
		}
	})
}

// stop leaves, then waits for the pool and closes the writers.
func (m *running) stop() {
	m.leave()
	m.all.Do(m.finish)
}

// enqueue writes jobs as the front door does, returning them in the order written.
func (r *rig) enqueue(conversations, each int) []queue.Job {
	r.t.Helper()
	w := r.bus.Writer(jobsTopic)
	defer w.Close()
	var jobs []queue.Job
	for i := range each {
		for c := range conversations {
			job := queue.Job{ID: fmt.Sprintf("job-%d-%d", c, i), ConversationID: fmt.Sprint("conv-", c), ReplyTo: "fd-1",
				Sentence: fmt.Sprint("sentence ", i), EnqueuedAt: time.Now()}
			if err := (kafkaqueue.Jobs{W: w}).Enqueue(r.t.Context(), job); err != nil {
				r.t.Fatal(err)
			}
			jobs = append(jobs, job)
		}
	}
	return jobs
}

func (r *rig) replies(n int) []queue.Reply {
	r.t.Helper()
	var out []queue.Reply
	for _, m := range r.broker.Read(repliesTopic, n, 15*time.Second) {
		rep, err := queue.UnmarshalReply(m.Value)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}

// waitCommittedPast waits until the group has committed every job of the topic.
func (r *rig) waitCommittedPast(jobs int) {
	r.t.Helper()
	var sum int64
	kafkatest.Eventually(r.t, 10*time.Second, func() bool {
		sum = 0
		for _, off := range r.broker.Committed(group, jobsTopic, 3) {
			sum += max(off, 0)
		}
		return sum == int64(jobs)
	}, func() string { return fmt.Sprintf("committed past %d jobs, want %d", sum, jobs) })
}

// echo answers each sentence after a pause, recording how many calls run at once.
type echo struct {
	pause            time.Duration
	fail             func(queue.Job) error // nil: every call succeeds
	running, maxSeen atomic.Int32
	calls            atomic.Int32
	mu               sync.Mutex
	seen             map[string][]string // conversation → sentences in the order answered
}

func (e *echo) answer(ctx context.Context, job queue.Job) (string, error) {
	e.calls.Add(1)
	n := e.running.Add(1)
	defer e.running.Add(-1)
	for {
		seen := e.maxSeen.Load()
		if n <= seen || e.maxSeen.CompareAndSwap(seen, n) {
			break
		}
	}
	time.Sleep(e.pause)
	e.mu.Lock()
	e.seen[job.ConversationID] = append(e.seen[job.ConversationID], job.Sentence)
	e.mu.Unlock()
	if e.fail != nil {
		if err := e.fail(job); err != nil {
			return "", err
		}
	}
	return "you said " + job.Sentence, nil
}

func TestPool_AnswersEveryJobOnceInOrderPerConversationAndCommitsPastThem(t *testing.T) {
	r := newRig(t)
	model := &echo{pause: 5 * time.Millisecond, seen: map[string][]string{}}
	r.member(model.answer, 4, 5*time.Second)
	jobs := r.enqueue(6, 5)

	byJob := map[string]queue.Reply{}
	for _, rep := range r.replies(len(jobs)) {
		if _, dup := byJob[rep.JobID]; dup {
			t.Fatalf("job %s answered twice", rep.JobID)
		}
		byJob[rep.JobID] = rep
	}
	for _, job := range jobs {
		rep, ok := byJob[job.ID]
		if !ok || rep.Error || rep.Text != "you said "+job.Sentence || rep.ReplyTo != "fd-1" || rep.InReplyTo != job.Sentence {
			t.Fatalf("job %s: reply %+v", job.ID, rep)
		}
	}
	model.mu.Lock()
	for conv, sentences := range model.seen {
		if fmt.Sprint(sentences) != "[sentence 0 sentence 1 sentence 2 sentence 3 sentence 4]" {
			t.Errorf("%s answered in the order %v, want queue order", conv, sentences)
		}
	}
	model.mu.Unlock()
	if n := model.maxSeen.Load(); n > 4 {
		t.Errorf("%d model calls at once with 4 workers", n)
	}
	if n := model.maxSeen.Load(); n < 2 {
		t.Errorf("at most %d model call at once: conversations should be answered in parallel", n)
	}
	r.waitCommittedPast(len(jobs))
}

func TestPool_AnswersAFailedJobWithAnErrorAndKeepsACopyOfItAndOfUndecodableJobs(t *testing.T) {
	r := newRig(t)
	model := &echo{seen: map[string][]string{}, fail: func(job queue.Job) error {
		if job.ID == "job-1-0" {
			return errors.New("model API answered 500")
		}
		return nil
	}}
	r.member(model.answer, 2, 5*time.Second)
	r.broker.Produce(jobsTopic, 0, []byte(`{"sentence": "no id, conversation or reply_to"}`))
	jobs := r.enqueue(2, 1)

	for _, rep := range r.replies(2) {
		failed := rep.JobID == "job-1-0"
		if rep.Error != failed || (failed && rep.Text != worker.FailedText) {
			t.Fatalf("reply %+v", rep)
		}
	}
	copies := r.broker.Read(kafkabus.DeadLetterTopic(jobsTopic), 2, 10*time.Second)
	reasons := map[string]bool{}
	for _, m := range copies {
		for _, h := range m.Headers {
			if h.Key == kafkabus.HeaderError {
				reasons[string(h.Value)] = true
			}
		}
	}
	if len(copies) != 2 || !reasons["model API answered 500"] {
		t.Fatalf("dead letters %d with reasons %v, want the failed job's and the undecodable one's", len(copies), reasons)
	}
	r.waitCommittedPast(len(jobs) + 1)
}

func TestPool_AJobUnfinishedAtShutdownIsRedoneByTheNextMember(t *testing.T) {
	r := newRig(t)
	release := make(chan struct{})
	var released sync.Once
	unblock := func() { released.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	inHand := make(chan struct{})
	first := r.member(func(ctx context.Context, job queue.Job) (string, error) {
		close(inHand)
		<-release // a model call that outlives the member's shutdown
		return "late", nil
	}, 2, 200*time.Millisecond)
	job := r.enqueue(1, 1)[0]
	msg := r.broker.Read(jobsTopic, 1, 10*time.Second)[0]

	// With the job in hand, stop the member: it gives up on the job after HandleTimeout and
	// leaves without committing past it.
	select {
	case <-inHand:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never reached the model")
	}
	first.leave()
	if off := r.broker.Committed(group, jobsTopic, 3)[msg.Partition]; off > msg.Offset {
		t.Fatalf("committed %d on partition %d, past the unfinished job at %d", off, msg.Partition, msg.Offset)
	}
	unblock()
	first.stop()

	second := &echo{seen: map[string][]string{}}
	r.member(second.answer, 2, 5*time.Second)
	r.waitCommittedPast(1)
	if n := second.calls.Load(); n != 1 {
		t.Fatalf("the next member made %d model calls, want 1: the unfinished job %s redone", n, job.ID)
	}
}
