package kafkaqueue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/queue"
)

// This test runs on kfake (internal/kafkatest): the writer talks to it over TCP with the same
// kafka-go code as on the real stack.

func TestJobs_EnqueueStoresTheJobKeyedByItsConversationInOrder(t *testing.T) {
	const topic = "eliza.jobs"
	broker := kafkatest.Start(t, 3, topic)
	w := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3}).Writer(topic)
	defer w.Close()
	convs := []uuid.UUID{uuid.New(), uuid.New()}
	var sent []queue.Job
	for i := range 6 {
		job := queue.Job{ID: uuid.New(), ConversationID: convs[i%2], Sentence: "hello"}
		if err := (kafkaqueue.Jobs{W: w}).Enqueue(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, job)
	}
	partitionOf := map[uuid.UUID]int{}
	order := map[uuid.UUID][]uuid.UUID{}
	for _, m := range broker.Read(topic, len(sent), 10*time.Second) {
		job, err := queue.UnmarshalJob(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != job.ConversationID.String() {
			t.Fatalf("job %s keyed %q, want its conversation", job.ID, m.Key)
		}
		if p, seen := partitionOf[job.ConversationID]; seen && p != m.Partition {
			t.Fatalf("conversation %s on partitions %d and %d", job.ConversationID, p, m.Partition)
		}
		partitionOf[job.ConversationID] = m.Partition
		order[job.ConversationID] = append(order[job.ConversationID], job.ID)
	}
	for i, job := range sent {
		if got := order[job.ConversationID][i/2]; got != job.ID {
			t.Fatalf("conversation %s's jobs out of order", job.ConversationID)
		}
	}
}

// A front door serves before its jobs topic exists on a fresh cluster (it creates it beside
// serving): a sentence queued meanwhile waits for the topic instead of being refused.
func TestJobs_EnqueueWaitsForItsTopicToBeCreated(t *testing.T) {
	const topic = "eliza.jobs"
	broker := kafkatest.StartWithoutAutoCreate(t, 3)
	bus := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3})
	w := bus.Writer(topic)
	defer w.Close()
	created := make(chan error, 1)
	time.AfterFunc(300*time.Millisecond, func() { created <- bus.EnsureTopics(context.Background(), topic) })

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	job := queue.Job{ID: uuid.New(), ConversationID: uuid.New(), Sentence: "hello"}
	if err := (kafkaqueue.Jobs{W: w}).Enqueue(ctx, job); err != nil {
		t.Fatalf("enqueue while the topic was being created: %v", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if got := broker.Read(topic, 1, 5*time.Second); len(got) != 1 || string(got[0].Key) != job.ConversationID.String() {
		t.Fatalf("topic holds %d messages, want the job once", len(got))
	}
}

// A topic that never comes: the write gives up when its context ends, saying why. The error
// names the topic only once the broker has answered the writer's first metadata request, so
// the context is long enough for that on a loaded machine (300 ms once was not, in CI).
func TestJobs_EnqueueToATopicThatNeverExistsFailsWhenItsContextEnds(t *testing.T) {
	broker := kafkatest.StartWithoutAutoCreate(t, 3)
	w := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3}).Writer("nowhere")
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := (kafkaqueue.Jobs{W: w}).Enqueue(ctx, queue.Job{ID: uuid.New(), ConversationID: uuid.New(), Sentence: "hello"})
	if err == nil || !strings.Contains(err.Error(), "Unknown Topic Or Partition") {
		t.Fatalf("enqueue to a missing topic: %v, want an unknown-topic error", err)
	}
}
