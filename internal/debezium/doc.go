// Package debezium decodes the Debezium change events that the datastore-signal connector
// writes for table datastore.signal (topic postgres.datastore.signal) into typed Go values,
// so that the rest of the dispatcher never handles Debezium's JSON.
//
// DecodeSignalChange takes one Kafka message value as produced by Kafka Connect's
// JsonConverter and accepts both of its forms:
//
//   - schemas enabled (the converter's default, and what this stack's connector wrote until
//     it set value.converter.schemas.enable=false): {"schema": {...}, "payload":
//     {<envelope>}}; the schema is skipped, not checked;
//   - schemas disabled (this stack's configuration, locally and in k8s/): the envelope itself
//     at the top, about a fifth of the bytes.
//
// The envelope is Debezium's {"before", "after", "source", "op", "ts_ms", ...}. Fields this
// package does not use are tolerated everywhere, so newer Debezium versions that add fields
// still decode. All five operations are accepted: create, snapshot read, update, delete and
// truncate. The span column (a user-defined range type) is accepted as the connector sends it
// with include.unknown.datatypes=true, base64 of PostgreSQL's text form, and also as that text
// form in a plain JSON string; a connector without include.unknown.datatypes omits the column,
// and Signal.Span is then nil.
//
// A nil, empty or JSON null value is a Kafka tombstone (ErrTombstone). Anything else that is
// not a well-formed change event of this table fails with an error wrapping ErrMalformed that
// names the offending field or column.
//
// The package deliberately knows nothing of Kafka or SQL: callers hand it bytes.
package debezium
