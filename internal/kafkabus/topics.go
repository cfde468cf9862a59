package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnsureTopics creates those of topics that do not exist yet, with the Bus's partition count
// and the cluster's default replication. In Kubernetes the topics are declared as KafkaTopics;
// this keeps the local stack, standalone mode and tests working without them, and lets a
// consumer join before the producer (Debezium, say) has written anything.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.brokers[0])
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	defer conn.Close()
	controller, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("ensure topics: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return fmt.Errorf("ensure topics: dial controller: %w", err)
	}
	defer cc.Close()
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: b.partitions, ReplicationFactor: -1}
	}
	if err := cc.CreateTopics(configs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("ensure topics %v: %w", topics, err)
	}
	return nil
}

// AwaitTopics calls EnsureTopics until it succeeds or ctx is done, logging each failure: a
// process may start before Kafka does.
func (b *Bus) AwaitTopics(ctx context.Context, log *slog.Logger, topics ...string) {
	const retryEvery = 2 * time.Second
	for ctx.Err() == nil {
		err := b.EnsureTopics(ctx, topics...)
		if err == nil {
			return
		}
		log.Warn("cannot reach Kafka to check topics; retrying", "topics", topics, "error", err, "retry_in", retryEvery)
		t := time.NewTimer(retryEvery)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
