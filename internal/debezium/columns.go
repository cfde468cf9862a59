package debezium

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// A row's columns are read into a column each (see wireRow.member): its value is parsed the
// moment the scanner has read it (the bytes may not be kept), and instead of failing the
// whole decode the column records whether it was there and why its value was rejected, so
// that the caller can apply the per-column rules (required or optional, strict or
// placeholder) and name the column in the error. Text, domain-over-text and enum columns are
// read by stringValue, text[] columns by stringArray (jsontext.go), the others by the parsers
// below.

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

// set records the value b, parsed by parse. A repeated field overwrites the earlier one.
func (c *column[T]) set(b []byte, parse func([]byte) (T, error)) {
	if isNull(b) {
		*c = column[T]{presence: null}
		return
	}
	v, err := parse(b)
	*c = column[T]{presence: present, val: v, err: err}
}

// parseUUID reads a uuid column (io.debezium.data.Uuid: a string). The nil UUID is rejected:
// Postgres never generates it, and a delete's placeholder for a non-key uuid is "", not it.
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

// parseBase64 reads a bytea column: Connect bytes, which the JSON converter writes as base64.
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

// parseSpanValue reads the span column (datastore.time_span). With
// include.unknown.datatypes=true Debezium sends Postgres's text form as Connect bytes, so base64 of "[0,60000000000)"; a
// plain range literal in the string is accepted too. The two cannot be confused: a range
// literal always contains a bracket or parenthesis, or is "empty" (five letters), and none of
// those is valid padded base64. A value that is neither is malformed, like any ill-typed
// column: an event whose span cannot be read cannot be placed in its recording.
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

// parseFloat reads a float8 column (a JSON number).
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

// parseTime reads a timestamptz column (io.debezium.time.ZonedTimestamp: an ISO-8601 string).
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
