package benchkit

import (
	"strconv"
	"strings"
	"time"
)

// The number formats of the reports' tables and prose, so that both harnesses print a
// latency, a duration or a count alike.

// Millis formats d in milliseconds with one decimal: "9.7 ms".
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// Micros formats d in microseconds with one decimal: "100.9 µs".
func Micros(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/1000, 'f', 1, 64) + " µs"
}

// Seconds formats d in seconds with decimals decimals: "0.25 s".
func Seconds(d time.Duration, decimals int) string {
	return strconv.FormatFloat(d.Seconds(), 'f', decimals, 64) + " s"
}

// Thousands formats n with comma separators: "-1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Met is a targets table's verdict: "yes", or "NO" to stand out.
func Met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
