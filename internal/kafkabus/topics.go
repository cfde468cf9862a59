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

	"github.com/beacon/eventdispatch/internal/sleep"
)

// EnsureTopics creates those of topics that do not exist yet, with the Bus's partition count
// and the cluster's default replication. In Kubernetes the topics are declared as KafkaTopics;
// this keeps the local stack, standalone mode and tests working without them, and lets a
// consumer join before the producer (Debezium, say) has written anything. It returns once
// every partition of topics has a leader (see awaitLeaders).
//
// It gives up after ensureTimeout, or when ctx is done, whatever the broker does: kafka-go's
// calls on a connection take no context, and a broker that accepts connections and never
// answers held a process's shutdown for the whole of its grace.
func (b *Bus) EnsureTopics(ctx context.Context, topics ...string) error {
	_, err := b.ensure(ctx, topics)
	return err
}

// ensure is EnsureTopics, which also returns the topics it created, one at a time: a topic
// refused stops it, after those before it.
func (b *Bus) ensure(ctx context.Context, topics []string) (created []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.brokers[0])
	if err != nil {
		return nil, fmt.Errorf("ensure topics: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	controller, err := conn.Controller()
	if err != nil {
		return nil, fmt.Errorf("ensure topics: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port)))
	if err != nil {
		return nil, fmt.Errorf("ensure topics: dial controller: %w", err)
	}
	defer cc.Close()
	defer context.AfterFunc(ctx, func() { _ = cc.SetDeadline(time.Now()) })()
	// The topics there are, read first: kafka-go's CreateTopics answers nil for a topic that
	// exists, as for one it created. (A metadata request naming the topics could create them
	// with the broker's defaults, where auto-creation is on.)
	all, err := conn.ReadPartitions()
	if err != nil {
		return nil, fmt.Errorf("ensure topics: list the topics: %w", err)
	}
	exists := map[string]bool{}
	for _, p := range all {
		exists[p.Topic] = true
	}
	for _, t := range topics {
		if exists[t] {
			continue
		}
		switch err := cc.CreateTopics(kafka.TopicConfig{Topic: t, NumPartitions: b.partitions, ReplicationFactor: -1}); {
		case err == nil:
			created = append(created, t)
		case !errors.Is(err, kafka.TopicAlreadyExists):
			if errors.Is(err, kafka.InvalidTopic) {
				err = fmt.Errorf("%w (Kafka takes a name of at most 249 letters, digits, '.', '_' and '-', which is not an existing topic's with '.' and '_' taken as one)", err)
			}
			return created, fmt.Errorf("ensure topic %q: %w", t, err)
		}
	}
	return created, awaitLeaders(ctx, conn, topics)
}

// refused reports whether err is Kafka refusing a topic's name, as the settings give it:
// retried, it would be refused again. (Other refusals may pass: a cluster starting refuses the
// replication factor while its brokers register.)
func refused(err error) bool { return errors.Is(err, kafka.InvalidTopic) }

// allLed reports whether each of topics has partitions, every one with a leader.
func allLed(partitions []kafka.Partition, topics []string) bool {
	count := map[string]int{}
	for _, p := range partitions {
		if p.Leader.Host == "" {
			return false
		}
		count[p.Topic]++
	}
	for _, t := range topics {
		if count[t] == 0 {
			return false
		}
	}
	return true
}

// leadersTimeout bounds the wait for a new topic's partitions to have leaders.
const leadersTimeout = 10 * time.Second

// ensureTimeout bounds one EnsureTopics: the dials, the creation and the wait for leaders.
const ensureTimeout = leadersTimeout + 20*time.Second

// awaitLeaders waits until every partition of topics has a leader. For a moment after it is
// created a topic has none, and a consumer group whose leader read the topic's metadata then
// would assign none of its partitions, until its next look at them (seconds later).
func awaitLeaders(ctx context.Context, conn *kafka.Conn, topics []string) error {
	deadline := time.Now().Add(leadersTimeout)
	for {
		partitions, err := conn.ReadPartitions(topics...)
		if err == nil && allLed(partitions, topics) {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("ensure topics %v: read their partitions: %w", topics, err)
			}
			return fmt.Errorf("ensure topics %v: partitions without a leader after %s", topics, leadersTimeout)
		}
		if err := sleep.For(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// AwaitTopics calls EnsureTopics until it succeeds or ctx is done, logging each failure (a
// process may start before Kafka does) and each topic it creates, which it returns. A topic
// Kafka refuses (an invalid name, one that collides with an existing topic's) is not retried:
// the error, which names setting (the variable that named topics), is returned.
func (b *Bus) AwaitTopics(ctx context.Context, log *slog.Logger, setting string, topics ...string) ([]string, error) {
	const retryEvery = time.Second // as the consumer groups' joins: back within about a second
	var all []string
	for ctx.Err() == nil {
		created, err := b.ensure(ctx, topics)
		for _, t := range created {
			log.Info("created topic", "topic", t, "partitions", b.partitions, "setting", setting)
		}
		all = append(all, created...)
		switch {
		case err == nil || ctx.Err() != nil:
			return all, nil // a check cut short by ctx says nothing of Kafka
		case refused(err):
			return all, fmt.Errorf("%s: %w", setting, err)
		}
		log.Warn("cannot make sure the topics exist; retrying", "topics", topics, "error", err, "retry_in", retryEvery)
		if sleep.For(ctx, retryEvery) != nil {
			break
		}
	}
	return all, nil
}
