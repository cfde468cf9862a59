package debezium

import (
	"errors"
	"fmt"
	"strconv"
)

// ParseSpan parses a datastore.time_span value in Postgres's range text form, as Postgres
// prints it and Debezium carries it: "[0,60000000000)", "(-5,10]", "empty".
//
// It accepts exactly what Postgres outputs for this type, not everything Postgres accepts as
// input: bounds are decimal integers (optionally signed) without quotes, spaces or digit
// underscores (PostgreSQL 16 takes "60_000_000_000" in input, but never prints it), and
// "empty" in any letter case. Both bounds are required: an unbounded side ("[0,)") is an
// error, since a span must say where it ends. As in Postgres, a lower bound above the upper
// one is an error, and equal bounds that are not both inclusive ("[5,5)") are the empty range.
func ParseSpan(s string) (Span, error) {
	return parseSpan(s)
}

var errUnbounded = errors.New("unbounded; a time_span needs both bounds")

// parseSpan is ParseSpan for either a string or bytes, so that the decoder can parse a
// base64-decoded buffer without copying it into a string.
func parseSpan[T string | []byte](s T) (Span, error) {
	if len(s) == 5 && isEmptyWord(s) {
		return Span{Empty: true}, nil
	}
	if len(s) < 2 {
		return Span{}, spanErr(s, "too short")
	}
	var sp Span
	switch s[0] {
	case '[':
		sp.LowerInclusive = true
	case '(':
	default:
		return Span{}, spanErr(s, "must start with '[' or '('")
	}
	switch s[len(s)-1] {
	case ']':
		sp.UpperInclusive = true
	case ')':
	default:
		return Span{}, spanErr(s, "must end with ']' or ')'")
	}
	inner := s[1 : len(s)-1]
	comma := -1
	for i := 0; i < len(inner); i++ {
		if inner[i] == ',' {
			if comma >= 0 {
				return Span{}, spanErr(s, "more than one comma")
			}
			comma = i
		}
	}
	if comma < 0 {
		return Span{}, spanErr(s, "no comma between the bounds")
	}
	var err error
	if sp.Lower, err = parseBound(inner[:comma]); err != nil {
		return Span{}, fmt.Errorf("range %q: lower bound: %w", string(s), err)
	}
	if sp.Upper, err = parseBound(inner[comma+1:]); err != nil {
		return Span{}, fmt.Errorf("range %q: upper bound: %w", string(s), err)
	}
	switch {
	case sp.Lower > sp.Upper:
		return Span{}, spanErr(s, "lower bound above upper bound")
	case sp.Lower == sp.Upper && (!sp.LowerInclusive || !sp.UpperInclusive):
		return Span{Empty: true}, nil
	}
	return sp, nil
}

// spanErr is a parse error for the range text s. It converts s to a string itself so that a
// byte buffer handed to parseSpan does not escape to the heap.
func spanErr[T string | []byte](s T, msg string) error {
	return fmt.Errorf("range %q: %s", string(s), msg)
}

// isEmptyWord reports whether s is "empty" in any letter case.
func isEmptyWord[T string | []byte](s T) bool {
	const word = "empty"
	for i := range len(word) {
		if s[i]|0x20 != word[i] {
			return false
		}
	}
	return true
}

// parseBound parses one bound: a decimal int64, with an optional sign and nothing else.
func parseBound[T string | []byte](b T) (int64, error) {
	if len(b) == 0 {
		return 0, errUnbounded
	}
	start := 0
	if b[0] == '-' || b[0] == '+' {
		start = 1
	}
	if start == len(b) {
		return 0, fmt.Errorf("%q is not an integer", string(b))
	}
	for i := start; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return 0, fmt.Errorf("%q is not an integer", string(b))
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range for bigint", string(b))
	}
	return n, nil
}

// String returns the span in Postgres's range text form, the form ParseSpan reads.
func (s Span) String() string {
	if s.Empty {
		return "empty"
	}
	lo, hi := byte('('), byte(')')
	if s.LowerInclusive {
		lo = '['
	}
	if s.UpperInclusive {
		hi = ']'
	}
	b := make([]byte, 0, 42)
	b = append(b, lo)
	b = strconv.AppendInt(b, s.Lower, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.Upper, 10)
	b = append(b, hi)
	return string(b)
}
