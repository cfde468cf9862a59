package debezium

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Helpers that read single JSON values: a column's bytes, once the scanner (scan.go) has
// checked their syntax. They are still written to be safe on any input. They exist so that
// the common case (ASCII strings without escapes, numbers) costs no extra pass and no
// allocation beyond the final value.

// isNull reports whether b is the JSON literal null.
func isNull(b []byte) bool {
	return len(b) == 4 && string(b) == "null"
}

// kindOf names the JSON type of the value b starts with, for error messages.
func kindOf(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// wrongType is the error for a value of the wrong JSON type.
func wrongType(want string, b []byte) error {
	return fmt.Errorf("want %s, got %s", want, kindOf(b))
}

// plainString reports whether the string token tok (quotes included) can be used without
// unquoting: no escapes, no control characters and only ASCII, so its bytes between the
// quotes are its value. (The rest goes the slow way, so that invalid UTF-8 and raw control
// characters are handled exactly as encoding/json does.)
func plainString(tok []byte) bool {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return false
	}
	for _, c := range tok[1 : len(tok)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// stringValue returns the value of the JSON string b. A NUL character in it is an error: no
// Postgres text holds one, so Debezium cannot have read it from a row, and no state holding
// it could be stored (its partition would stop at it for ever).
func stringValue(b []byte) (string, error) {
	if len(b) == 0 || b[0] != '"' {
		return "", wrongType("string", b)
	}
	if plainString(b) {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("bad string: %w", err)
	}
	if strings.ContainsRune(s, 0) {
		return "", errors.New("holds a NUL character (U+0000), which no Postgres text holds")
	}
	return s, nil
}

// stringBytes returns the value of the JSON string b as bytes, for immediate parsing: the
// result may alias b and must not be kept.
func stringBytes(b []byte) ([]byte, error) {
	if plainString(b) {
		return b[1 : len(b)-1], nil
	}
	s, err := stringValue(b)
	return []byte(s), err
}

// skipSpace returns the index of the first non-whitespace byte of b at or after i.
func skipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i // the connector writes none
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringArray returns the values of b, a JSON array whose elements must all be strings or
// null (a NULL inside a text[]), which reads as "".
func stringArray(b []byte) ([]string, error) {
	if len(b) == 0 || b[0] != '[' {
		return nil, wrongType("array of strings", b)
	}
	n := 1
	for _, c := range b {
		if c == ',' { // commas inside strings only overestimate
			n++
		}
	}
	out := make([]string, 0, n)
	s := &scanner{b: b}
	err := s.elements(func() error {
		v, err := s.value()
		if err != nil {
			return err
		}
		if string(v) == "null" {
			// A text[] may hold NULLs. Such a row is not undecodable: its NULL reads as an
			// empty name, which makes the signal invalid (recording.Validate), as an empty
			// string there would.
			out = append(out, "")
			return nil
		}
		if v[0] != '"' {
			return fmt.Errorf("element %d: want string, got %s", len(out), kindOf(v))
		}
		str, err := stringValue(v)
		if err != nil {
			return fmt.Errorf("element %d: %w", len(out), err)
		}
		if javaArrayName(str) {
			return fmt.Errorf("element %d: %q: a multi-dimensional array, which Debezium sends as the names of Java objects, not their strings", len(out), str)
		}
		out = append(out, str)
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// javaArrayName reports whether s is how Debezium writes each row of a multi-dimensional
// text[] (a text[] column takes ARRAY[['a','b'],['c','d']]): the name of a Java array object,
// "[Ljava.lang.String;@414478b", not its strings. Read as channel names, such a row made a
// signal that silently did not qualify.
func javaArrayName(s string) bool {
	rest := strings.TrimLeft(s, "[")
	if len(rest) == len(s) || !strings.HasPrefix(rest, "L") {
		return false
	}
	_, hash, ok := strings.Cut(rest, ";@")
	if !ok || hash == "" {
		return false
	}
	return strings.Trim(hash, "0123456789abcdef") == "" // Java's identity hash, in hex
}
