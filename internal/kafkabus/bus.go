package kafkabus

import (
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// Config says how to reach Kafka and how to create topics.
type Config struct {
	// Brokers are the bootstrap brokers, host:port. At least one is required.
	Brokers []string
	// Partitions is the partition count of the topics this process creates (EnsureTopics).
	// Topics that already exist keep theirs.
	Partitions int
}

// Bus is a process's connection settings for Kafka. It holds no connections itself: writers
// and topic checks open their own.
type Bus struct {
	brokers    []string
	partitions int
}

// New returns a Bus for cfg.
func New(cfg Config) *Bus {
	return &Bus{brokers: slices.Clone(cfg.Brokers), partitions: cfg.Partitions}
}

// Brokers returns the bootstrap brokers, for clients built elsewhere (consumer groups,
// readers).
func (b *Bus) Brokers() []string { return slices.Clone(b.brokers) }

// Writer returns a writer to topic with the one producer policy of the project:
//
//   - acks from all in-sync replicas, so a write that returns nil survives a broker's loss;
//   - no waiting for a batch to fill (kafka-go's BatchTimeout would otherwise add up to a
//     second to every write), while concurrent writes still share requests;
//   - partitions chosen by the key's murmur2 hash, as Java producers (and Kafka Connect's
//     Debezium) choose them, so one key lands on one partition whichever client wrote it;
//   - three attempts per write before the error is returned.
//
// The caller closes it.
func (b *Bus) Writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(b.brokers...),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  3,
	}
}
