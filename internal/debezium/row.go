package debezium

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// wireRow is a row of datastore.signal (an envelope's "before" or "after") as the event
// carries it. Columns the event lacks stay absent; unknown fields are ignored.
type wireRow struct {
	ID                     column[uuid.UUID]
	Recording              column[uuid.UUID]
	Data                   column[[]byte]
	Span                   column[*Span]
	SensorLabel            column[string]
	SensorType             column[string]
	Channels               column[[]string]
	SampleUnit             column[string]
	SampleResolutionInUnit column[float64]
	SampleOffsetInUnit     column[float64]
	SampleType             column[string]
	SampleRate             column[float64]
	InsertedAt             column[time.Time]
	// ruleOnly leaves every column but the rule's absent (see DecodeRuleChange).
	ruleOnly bool
}

// ruleColumn reports whether the completeness rule reads the column key.
func ruleColumn(key []byte) bool {
	switch string(key) {
	case "id", "recording", "sensor_type", "channels", "sample_type":
		return true
	}
	return false
}

// member reads the row's member key, parsing a column's value the moment it is read.
func (w *wireRow) member(s *scanner, key []byte) error {
	v, err := s.value()
	if err != nil || (w.ruleOnly && !ruleColumn(key)) {
		return err
	}
	switch string(key) {
	case "id":
		w.ID.set(v, parseUUID)
	case "recording":
		w.Recording.set(v, parseUUID)
	case "data":
		w.Data.set(v, parseBase64)
	case "span":
		w.Span.set(v, parseSpanValue)
	case "sensor_label":
		w.SensorLabel.set(v, stringValue)
	case "sensor_type":
		w.SensorType.set(v, stringValue)
	case "channels":
		w.Channels.set(v, stringArray)
	case "sample_unit":
		w.SampleUnit.set(v, stringValue)
	case "sample_resolution_in_unit":
		w.SampleResolutionInUnit.set(v, parseFloat)
	case "sample_offset_in_unit":
		w.SampleOffsetInUnit.set(v, parseFloat)
	case "sample_type":
		w.SampleType.set(v, stringValue)
	case "sample_rate":
		w.SampleRate.set(v, parseFloat)
	case "inserted_at":
		w.InsertedAt.set(v, parseTime)
	}
	return nil
}

// rowReader turns columns into values under one set of rules and keeps the first error.
type rowReader struct {
	row string // "before" or "after", for error messages
	// keyOnly is for a delete's before: only the key column is real, the others may be
	// placeholders and are read best-effort (a value that does not decode becomes zero).
	keyOnly bool
	err     error
}

// get returns the column's value. A required column must be present, non-null and
// well-typed. An optional one may be absent or null (zero value) but not ill-typed.
func get[T any](r *rowReader, c *column[T], name string, required bool) T {
	var zero T
	if r.err != nil {
		return zero
	}
	switch {
	case c.presence == present && c.err == nil:
		return c.val
	case r.keyOnly && !required:
		return zero
	case c.presence == present:
		r.err = fmt.Errorf("%w: %s.%s: %w", ErrMalformed, r.row, name, c.err)
	case !required:
		return zero
	case c.presence == null:
		r.err = fmt.Errorf("%w: %s.%s is null", ErrMalformed, r.row, name)
	default:
		r.err = fmt.Errorf("%w: %s.%s is missing", ErrMalformed, r.row, name)
	}
	return zero
}

// nullable is get for a column that must be present (Debezium sends every column of the
// table) but may be NULL, which reads as the zero value.
func nullable[T any](r *rowReader, c *column[T], name string, required bool) T {
	if required && c.presence == null && r.err == nil {
		var zero T
		return zero
	}
	return get(r, c, name, required)
}

// signal converts the row. In a full row (after, or before with REPLICA IDENTITY FULL) the
// columns the dispatcher cannot do without are required: id and recording present and not
// NULL, sensor_type, channels and sample_type present. Those three the table declares NOT
// NULL; one that is NULL all the same (the constraint dropped since) reads as empty: a signal
// that does not qualify (recording.Validate), as it stands, rather than an event never
// applied, which left what the row was before counting. In a keyOnly row only id is required.
func (w *wireRow) signal(row string, keyOnly bool) (*Signal, error) {
	r := rowReader{row: row, keyOnly: keyOnly}
	full := !keyOnly
	s := &Signal{
		ID:                     get(&r, &w.ID, "id", true),
		Recording:              get(&r, &w.Recording, "recording", full),
		Data:                   get(&r, &w.Data, "data", false),
		Span:                   get(&r, &w.Span, "span", false),
		SensorLabel:            get(&r, &w.SensorLabel, "sensor_label", false),
		SensorType:             nullable(&r, &w.SensorType, "sensor_type", full),
		Channels:               nullable(&r, &w.Channels, "channels", full),
		SampleUnit:             get(&r, &w.SampleUnit, "sample_unit", false),
		SampleResolutionInUnit: get(&r, &w.SampleResolutionInUnit, "sample_resolution_in_unit", false),
		SampleOffsetInUnit:     get(&r, &w.SampleOffsetInUnit, "sample_offset_in_unit", false),
		SampleType:             nullable(&r, &w.SampleType, "sample_type", full),
		SampleRate:             get(&r, &w.SampleRate, "sample_rate", false),
		InsertedAt:             get(&r, &w.InsertedAt, "inserted_at", false),
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}
