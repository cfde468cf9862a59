package kafkaqueue

import (
	"context"
	"fmt"
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
