package debezium

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// Op is the kind of change an event reports, as Debezium spells it in the envelope's "op".
type Op string

// The operations Debezium's PostgreSQL connector emits.
const (
	// OpCreate is an inserted row.
	OpCreate Op = "c"
	// OpRead is a row read by a snapshot (initial or incremental), not a change as such.
	OpRead Op = "r"
	// OpUpdate is an updated row.
	OpUpdate Op = "u"
	// OpDelete is a deleted row.
	OpDelete Op = "d"
	// OpTruncate is a TRUNCATE of the whole table; the event carries no row.
	OpTruncate Op = "t"
)

// valid reports whether op is one of the operations above.
func (op Op) valid() bool {
	switch op {
	case OpCreate, OpRead, OpUpdate, OpDelete, OpTruncate:
		return true
	}
	return false
}

// Source is where and when the change happened in Postgres.
type Source struct {
	// LSN is source.lsn, the change's position in the write-ahead log. It orders changes to one
	// row: a later change has a higher LSN. Always present in a decoded event.
	LSN int64
	// TxID is source.txId, the Postgres transaction id (0 if absent).
	TxID int64
	// TsMs is source.ts_ms: the commit time in Postgres, milliseconds since the Unix epoch.
	// For snapshot reads it is the time the snapshot read the table.
	TsMs int64
	// Snapshot is source.snapshot as sent: "false" for streamed changes; for snapshot reads
	// "first", "true" and "last" (first, middle and last row of the snapshot; seen on this
	// stack), Debezium's "first_in_data_collection" and "last_in_data_collection" when a
	// snapshot covers several tables, or "incremental"; "" if absent (see
	// Change.ReadsTheWholeTable). All rows of one snapshot carry the same LSN, TxID and TsMs.
	Snapshot string
	// Schema and Table name the captured table, as sent. The decoder does not insist on
	// datastore.signal, so that a connector capturing a copy of the table decodes too.
	Schema, Table string
}

// Span is a datastore.time_span value: a range of nanoseconds (within a recording) as Postgres
// holds it. Lower and Upper are meaningful only when Empty is false.
type Span struct {
	// Lower and Upper are the bounds in nanoseconds. Both are always set: a time_span without
	// one is rejected (see ParseSpan).
	Lower, Upper int64
	// LowerInclusive and UpperInclusive say whether the bound belongs to the span: "[" and "]"
	// in the text form. The usual span, "[0,60000000000)", includes its lower bound only.
	LowerInclusive, UpperInclusive bool
	// Empty is Postgres's empty range; its bounds and flags are zero.
	Empty bool
}

// Signal is one row of datastore.signal as the event carries it.
type Signal struct {
	// ID is the row's primary key; Recording the recording it belongs to (uuid.Nil only in a
	// delete's placeholder Before).
	ID, Recording uuid.UUID
	// Data is the sample bytes (bytea, base64 in the event), nil when the event lacks it.
	Data []byte
	// Span is the part of the recording the samples cover. It is nil when the event lacks the
	// column (connector without include.unknown.datatypes) or, in a delete's Before, when it
	// is a placeholder.
	Span *Span
	// SensorLabel names the sensor, SensorType says what kind it is ("eeg", "accelerometer").
	SensorLabel, SensorType string
	// Channels names the signal's channels, in the order the row lists them.
	Channels []string
	// SampleUnit is the unit the samples are measured in ("microvolt");
	// SampleResolutionInUnit and SampleOffsetInUnit relate stored sample values to it, as the
	// row states them (this package does not apply them).
	SampleUnit             string
	SampleResolutionInUnit float64
	SampleOffsetInUnit     float64
	// SampleType is the datastore.sample_type enum label as sent ("float32"), unvalidated:
	// deciding which labels a consumer supports is not this package's job.
	SampleType string
	// SampleRate is the sample rate as the row states it.
	SampleRate float64
	// InsertedAt is when the row was inserted; zero if the event lacks it.
	InsertedAt time.Time
}

// Change is one decoded change event.
type Change struct {
	// Op is what happened to the row (or the table, for OpTruncate).
	Op Op
	// Before is the row before the change; nil when the event has none. With the table's
	// default REPLICA IDENTITY, Debezium sends Before only for deletes, and then only the key
	// column is real: Postgres logs just the primary key, and Debezium fills every other column
	// with a placeholder ("" for uuid and text columns, 0, [], 1970-01-01T00:00:00Z). So for
	// OpDelete only Before.ID is guaranteed; the other fields are whatever could be decoded
	// from the placeholders (zero values, Span nil, InsertedAt the Unix epoch) unless the table
	// is switched to REPLICA IDENTITY FULL, which makes Before a full, real row.
	Before *Signal
	// After is the row after the change: set for OpCreate, OpRead and OpUpdate, nil for
	// OpDelete and OpTruncate, and for an OpUpdate whose new row could not be read
	// (Unreadable).
	After *Signal
	// Unreadable, for an OpUpdate, says why one of its rows could not be read (a nil UUID for
	// its id, say). When it is the new row, After is nil, and Before, read as a delete's, is
	// the row as it was, which the update did away with all the same. When it is the old row
	// (an update undoing one into a row that could not be read), Before is nil and After is
	// the row that now counts.
	Unreadable error
	Source     Source
	// TsMs is the envelope's ts_ms: when Debezium processed the change (0 if absent).
	TsMs int64
}

// ErrTombstone is returned for a nil, empty or JSON null message value: a Kafka tombstone,
// which carries no change. Callers skip it.
var ErrTombstone = errors.New("debezium: tombstone (null message value)")

// ErrMalformed is wrapped by every error DecodeSignalChange returns for input that is not a
// change event it can decode: not JSON, not a Debezium envelope, an unknown op, or a missing
// or ill-typed field or column. Such a message will never decode; retrying does not help.
var ErrMalformed = errors.New("debezium: malformed change event")

// ReadsTheWholeTable reports whether c is a row read by a snapshot of the whole table at one
// position, the initial snapshot or a blocking one (source.snapshot "first", "true", "last"
// and the like): such a snapshot sends every row there is, each at the snapshot's LSN, before
// any change streamed after it. A row of an incremental snapshot ("incremental") is not one:
// its chunks are read between streamed changes, each at a position of its own. Nor is a read
// that does not say (no source.snapshot).
func (c Change) ReadsTheWholeTable() bool {
	switch c.Source.Snapshot {
	case "", "false", "incremental":
		return false
	}
	return c.Op == OpRead
}
