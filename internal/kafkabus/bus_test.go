package kafkabus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

func partitionsOf(t *testing.T, b *kafkatest.Broker, topic string) int {
	t.Helper()
	meta, err := b.Client.Metadata(t.Context(), &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v %v", topic, meta, err)
	}
	return len(meta.Topics[0].Partitions)
}

func TestBus_EnsureTopicsCreatesWhatIsMissingWithTheConfiguredPartitions(t *testing.T) {
	broker := kafkatest.Start(t, 1, "existing")
	bus := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 5})
	if err := bus.EnsureTopics(t.Context(), "existing", "fresh", kafkabus.DeadLetterTopic("fresh")); err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int{"existing": 1, "fresh": 5, "fresh.dlq": 5} {
		if got := partitionsOf(t, broker, topic); got != want {
			t.Errorf("%s has %d partitions, want %d", topic, got, want)
		}
	}
	// Again: existing topics are no error.
	if err := bus.EnsureTopics(t.Context(), "fresh"); err != nil {
		t.Fatal(err)
	}
}

func TestBus_AwaitTopicsReturnsWhenItsContextEndsWhileKafkaIsAway(t *testing.T) {
	bus := kafkabus.New(kafkabus.Config{Brokers: []string{"127.0.0.1:1"}, Partitions: 3})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, _ = bus.AwaitTopics(ctx, slog.New(slog.DiscardHandler), "TOPIC", "t")
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("AwaitTopics took %s to notice its context had ended", took)
	}
}

func TestBus_WriterPutsEveryMessageOfAKeyOnOnePartition(t *testing.T) {
	broker := kafkatest.Start(t, 3, "jobs")
	bus := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3})
	w := bus.Writer("jobs")
	defer w.Close()
	var msgs []kafka.Message
	for i := range 30 {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "conversation-%d", i%5), Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	partitionOf := map[string]int{}
	used := map[int]bool{}
	for _, m := range broker.Read("jobs", len(msgs), 10*time.Second) {
		if p, seen := partitionOf[string(m.Key)]; seen && p != m.Partition {
			t.Fatalf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
		used[m.Partition] = true
	}
	if len(used) < 2 {
		t.Errorf("five keys all landed on partition(s) %v: the writer does not spread keys", used)
	}
}

// A broker that accepts connections and never answers does not hold AwaitTopics past its
// context: a process's shutdown waited for it for the whole of its grace.
func TestAwaitTopics_ASilentBrokerDoesNotHoldItPastItsContext(t *testing.T) {
	silent := proctest.SilentAddr(t)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	var logged bytes.Buffer // written by AwaitTopics only, read once it has returned
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = kafkabus.New(kafkabus.Config{Brokers: []string{silent}, Partitions: 1}).
			AwaitTopics(ctx, slog.New(slog.NewTextHandler(&logged, nil)), "TOPIC", "silent")
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AwaitTopics still running 4.5 s after its context ended, want it back at once")
	}
	// The check cut short by the context is the shutdown's doing, not Kafka's.
	if logged.Len() > 0 {
		t.Errorf("AwaitTopics warned when its context ended: %s", logged.String())
	}
}

// A topic Kafka refuses, here one whose name collides with an existing topic's ('.' and '_'
// are one to Kafka), stops AwaitTopics at once with the setting that named it: it was
// retried every second, forever, as Kafka out of reach. The topics it creates are logged.
func TestAwaitTopics_ATopicKafkaRefusesIsNotRetried(t *testing.T) {
	ep := stack.Require(t, stack.Kafka)
	base := fmt.Sprintf("await.refused.%d.%d", os.Getpid(), time.Now().UnixNano())
	conn, err := kafka.Dial("tcp", ep.KafkaBrokers[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.DeleteTopics(base); _ = conn.Close() })
	bus := kafkabus.New(kafkabus.Config{Brokers: ep.KafkaBrokers, Partitions: 1})
	var logged proctest.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	created, err := bus.AwaitTopics(t.Context(), log, "SIGNAL_TOPIC", base)
	if err != nil || len(created) != 1 || created[0] != base || strings.Count(logged.String(), "created topic") != 1 {
		t.Fatalf("AwaitTopics of a new topic: %v, %v; logged %s; want it created, and said so", created, err, logged.String())
	}
	// Again: it exists, and is not said to be created. (kafka-go's CreateTopics answers nil
	// for a topic that exists: every topic was logged as created at every start.)
	created, err = bus.AwaitTopics(t.Context(), log, "SIGNAL_TOPIC", base)
	if err != nil || len(created) != 0 || strings.Count(logged.String(), "created topic") != 1 {
		t.Fatalf("AwaitTopics of the topic again: %v, %v; logged %s; want nothing created", created, err, logged.String())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	created, err = bus.AwaitTopics(ctx, log, "SIGNAL_TOPIC", strings.ReplaceAll(base, ".", "_"))
	if err == nil || ctx.Err() != nil || len(created) != 0 || !errors.Is(err, kafka.InvalidTopic) || !strings.HasPrefix(err.Error(), "SIGNAL_TOPIC: ") {
		t.Fatalf("AwaitTopics of a colliding name: %v, %v (context: %v), want an Invalid Topic naming SIGNAL_TOPIC at once", created, err, ctx.Err())
	}
	if strings.Contains(logged.String(), "retrying") {
		t.Errorf("the refusal was retried:\n%s", logged.String())
	}
}
