// Package recording decides when a recording's set of signals is complete. It is pure: no
// Kafka, SQL or RPC, so the rule that decides what process_record sees is tested on its own.
//
// A Rule is data: which sensor type and which channels each role of process_record needs
// (by default an eeg signal with f7-o1, f8-o2, f8-f7, f8-o1, f7-o2 and an accelerometer
// signal with x, y, z). A Ledger holds what is known of each recording's signals and applies
// changes to it in any order: each signal keeps the source position (Version) of the change
// that last set it, and an older change never overwrites a newer one, so redelivered and
// replayed events are harmless. A deleted signal stays as a tombstone for the same reason.
//
// A recording is complete, and process_record runs, at the first change after which its
// present signals fill both roles. When several signals then qualify for a role, the one with
// the lowest ID (UUID byte order) is chosen, so the choice depends only on which signals are
// present at that moment, not on the order they came in; a signal that comes later changes
// nothing, as process_record has run.
package recording
