// Package dispatch turns Debezium change events for datastore.signal into process_record
// calls: it decodes each message, sends what cannot be decoded to the dead-letter topic,
// applies the rest to the Store in one batch, and logs and counts what that did. It is the
// consumer.Handler of the dispatcher's signal group.
//
// Delivery guarantees come from the pieces around it: the consumer commits a batch's offsets
// only after HandleBatch returns nil, and the Store applies a batch atomically and
// idempotently (see internal/pgstore). HandleBatch therefore returns an error — and the batch
// is retried — whenever any part of it is not durable: the dead-letter write or the Store.
package dispatch
