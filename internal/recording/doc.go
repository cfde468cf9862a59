// Package recording decides when a recording's set of signals is complete. It is pure: no
// Kafka, SQL or RPC, so the rule that decides what process_record sees is tested on its own.
//
// A Rule is data: which sensor type and which channels each role of process_record needs
// (by default an eeg signal with f7-o1, f8-o2, f8-f7, f8-o1, f7-o2 and an accelerometer
// signal with x, y, z). A Ledger holds what is known of each recording's signals and applies
// changes to it in any order.
//
// The Ledger keeps a signal's state per recording it was in, and sets each such pair only
// from changes that name that recording: a move to another recording (which Debezium sends
// as a delete under the old recording and a create under the new one) leaves a tombstone in
// the old recording and a signal in the new one. The topic is keyed by recording, so one
// recording's changes are read in order, and its pairs are its state as of the change being
// applied, however far the partitions of the recordings its signals moved to are read ahead
// of it. (That takes REPLICA IDENTITY FULL on the source table, so that a delete names the
// recording it leaves; see Ledger.) Each pair keeps the source position (Version) of the change that last set it, and an
// older change never overwrites a newer one, so redelivered and replayed events are harmless.
// A truncate of the source table is kept as a position: a signal set before it counts for a
// change after it as absent, and for a change before it (read late, from a partition held
// back) as it was. A snapshot of the whole table read after a gap in the capture sends the
// rows there are, not the gap's deletes: a recording swept for it (Ledger.Sweep) counts only
// the signals the snapshot reads again, and what comes after.
//
// A recording is complete, and process_record runs, at the first change after which its
// present signals fill both roles. When several signals then qualify for a role, the one with
// the lowest ID (UUID byte order) is chosen, so the choice depends only on which signals are
// present at that moment, not on the order they came in; a signal that comes later changes
// nothing, as process_record has run.
package recording
