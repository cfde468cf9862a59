package main_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// queueSystem is front doors and dispatchers on topics of their own, so tests neither see nor
// disturb anything else on the shared Kafka. Their conversations' transcript is in the
// stack's Postgres, which every front door and dispatcher of the stack shares; a test's
// conversations are its own by their ids, and are deleted when it ends.
type queueSystem struct {
	t           *testing.T
	ep          stack.Endpoints
	jobs, group string

	dbOnce sync.Once
	pool   *pgxpool.Pool
}

func newQueueSystem(t *testing.T) *queueSystem {
	t.Helper()
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	suffix := fmt.Sprintf("%d-%08x", time.Now().UnixNano(), rand.Uint32())
	q := &queueSystem{t: t, ep: ep, jobs: "test.jobs." + suffix, group: "test-llm-" + suffix}
	// Registered first, so it runs last, once the processes are gone.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		forgetConversations(ctx, t, ep, q.jobs)
		deleteTopics(ep.KafkaBrokers, q.jobs, q.jobs+".dlq", q.signals(), q.signals()+".dlq")
	})
	return q
}

// signals is the topic of the dispatchers' signal group, which nobody writes.
func (q *queueSystem) signals() string { return q.jobs + ".signals" }

func (q *queueSystem) frontdoor(extra ...string) frontdoor {
	q.t.Helper()
	f := frontdoor{rpc: proctest.FreeAddr(q.t), admin: proctest.FreeAddr(q.t)}
	f.proc = proctest.Start(q.t, builds.Build(q.t, "./cmd/frontdoor"), append([]string{
		"ADDR=" + f.rpc, "ADMIN_ADDR=" + f.admin, "KAFKA_BROKERS=" + strings.Join(q.ep.KafkaBrokers, ","),
		"DATABASE_URL=" + q.ep.DatabaseURL, "JOBS_TOPIC=" + q.jobs, "SHUTDOWN_GRACE=5s",
	}, extra...)...)
	proctest.WaitHTTP(q.t, "http://"+f.admin+"/readyz", 20*time.Second)
	return f
}

func (q *queueSystem) dispatcher(extra ...string) *proctest.Proc {
	q.t.Helper()
	p, _ := q.dispatcherWithAdmin(extra...)
	return p
}

// model starts a fake OpenAI-compatible server and returns the dispatcher settings using it.
func (q *queueSystem) model(opts ...fakeopenai.Option) (*fakeopenai.Server, []string) {
	q.t.Helper()
	srv := fakeopenai.New(opts...)
	url, err := srv.Start()
	if err != nil {
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { _ = srv.Close() })
	return srv, []string{"OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=test-key"}
}

// heldModel starts a fake model whose answers wait for the returned gate, held to begin with.
func (q *queueSystem) heldModel(opts ...fakeopenai.Option) (*fakeopenai.Server, *gate, []string) {
	q.t.Helper()
	g := &gate{}
	g.hold()
	srv, env := q.model(append(opts, fakeopenai.WithLatencyFunc(g.wait))...)
	q.t.Cleanup(g.release) // before the server closes, which waits for its handlers
	return srv, g, env
}

func (q *queueSystem) dispatcherWithAdmin(extra ...string) (*proctest.Proc, string) {
	q.t.Helper()
	admin := proctest.FreeAddr(q.t)
	p := proctest.Start(q.t, builds.Build(q.t, "./cmd/dispatcher"), append([]string{
		"ADMIN_ADDR=" + admin, "KAFKA_BROKERS=" + strings.Join(q.ep.KafkaBrokers, ","), "DATABASE_URL=" + q.ep.DatabaseURL,
		"JOBS_TOPIC=" + q.jobs, "LLM_GROUP_ID=" + q.group,
		// The signal group of these dispatchers reads a topic nobody writes.
		"SIGNAL_TOPIC=" + q.signals(), "GROUP_ID=" + q.group + "-signals",
		"KAFKA_SESSION_TIMEOUT=6s", "SHUTDOWN_GRACE=10s",
	}, extra...)...)
	proctest.WaitHTTP(q.t, "http://"+admin+"/readyz", 60*time.Second)
	return p, admin
}

// db returns a pool on the stack's Postgres, to read the transcript as it is stored.
func (q *queueSystem) db() *pgxpool.Pool {
	q.t.Helper()
	q.dbOnce.Do(func() {
		pool, err := pgxpool.New(context.Background(), q.ep.DatabaseURL)
		if err != nil {
			q.t.Fatal(err)
		}
		q.t.Cleanup(pool.Close)
		q.pool = pool
	})
	return q.pool
}

func deleteTopics(brokers []string, topics ...string) {
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.DeleteTopics(topics...)
}

// forgetConversations deletes from the transcript the conversations of the jobs on topic:
// every conversation a test queued a sentence on (the jobs are keyed by it). Its jobs and
// events go with it.
func forgetConversations(ctx context.Context, t *testing.T, ep stack.Endpoints, topic string) {
	convs, err := conversationsOn(ctx, ep.KafkaBrokers, topic)
	if err != nil {
		t.Logf("conversations left in the transcript: %v", err)
		return
	}
	if len(convs) == 0 {
		return
	}
	conn, err := pgx.Connect(ctx, ep.DatabaseURL)
	if err != nil {
		t.Logf("conversations left in the transcript: %v", err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DELETE FROM transcript.conversation WHERE id = ANY($1)`, convs); err != nil {
		t.Logf("conversations left in the transcript: %v", err)
	}
}

// conversationsOn returns the keys of every message on topic, as conversation ids.
func conversationsOn(ctx context.Context, brokers []string, topic string) ([]uuid.UUID, error) {
	msgs, err := messagesOn(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	seen := map[uuid.UUID]bool{}
	for _, m := range msgs {
		if id, err := uuid.ParseBytes(m.Key); err == nil {
			seen[id] = true
		}
	}
	return slices.Collect(maps.Keys(seen)), nil
}

// readTopic returns every message on topic as of now, partition by partition.
func readTopic(ctx context.Context, t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	msgs, err := messagesOn(ctx, brokers, topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return msgs
}

// messagesOn returns every message on topic as of now, partition by partition; none when
// there is no such topic.
func messagesOn(ctx context.Context, brokers []string, topic string) ([]kafka.Message, error) {
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	partitions, err := conn.ReadPartitions(topic)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []kafka.Message
	for _, p := range partitions {
		msgs = append(msgs, readPartition(ctx, brokers, topic, p.ID)...)
	}
	return msgs, nil
}

// readPartition returns the messages of one partition of topic, from its start to its end as
// of now.
func readPartition(ctx context.Context, brokers []string, topic string, partition int) []kafka.Message {
	leader, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, partition)
	if err != nil {
		return nil
	}
	first, last, err := leader.ReadOffsets()
	leader.Close()
	if err != nil || first == last {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return nil
	}
	var msgs []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return msgs
		}
		msgs = append(msgs, m)
		if m.Offset >= last-1 {
			return msgs
		}
	}
}
