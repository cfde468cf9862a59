// Package kafkaqueue carries queued conversation jobs over Kafka: Jobs writes each job to
// JOBS_TOPIC, keyed by its conversation (so a conversation's jobs stay in order on one
// partition), with acks from all in-sync replicas, and returns only once it is durable.
//
// Replies do not come back through Kafka: the worker records each job's outcome in the
// conversation's transcript (internal/transcript), which is what front doors read and watch.
package kafkaqueue
