// Package dispatch turns Debezium change events for datastore.signal into process_record
// calls: Decode turns each message into an Event, and a Handler applies a partition's batch of
// events to the Store in one step and logs and counts what that did. Wrapped by
// kafkabus.Batches (which sends what Decode refuses to the dead-letter topic) it is the
// consumer.Handler of the dispatcher's signal group.
//
// Delivery guarantees come from the pieces around it: the consumer commits a batch's offsets
// only after the handler returns nil, and the Store applies a batch atomically and
// idempotently (see internal/pgstore). Handle therefore returns an error — and the batch is
// retried — whenever any part of it is not durable.
package dispatch
