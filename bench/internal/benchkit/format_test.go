package benchkit

import (
	"testing"
	"time"
)

func TestFormats_ReadAsTheReportsPrintThem(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Thousands(0), "0"},
		{Thousands(999), "999"},
		{Thousands(1000), "1,000"},
		{Thousands(10000), "10,000"},
		{Thousands(-999), "-999"},
		{Thousands(-1234567), "-1,234,567"},
		{Millis(9700 * time.Microsecond), "9.7 ms"},
		{Millis(0), "0.0 ms"},
		{Millis(1500 * time.Millisecond), "1500.0 ms"},
		{Micros(100952 * time.Nanosecond), "101.0 µs"},
		{Micros(0), "0.0 µs"},
		{Seconds(250*time.Millisecond, 2), "0.25 s"},
		{Seconds(3*time.Second, 1), "3.0 s"},
		{Met(true), "yes"},
		{Met(false), "NO"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
