package kafkaqueue_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/queue"
)

// These tests run on kfake (internal/kafkatest): the writers and the router talk to it over
// TCP with the same kafka-go code as on the real stack.

const (
	jobsTopic    = "eliza.jobs"
	repliesTopic = "eliza.replies"
)

func start(t *testing.T) (*kafkatest.Broker, *kafkabus.Bus) {
	t.Helper()
	broker := kafkatest.Start(t, 3, jobsTopic, repliesTopic)
	return broker, kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 3})
}

func TestJobs_EnqueueStoresTheJobKeyedByItsConversation(t *testing.T) {
	broker, bus := start(t)
	w := bus.Writer(jobsTopic)
	defer w.Close()
	jobs := kafkaqueue.Jobs{W: w}
	for i := range 6 {
		job := queue.Job{ID: fmt.Sprint("job-", i), ConversationID: fmt.Sprint("conv-", i%2), ReplyTo: "fd-1", Sentence: "hello"}
		if err := jobs.Enqueue(t.Context(), job); err != nil {
			t.Fatal(err)
		}
	}
	partitionOf := map[string]int{}
	order := map[string][]string{}
	for _, m := range broker.Read(jobsTopic, 6, 10*time.Second) {
		job, err := queue.UnmarshalJob(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != job.ConversationID {
			t.Fatalf("job %s keyed %q, want its conversation", job.ID, m.Key)
		}
		if p, seen := partitionOf[job.ConversationID]; seen && p != m.Partition {
			t.Fatalf("conversation %s on partitions %d and %d", job.ConversationID, p, m.Partition)
		}
		partitionOf[job.ConversationID] = m.Partition
		order[job.ConversationID] = append(order[job.ConversationID], job.ID)
	}
	if fmt.Sprint(order["conv-0"]) != "[job-0 job-2 job-4]" {
		t.Fatalf("conversation conv-0's jobs in the order %v", order["conv-0"])
	}
}

// router runs a Router for instance until the test ends, and waits until it reads.
func router(t *testing.T, bus *kafkabus.Bus, instance string) (*kafkaqueue.Router, prometheus.Gatherer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r := kafkaqueue.NewRouter(bus, repliesTopic, instance, 4, reg, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	kafkatest.Eventually(t, 10*time.Second, r.Ready, func() string { return "the router never became ready" })
	return r, reg
}

func publish(t *testing.T, bus *kafkabus.Bus, replies ...queue.Reply) {
	t.Helper()
	w := bus.Writer(repliesTopic)
	defer w.Close()
	for _, r := range replies {
		if err := (kafkaqueue.Replies{W: w}).Publish(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRouter_DeliversRepliesAddressedHereToTheirConversationOnly(t *testing.T) {
	_, bus := start(t)
	r, reg := router(t, bus, "fd-1")
	mine, cancelMine := r.Subscribe("conv-a")
	defer cancelMine()
	publish(t, bus,
		queue.Reply{JobID: "j1", ConversationID: "conv-a", ReplyTo: "fd-2", Text: "for another front door"},
		queue.Reply{JobID: "j2", ConversationID: "conv-gone", ReplyTo: "fd-1", Text: "its stream went away"},
		queue.Reply{JobID: "j3", ConversationID: "conv-a", ReplyTo: "fd-1", Text: "yours"},
	)
	select {
	case rep := <-mine:
		if rep.JobID != "j3" {
			t.Fatalf("delivered %+v, want job j3 only", rep)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply delivered within 10s")
	}
	dropped := func() float64 { return counter(t, reg, "frontdoor_replies_dropped_total") }
	kafkatest.Eventually(t, 5*time.Second, func() bool { return dropped() == 1 },
		func() string {
			return fmt.Sprintf("%v replies counted dropped, want the one whose stream went away", dropped())
		})
	select {
	case rep := <-mine:
		t.Fatalf("a second delivery: %+v", rep)
	default:
	}
}

func TestRouter_ReadsOnlyRepliesWrittenAfterItStarted(t *testing.T) {
	_, bus := start(t)
	publish(t, bus, queue.Reply{JobID: "old", ConversationID: "conv-a", ReplyTo: "fd-1", Text: "before"})
	r, _ := router(t, bus, "fd-1")
	ch, cancel := r.Subscribe("conv-a")
	defer cancel()
	publish(t, bus, queue.Reply{JobID: "new", ConversationID: "conv-a", ReplyTo: "fd-1", Text: "after"})
	select {
	case rep := <-ch:
		if rep.JobID != "new" {
			t.Fatalf("first delivery is %s, want the reply written after start-up", rep.JobID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply delivered within 10s")
	}
}
