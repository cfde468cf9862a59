// Package kafkabus is the services' one way onto Kafka: which brokers to reach, how the topics
// a process needs are created (with the partition count from configuration), how messages are
// written (one policy for durability, batching and partitioning), and where messages that
// cannot be handled go (dead-letter topics, through one wrapper around consumer handlers and
// one set of headers).
//
// Everything Kafka-facing in the binaries is built from one Bus, so the broker list, the
// partition count and the producer settings each enter the process in exactly one place.
// Consuming is internal/consumer's business; this package only hands it the brokers.
package kafkabus
