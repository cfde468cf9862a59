package benchkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseMetrics reads the Prometheus text exposition format, which is all /metrics serves here.
//
// Each sample's value is added to its metric name, whatever its labels, so a counter with an
// outcome label reads as its total. Histogram buckets (names ending in _bucket) are left out;
// a histogram's or summary's _sum and _count are kept (see Mean). A summary's quantile samples
// are summed like any labelled sample, which gives no useful number: read its _sum and _count.
//
// Blank lines and lines starting with # (HELP, TYPE, comments) are skipped. Every other line
// must be a sample: a name, optionally {labels} (quoted values may hold braces and escaped
// quotes), a value (a float, NaN or ±Inf) and optionally an integer timestamp. For any other
// line ParseMetrics returns an error naming the line's number and text: a bad line is never
// skipped, since a reading built from part of a scrape would be silently wrong.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", n, line, err)
		}
		if !strings.HasSuffix(name, "_bucket") {
			m[name] += value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return m, nil
}

// parseSample splits a sample line into its metric name and value.
func parseSample(line string) (string, float64, error) {
	end := strings.IndexAny(line, "{ \t")
	if end < 0 {
		return "", 0, errors.New("no value")
	}
	name, rest := line[:end], line[end:]
	if !validName(name) {
		return "", 0, fmt.Errorf("%q is not a metric name", name)
	}
	if strings.HasPrefix(rest, "{") {
		closing := labelsEnd(rest)
		if closing < 0 {
			return "", 0, errors.New("unterminated labels")
		}
		rest = rest[closing+1:]
	}
	fields := strings.Fields(rest)
	switch {
	case len(fields) == 0:
		return "", 0, errors.New("no value")
	case len(fields) > 2:
		return "", 0, errors.New("more than a value and a timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", 0, fmt.Errorf("value %q is not a number", fields[0])
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return "", 0, fmt.Errorf("timestamp %q is not an integer", fields[1])
		}
	}
	return name, v, nil
}

// labelsEnd returns the index of the '}' that closes the label set s starts with, or -1. A
// brace inside a quoted label value does not count; a backslash escapes the next character.
func labelsEnd(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case c == '}' && !quoted:
			return i
		}
	}
	return -1
}

// validName reports whether s is a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
