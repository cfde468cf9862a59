package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/queue"
)

// NewWriter returns a writer to topic that waits for all in-sync replicas and sends without
// waiting for a batch to fill (kafka-go's BatchTimeout would otherwise add up to a second).
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  3,
	}
}

// Jobs enqueues jobs on the jobs topic.
type Jobs struct{ W *kafka.Writer }

// Enqueue writes job, keyed by its conversation, and returns once it is durably stored.
func (j Jobs) Enqueue(ctx context.Context, job queue.Job) error {
	return write(ctx, j.W, job.ConversationID, job)
}

// Replies publishes replies on the replies topic.
type Replies struct{ W *kafka.Writer }

// Publish writes r, keyed by its conversation, and returns once it is durably stored.
func (p Replies) Publish(ctx context.Context, r queue.Reply) error {
	return write(ctx, p.W, r.ConversationID, r)
}

func write(ctx context.Context, w *kafka.Writer, key string, v any) error {
	b, err := queue.Marshal(v)
	if err != nil {
		return err
	}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: b}); err != nil {
		return fmt.Errorf("write to %s: %w", w.Topic, err)
	}
	return nil
}

// EnsureTopics creates the topics that do not exist yet, with the given partition count and
// the cluster's default replication. In Kubernetes the topics are declared as KafkaTopics;
// this keeps the local stack and tests working without them.
func EnsureTopics(ctx context.Context, brokers []string, partitions int, topics ...string) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("ensure topics: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return fmt.Errorf("ensure topics: dial controller: %w", err)
	}
	defer cc.Close()
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1}
	}
	if err := cc.CreateTopics(configs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("ensure topics %v: %w", topics, err)
	}
	return nil
}

// AwaitTopics calls EnsureTopics until it succeeds or ctx is done, logging each failure: a
// process may start before Kafka does.
func AwaitTopics(ctx context.Context, brokers []string, partitions int, log *slog.Logger, topics ...string) {
	for ctx.Err() == nil {
		err := EnsureTopics(ctx, brokers, partitions, topics...)
		if err == nil {
			return
		}
		log.Warn("cannot reach Kafka to check the queue topics; retrying", "error", err)
		sleep(ctx, 2*time.Second)
	}
}
