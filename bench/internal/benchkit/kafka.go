package benchkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// Kafka does a run's topic and consumer-group bookkeeping on the stack's brokers: it creates
// the topics a run uses and deletes them and the groups afterwards.
type Kafka struct {
	// Client is the admin client, also for the harness's own requests (offsets).
	Client *kafka.Client
}

// NewKafka returns a Kafka for brokers (host:port), whose requests each time out after 15 s.
func NewKafka(brokers []string) *Kafka {
	return &Kafka{Client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 15 * time.Second}}
}

// CreateTopics creates topics with partitions partitions each (replication factor 1, as on the
// local stack) and waits, for at most 30 s, until every partition has a leader. A topic that
// exists already is an error: a run's topics are its own.
func (k *Kafka) CreateTopics(ctx context.Context, partitions int, topics ...string) error {
	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: 1}
	}
	res, err := k.Client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
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
		led, err := k.leaders(ctx, topics)
		if err == nil && allLed(led, partitions) {
			return nil
		}
		if sleep.For(ctx, 100*time.Millisecond) != nil {
			return fmt.Errorf("topics %v have no leaders for their %d partitions: %w", topics, partitions, errors.Join(ctx.Err(), err))
		}
	}
}

// allLed reports whether each topic of led has partitions partitions with a leader.
func allLed(led map[string][]int, partitions int) bool {
	for _, ids := range led {
		if len(ids) != partitions {
			return false
		}
	}
	return true
}

// Partitions lists the partitions of topic that have a leader.
func (k *Kafka) Partitions(ctx context.Context, topic string) ([]int, error) {
	led, err := k.leaders(ctx, []string{topic})
	if err != nil {
		return nil, err
	}
	return led[topic], nil
}

// leaders returns, for each of topics, its partitions that have a leader.
func (k *Kafka) leaders(ctx context.Context, topics []string) (map[string][]int, error) {
	res, err := k.Client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata of %v: %w", topics, err)
	}
	led := map[string][]int{}
	for _, t := range res.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
		}
		ids := []int{}
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				ids = append(ids, p.ID)
			}
		}
		led[t.Name] = ids
	}
	for _, t := range topics {
		if _, ok := led[t]; !ok {
			return nil, fmt.Errorf("metadata of %s: no such topic", t)
		}
	}
	return led, nil
}

// DeleteTopics deletes topics; one that does not exist is not an error, and no topics is
// nothing to do.
func (k *Kafka) DeleteTopics(ctx context.Context, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	res, err := k.Client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	var errs []error
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// DeleteGroups deletes consumer groups, which must have no members left (stop the run's
// processes first); one that does not exist is not an error, and no groups is nothing to do.
func (k *Kafka) DeleteGroups(ctx context.Context, groups ...string) error {
	if len(groups) == 0 {
		return nil
	}
	res, err := k.Client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: groups})
	if err != nil {
		return fmt.Errorf("delete groups %v: %w", groups, err)
	}
	var errs []error
	for g, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
			errs = append(errs, fmt.Errorf("delete group %s: %w", g, err))
		}
	}
	return errors.Join(errs...)
}
