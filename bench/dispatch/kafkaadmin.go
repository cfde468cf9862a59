package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// kafkaAdmin adds to benchkit's topic and group bookkeeping the offsets the phases read and
// set.
type kafkaAdmin struct {
	*benchkit.Kafka
}

func newKafkaAdmin(brokers []string) *kafkaAdmin {
	return &kafkaAdmin{Kafka: benchkit.NewKafka(brokers)}
}

// endOffsets returns, per partition, the offset the next message will get.
func (k *kafkaAdmin) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	ids, err := k.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	res, err := k.Client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
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

// commitOffsets sets group's committed offsets, as an admin does for a group without members
// (generation -1), so that a consumer joining it starts there.
func (k *kafkaAdmin) commitOffsets(ctx context.Context, group, topic string, offsets map[int]int64) error {
	commits := make([]kafka.OffsetCommit, 0, len(offsets))
	for p, off := range offsets {
		commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	res, err := k.Client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
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
