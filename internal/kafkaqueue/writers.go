package kafkaqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// Jobs enqueues jobs on the jobs topic through W, a writer from kafkabus.Bus.Writer (acks from
// all in-sync replicas: a job is enqueued only once it survives a broker's loss).
type Jobs struct{ W *kafka.Writer }

// Enqueue writes job, keyed by its conversation, and returns once it is durably stored.
//
// While the topic does not exist yet (a process creates it as it starts, beside serving), the
// write is tried again until ctx ends: a broker that does not know the topic has stored
// nothing, so writing again cannot store the job twice.
func (j Jobs) Enqueue(ctx context.Context, job queue.Job) error {
	b, err := queue.Marshal(job)
	if err != nil {
		return err
	}
	msg := kafka.Message{Key: []byte(job.ConversationID.String()), Value: b}
	wait := topicRetryMin
	for {
		err := j.W.WriteMessages(ctx, msg)
		if err == nil {
			return nil
		}
		if !topicMissing(err) {
			return fmt.Errorf("write to %s: %w", j.W.Topic, err)
		}
		if sleep.For(ctx, wait) != nil {
			return fmt.Errorf("write to %s: %w", j.W.Topic, err)
		}
		wait = min(2*wait, topicRetryMax)
	}
}

// The pauses between writes to a topic that does not exist yet.
const (
	topicRetryMin = 20 * time.Millisecond
	topicRetryMax = 500 * time.Millisecond
)

// topicMissing reports whether err says the broker does not know the topic (or one of its
// partitions), from the writer's metadata lookup or from the produce request itself.
func topicMissing(err error) bool {
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return true
	}
	var each kafka.WriteErrors
	return errors.As(err, &each) && len(each) == 1 && errors.Is(each[0], kafka.UnknownTopicOrPartition)
}
