// Package debeziumpub is the headband simulator's writer for standalone mode, where there is
// neither Postgres nor Debezium: for each signal it would have inserted, it publishes to Kafka
// the change event that the datastore-signal connector would have produced for that INSERT.
//
// The event has the connector's shape as captured in internal/debezium/testdata
// (events/datastore-signal/create-*.json, JsonConverter with schemas enabled): a
// {"schema", "payload"} value whose payload is the envelope with op "c", before null, the row in
// after without its samples, as column.exclude.list=datastore.signal.data leaves it (uuids as
// strings, the span range as base64, doubles written with a
// fraction, inserted_at as a zoned timestamp), and a source block with connector, db, schema,
// table, ts_ms/us/ns, txId, lsn and sequence. The key is {"schema", "payload":{"recording"}},
// as with message.key.columns=datastore.signal:recording, and messages are partitioned with
// murmur2 like Kafka Connect's producer, so a recording's events share one partition.
//
// What differs from the real thing: no row exists anywhere; source.lsn and txId are
// synthetic (increasing within the process, starting from the wall clock in microseconds so
// later runs sort after earlier ones); every insert is its own transaction; source.version
// says "simulated" instead of a Debezium release. Updates, deletes, truncates and snapshot
// reads are never produced.
package debeziumpub
