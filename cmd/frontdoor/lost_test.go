package main_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/internal/worker"
	"github.com/beacon/eventdispatch/migrations"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
)

// A job the front door enqueued and the workers' group then skipped, as an operator's reset
// of its offsets to the topic's end does, is lost on its way to a worker: after
// LOST_JOB_AFTER its client gets an error saying so, on the stream it is still on, and the
// job's slot in the conversation's queue is free for the next sentence. (On a database of its
// own: the sweep takes any job of the database that old for lost, and the stack's Postgres
// holds other tests' jobs.)
func TestQueueConversation_AJobLostOnTheWayToTheWorkersGetsAnErrorAndFreesItsSlot(t *testing.T) {
	q := newQueueSystem(t)
	db := stack.EmptyDatabase(t)
	if _, err := migrations.Up(t.Context(), db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	// The topic first: the front door creates it in the background, and a sentence sent before
	// that is "queue unavailable".
	if err := kafkabus.New(kafkabus.Config{Brokers: q.ep.KafkaBrokers, Partitions: 3}).EnsureTopics(t.Context(), q.jobs); err != nil {
		t.Fatal(err)
	}
	f := q.frontdoor("DATABASE_URL="+db, "QUEUE_LIMIT=1")
	s := openQueue(t, f.rpc)
	conv, lost := queueOn(t, s, "is anybody there?", 1)
	send(t, s, "hello?")
	expect(t, bidi(s), conv, queueFull("hello?"))

	ends, err := kafkabus.EndOffsets(t.Context(), q.client(), q.jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafkabus.CommitOffsets(t.Context(), q.client(), q.group, q.jobs, ends); err != nil {
		t.Fatal(err)
	}
	_, model := q.model()
	const after = 2 * time.Second
	q.dispatcher(append(model, "DATABASE_URL="+db, "LOST_JOB_AFTER="+after.String())...)
	expect(t, bidi(s), conv, event{kind: elizav1.QueueConversationResponse_KIND_ERROR, serial: 2, job: lost,
		text: worker.LostText(after), inReplyTo: "is anybody there?"})

	_, job := queueOn(t, s, "hello?", 3)
	expect(t, bidi(s), conv, answered(4, job, "hello?"))
}
