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
	b, err := queue.Marshal(job)
	if err != nil {
		return err
	}
	if err := j.W.WriteMessages(ctx, kafka.Message{Key: []byte(job.ConversationID.String()), Value: b}); err != nil {
		return fmt.Errorf("write to %s: %w", j.W.Topic, err)
	}
	return nil
}
