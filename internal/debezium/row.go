package debezium

import "fmt"

// wireRow is a row of datastore.signal (an envelope's "before" or "after") as the event
// carries it. Columns the event lacks stay absent; unknown fields are ignored.
type wireRow struct {
	ID                     uuidColumn    `json:"id"`
	Recording              uuidColumn    `json:"recording"`
	Data                   bytesColumn   `json:"data"`
	Span                   spanColumn    `json:"span"`
	SensorLabel            stringColumn  `json:"sensor_label"`
	SensorType             stringColumn  `json:"sensor_type"`
	Channels               stringsColumn `json:"channels"`
	SampleUnit             stringColumn  `json:"sample_unit"`
	SampleResolutionInUnit floatColumn   `json:"sample_resolution_in_unit"`
	SampleOffsetInUnit     floatColumn   `json:"sample_offset_in_unit"`
	SampleType             stringColumn  `json:"sample_type"`
	SampleRate             floatColumn   `json:"sample_rate"`
	InsertedAt             timeColumn    `json:"inserted_at"`
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

// signal converts the row. In a full row (after, or before with REPLICA IDENTITY FULL) the
// columns the dispatcher cannot do without are required: id, recording, sensor_type,
// channels, sample_type. In a keyOnly row only id is.
func (w *wireRow) signal(row string, keyOnly bool) (*Signal, error) {
	r := rowReader{row: row, keyOnly: keyOnly}
	full := !keyOnly
	s := &Signal{
		ID:                     get(&r, &w.ID.column, "id", true),
		Recording:              get(&r, &w.Recording.column, "recording", full),
		Data:                   get(&r, &w.Data.column, "data", false),
		Span:                   get(&r, &w.Span.column, "span", false),
		SensorLabel:            get(&r, &w.SensorLabel.column, "sensor_label", false),
		SensorType:             get(&r, &w.SensorType.column, "sensor_type", full),
		Channels:               get(&r, &w.Channels.column, "channels", full),
		SampleUnit:             get(&r, &w.SampleUnit.column, "sample_unit", false),
		SampleResolutionInUnit: get(&r, &w.SampleResolutionInUnit.column, "sample_resolution_in_unit", false),
		SampleOffsetInUnit:     get(&r, &w.SampleOffsetInUnit.column, "sample_offset_in_unit", false),
		SampleType:             get(&r, &w.SampleType.column, "sample_type", full),
		SampleRate:             get(&r, &w.SampleRate.column, "sample_rate", false),
		InsertedAt:             get(&r, &w.InsertedAt.column, "inserted_at", false),
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}
