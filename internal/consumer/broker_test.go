package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// The tests of this package run the group against kfake, an in-process Kafka-protocol broker:
// the group's kafka-go code talks to it over TCP as to a real broker, without a JVM. They
// observe commits through the broker (an offset fetch, as an admin tool would), never through
// the group's internals.

const (
	topic      = "events"
	partitions = 3
	group      = "workers"
)

// broker is an embedded single-node cluster (internal/kafkatest) with topic's partitions.
type broker struct {
	*kafkatest.Broker
	t      *testing.T
	addrs  []string
	client *kafka.Client
	kfake  *kfake.Cluster
}

func newBroker(t *testing.T) *broker {
	t.Helper()
	b := kafkatest.Start(t, partitions, topic)
	return &broker{Broker: b, t: t, addrs: b.Addrs, client: b.Client, kfake: b.Cluster}
}

// config returns a member's configuration with timings short enough for tests: a member's
// absence is noticed within a second, a failing batch is retried every few tens of
// milliseconds.
func (b *broker) config() consumer.Config {
	return consumer.Config{
		Brokers:        b.addrs,
		GroupID:        group,
		Topic:          topic,
		BatchSize:      10,
		SessionTimeout: time.Second,
		HandleTimeout:  5 * time.Second,
		MaxBackoff:     50 * time.Millisecond,
		Log:            proctest.Log(b.t),
	}
}

// produce appends n messages to partition p and returns their offsets.
func (b *broker) produce(p, n int) []int64 {
	b.t.Helper()
	values := make([][]byte, n)
	for i := range values {
		values[i] = fmt.Appendf(nil, "message %d of partition %d", i, p)
	}
	return b.Produce(topic, p, values...)
}

// committed returns the group's committed offset of each partition, -1 where there is none.
func (b *broker) committed() [partitions]int64 {
	b.t.Helper()
	return [partitions]int64(b.Committed(group, topic, partitions))
}

// fetchCommitted is committed for a goroutine, which must not fail the test itself.
func (b *broker) fetchCommitted() ([partitions]int64, error) {
	out, err := b.FetchCommitted(group, topic, partitions)
	return [partitions]int64(out), err
}

// waitCommitted waits until the group's committed offsets are want.
func (b *broker) waitCommitted(want [partitions]int64) {
	b.t.Helper()
	var got [partitions]int64
	eventually(b.t, 10*time.Second, func() bool {
		got = b.committed()
		return got == want
	}, func() string { return fmt.Sprintf("committed offsets %v, want %v", got, want) })
}

// waitMembers waits until the group is stable with n members and returns each member's
// partitions, as the broker assigned them.
func (b *broker) waitMembers(n int) [][]int32 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	info, err := b.kfake.WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
		return g != nil && g.State == "Stable" && len(g.Members) == n && g.NumAssigned() == partitions
	})
	if err != nil {
		b.t.Fatalf("group not stable with %d members holding all %d partitions: %+v", n, partitions, info)
	}
	out := make([][]int32, len(info.Members))
	for i, m := range info.Members {
		out[i] = slices.Sorted(slices.Values(m.Assignment[topic]))
	}
	return out
}

// member is one running Group.
type member struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs g until stop or the end of the test.
func start(t *testing.T, g *consumer.Group) *member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- g.Run(ctx) }()
	t.Cleanup(m.stop)
	return m
}

// stop shuts the member down and waits for Run to return, failing the test if it returns
// an error or takes longer than shutdown may.
func (m *member) stop() {
	m.t.Helper()
	m.once.Do(func() {
		m.cancel()
		select {
		case m.err = <-m.done:
		case <-time.After(20 * time.Second):
			m.err = fmt.Errorf("Run still running 20s after its context ended")
		}
	})
	if m.err != nil {
		m.t.Errorf("run: %v", m.err)
	}
}

// stopped reports whether Run has returned, without waiting.
func (m *member) stopped() bool {
	select {
	case err := <-m.done:
		m.done <- err
		return true
	default:
		return false
	}
}

// eventually polls cond until it holds, failing the test with what() after timeout.
var eventually = kafkatest.Eventually

// receive waits for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
		var zero T
		return zero
	}
}

func offsetsOf(msgs []kafka.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

// span returns the offsets from..to-1.
func span(from, to int64) []int64 {
	var out []int64
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}
