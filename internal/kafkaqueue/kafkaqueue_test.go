package kafkaqueue_test

import (
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
