package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// EndOffsets returns, per partition of topic, the offset the next message will get. A topic
// that does not exist yet has no history: the map is empty. A broker just started, or a
// partition whose leader is being elected, answers with an error Kafka calls retriable ("Not
// Leader For Partition", …): EndOffsets then asks again every 100 ms, for up to
// endOffsetsRetryFor, and returns that error if ctx ends or the time runs out first.
func EndOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]int64, error) {
	giveUp := time.Now().Add(endOffsetsRetryFor)
	var retriable error
	for {
		ends, err := endOffsets(ctx, client, topic)
		if err != nil && retriable != nil && ctx.Err() != nil {
			return nil, retriable // ended while it asked again: the broker's answer says why
		}
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || !kerr.Temporary() {
			return ends, err
		}
		retriable = err
		if time.Now().After(giveUp) || sleep.For(ctx, 100*time.Millisecond) != nil {
			return nil, err
		}
	}
}

// endOffsetsRetryFor bounds how long EndOffsets asks again: a partition without a leader
// for longer is a fault to report, not a moment to wait out.
const endOffsetsRetryFor = 30 * time.Second

func endOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]int64, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || errors.Is(meta.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return map[int]int64{}, nil
	}
	if err := meta.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	reqs := make([]kafka.OffsetRequest, len(meta.Topics[0].Partitions))
	for i, p := range meta.Topics[0].Partitions {
		reqs[i] = kafka.LastOffsetOf(p.ID)
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}

// CommitOffsets sets group's committed offsets on topic, as an admin does for a group without
// members (generation -1), so that a consumer joining it starts there: at EndOffsets, a group
// skips what the topic already holds.
func CommitOffsets(ctx context.Context, client *kafka.Client, group, topic string, offsets map[int]int64) error {
	commits := make([]kafka.OffsetCommit, 0, len(offsets))
	for p, off := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: commits},
	})
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	var errs []error
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("commit offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error))
		}
	}
	return errors.Join(errs...)
}
