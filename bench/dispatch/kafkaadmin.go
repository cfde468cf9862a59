package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaAdmin does the topic and group bookkeeping of a run.
type kafkaAdmin struct {
	client  *kafka.Client
	brokers []string
}

func newKafkaAdmin(brokers []string) *kafkaAdmin {
	return &kafkaAdmin{client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 15 * time.Second}, brokers: brokers}
}

// partitions lists topic's partitions that have a leader.
func (k *kafkaAdmin) partitions(ctx context.Context, topic string) ([]int, error) {
	res, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		var ids []int
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				ids = append(ids, p.ID)
			}
		}
		return ids, nil
	}
	return nil, fmt.Errorf("metadata of %s: no such topic", topic)
}

// endOffsets returns, per partition, the offset the next message will get.
func (k *kafkaAdmin) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	ids, err := k.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	res, err := k.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
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
	res, err := k.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
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

// createTopic creates topic with n partitions and waits until each has a leader.
func (k *kafkaAdmin) createTopic(ctx context.Context, topic string, n int) error {
	res, err := k.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: n, ReplicationFactor: 1}},
	})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		ids, err := k.partitions(ctx, topic)
		if err == nil && len(ids) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders for its %d partitions: %w", topic, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
