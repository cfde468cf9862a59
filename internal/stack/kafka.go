package stack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// A long-lived stack keeps every event earlier runs wrote: hundreds of thousands on the signal
// topic after a few benchmarks. A test that reads a topic from its start, or joins a consumer
// group new to the stack (which starts at the earliest offset), first wades through all of
// them, and fails on a busy stack what it passes on a fresh one. These helpers let a test read
// only what it writes.

// EndOffsets returns, for each partition of topic, the offset the next message written to it
// will get. A topic that does not exist yet has no history: the map is empty.
func EndOffsets(t testing.TB, ep Endpoints, topic string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ends, err := kafkabus.EndOffsets(ctx, kafkaClient(ep), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ends
}

// GroupAtEnd returns the name of a consumer group of the test's own — prefix and a random
// suffix — whose committed offsets are the current end of each of topics, so that a consumer
// joining it reads only what is written from now on, however long the topics' history. Call
// it before the test writes anything it expects the group to read. A topic that does not
// exist yet is left out: the group starts at its beginning, as with no history. The group is
// deleted when the test ends. The offsets are committed as an admin resets a group without
// members (kafkabus.CommitOffsets).
func GroupAtEnd(t testing.TB, ep Endpoints, prefix string, topics ...string) string {
	t.Helper()
	group := fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
	client := kafkaClient(ep)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() { deleteGroup(t, client, group) })
	for _, topic := range topics {
		ends, err := kafkabus.EndOffsets(ctx, client, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(ends) == 0 {
			continue
		}
		if err := kafkabus.CommitOffsets(ctx, client, group, topic, ends); err != nil {
			t.Fatalf("position consumer group %s at the end of %s: %v", group, topic, err)
		}
	}
	return group
}

func kafkaClient(ep Endpoints) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(ep.KafkaBrokers...), Timeout: 10 * time.Second}
}

// deleteGroup deletes a test's group once its members have left. A member killed with
// SIGKILL stays until its session times out, so a non-empty group is retried for a while;
// a group left behind is logged, not failed: it holds nothing but offsets.
func deleteGroup(t testing.TB, client *kafka.Client, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		res, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
		if err == nil {
			err = res.Errors[group]
		}
		if err == nil || errors.Is(err, kafka.GroupIdNotFound) {
			return
		}
		if !errors.Is(err, kafka.NonEmptyGroup) || ctx.Err() != nil {
			t.Logf("consumer group %s left on the stack: %v", group, err)
			return
		}
		_ = sleep.For(ctx, 250*time.Millisecond) // an ended ctx ends the next attempt, which logs it
	}
}
