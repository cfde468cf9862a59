package kafkaqueue

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/queue"
)

// Jobs enqueues jobs on the jobs topic through W, a writer from kafkabus.Bus.Writer (acks from
// all in-sync replicas: a job is enqueued only once it survives a broker's loss).
type Jobs struct{ W *kafka.Writer }

// Enqueue writes job, keyed by its conversation, and returns once it is durably stored.
func (j Jobs) Enqueue(ctx context.Context, job queue.Job) error {
	return write(ctx, j.W, job.ConversationID, job)
}

// Replies publishes replies on the replies topic through W, a writer from kafkabus.Bus.Writer.
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
