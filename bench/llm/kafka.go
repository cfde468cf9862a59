package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicPartitions is what the local stack gives a new topic, and what the binaries create
// when a topic is missing.
const topicPartitions = 3

// kafkaAdmin does the topic and group bookkeeping of a run.
type kafkaAdmin struct {
	client *kafka.Client
}

func newKafkaAdmin(brokers []string) *kafkaAdmin {
	return &kafkaAdmin{client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 15 * time.Second}}
}

// createTopics creates topics with topicPartitions partitions each and waits until every
// partition has a leader.
func (k *kafkaAdmin) createTopics(ctx context.Context, topics ...string) error {
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: topicPartitions, ReplicationFactor: 1}
	}
	res, err := k.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for t, err := range res.Errors {
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		led, err := k.led(ctx, topics)
		if err == nil && led {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v have no leaders for their partitions: %w", topics, errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// led reports whether every partition of every topic has a leader.
func (k *kafkaAdmin) led(ctx context.Context, topics []string) (bool, error) {
	res, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return false, fmt.Errorf("metadata of %v: %w", topics, err)
	}
	if len(res.Topics) != len(topics) {
		return false, nil
	}
	for _, t := range res.Topics {
		if t.Error != nil || len(t.Partitions) != topicPartitions {
			return false, nil
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false, nil
			}
		}
	}
	return true, nil
}
