package debezium

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// The column types below are what a row's fields decode into. Each parses its value the
// moment encoding/json hands it over (the bytes may not be kept) and records, instead of
// failing the whole decode, whether the column was there and why its value was rejected, so
// that the caller can apply the per-column rules (required or optional, strict or
// placeholder) and name the column in the error.

// presence is what the event said about a column.
type presence uint8

const (
	absent  presence = iota // the field is not in the event
	null                    // the field is JSON null
	present                 // the field has a value (valid or not: see column.err)
)

// column is one decoded column: its presence, its value, and why a present value was rejected.
type column[T any] struct {
	presence presence
	val      T
	err      error
}

// set records the value b, parsed by parse. A repeated field overwrites the earlier one, as
// encoding/json does for ordinary fields.
func (c *column[T]) set(b []byte, parse func([]byte) (T, error)) {
	if isNull(b) {
		*c = column[T]{presence: null}
		return
	}
	v, err := parse(b)
	*c = column[T]{presence: present, val: v, err: err}
}

// uuidColumn is a uuid column (io.debezium.data.Uuid: a string). The nil UUID is rejected:
// Postgres never generates it, and a delete's placeholder for a non-key uuid is "", not it.
type uuidColumn struct{ column[uuid.UUID] }

func (c *uuidColumn) UnmarshalJSON(b []byte) error { c.set(b, parseUUID); return nil }

var errNilUUID = errors.New("the nil UUID is not a row's uuid")

func parseUUID(b []byte) (uuid.UUID, error) {
	s, err := stringBytes(b)
	if err != nil {
		return uuid.Nil, err
	}
	u, err := uuid.ParseBytes(s)
	if err != nil {
		return uuid.Nil, fmt.Errorf("not a uuid: %w", err)
	}
	if u == uuid.Nil {
		return uuid.Nil, errNilUUID
	}
	return u, nil
}

// stringColumn is a text, domain-over-text or enum column (a string).
type stringColumn struct{ column[string] }

func (c *stringColumn) UnmarshalJSON(b []byte) error { c.set(b, stringValue); return nil }

// bytesColumn is a bytea column: Connect bytes, which the JSON converter writes as base64.
type bytesColumn struct{ column[[]byte] }

func (c *bytesColumn) UnmarshalJSON(b []byte) error { c.set(b, parseBase64); return nil }

func parseBase64(b []byte) ([]byte, error) {
	s, err := stringBytes(b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return out[:n], nil
}

// spanColumn is the span column (datastore.time_span). With include.unknown.datatypes=true
// Debezium sends Postgres's text form as Connect bytes, so base64 of "[0,60000000000)"; a
// plain range literal in the string is accepted too. The two cannot be confused: a range
// literal always contains a bracket or parenthesis, or is "empty" (five letters), and none of
// those is valid padded base64. A value that is neither is malformed, like any ill-typed
// column: an event whose span cannot be read cannot be placed in its recording.
type spanColumn struct{ column[*Span] }

func (c *spanColumn) UnmarshalJSON(b []byte) error { c.set(b, parseSpanValue); return nil }

func parseSpanValue(b []byte) (*Span, error) {
	s, err := stringBytes(b)
	if err != nil {
		return nil, err
	}
	var buf [64]byte
	text := buf[:0]
	if n := base64.StdEncoding.DecodedLen(len(s)); n > len(buf) {
		text = make([]byte, 0, n)
	}
	n, berr := base64.StdEncoding.Decode(text[:cap(text)], s)
	if berr == nil {
		text = text[:n]
	} else {
		text = s // not base64: the range literal itself
	}
	sp, err := parseSpan(text)
	if err != nil {
		if berr != nil {
			return nil, fmt.Errorf("neither base64 nor a range literal: %w", err)
		}
		return nil, err
	}
	return &sp, nil
}

// floatColumn is a float8 column (a JSON number).
type floatColumn struct{ column[float64] }

func (c *floatColumn) UnmarshalJSON(b []byte) error { c.set(b, parseFloat); return nil }

func parseFloat(b []byte) (float64, error) {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return 0, wrongType("number", b)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %s: %w", b, err)
	}
	return f, nil
}

// stringsColumn is a text[] column (a JSON array of strings).
type stringsColumn struct{ column[[]string] }

func (c *stringsColumn) UnmarshalJSON(b []byte) error { c.set(b, stringArray); return nil }

// timeColumn is a timestamptz column (io.debezium.time.ZonedTimestamp: an ISO-8601 string).
type timeColumn struct{ column[time.Time] }

func (c *timeColumn) UnmarshalJSON(b []byte) error { c.set(b, parseTime); return nil }

func parseTime(b []byte) (time.Time, error) {
	s, err := stringBytes(b)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 timestamp: %w", err)
	}
	return t, nil
}
