package main

import (
	"testing"
	"time"
)

func TestFormatting_ReadsAsTheReportWritesIt(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{dur(100 * time.Millisecond), "100 ms"},
		{dur(20 * time.Second), "20 s"},
		{dur(1500 * time.Microsecond), "1.5ms"},
		{kib(25395), "24.8 KiB"},
		{mib(17.5 * (1 << 20)), "17.5 MiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
