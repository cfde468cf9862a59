package stack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
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
	ends, err := endOffsets(ctx, kafkaClient(ep), topic)
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
// deleted when the test ends.
//
// It commits as admin tools reset a group that has no members (kafka-consumer-groups
// --reset-offsets): generation -1, no member id, which the coordinator accepts for a group it
// does not know yet.
func GroupAtEnd(t testing.TB, ep Endpoints, prefix string, topics ...string) string {
	t.Helper()
	group := fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
	client := kafkaClient(ep)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	commits := map[string][]kafka.OffsetCommit{}
	for _, topic := range topics {
		ends, err := endOffsets(ctx, client, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p, off := range ends {
			commits[topic] = append(commits[topic], kafka.OffsetCommit{Partition: p, Offset: off})
		}
	}
	t.Cleanup(func() { deleteGroup(t, client, group) })
	if len(commits) == 0 {
		return group
	}
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: commits})
	if err != nil {
		t.Fatalf("position consumer group %s at the end of %v: %v", group, topics, err)
	}
	for topic, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatalf("position consumer group %s at the end of %s/%d: %v", group, topic, p.Partition, p.Error)
			}
		}
	}
	return group
}

func kafkaClient(ep Endpoints) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(ep.KafkaBrokers...), Timeout: 10 * time.Second}
}

func endOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]int64, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	ends := map[int]int64{}
	if len(md.Topics) != 1 || errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return ends, nil
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	reqs := make([]kafka.OffsetRequest, len(md.Topics[0].Partitions))
	for i, p := range md.Topics[0].Partitions {
		reqs[i] = kafka.LastOffsetOf(p.ID)
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of topic %s: %w", topic, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		ends[p.Partition] = p.LastOffset
	}
	return ends, nil
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
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
