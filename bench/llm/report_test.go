package main

import (
	"strings"
	"testing"
	"time"
)

func TestFormatting_ReadsAsTheReportWritesIt(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{thousands(0), "0"},
		{thousands(999), "999"},
		{thousands(10000), "10,000"},
		{thousands(-1234567), "-1,234,567"},
		{dur(100 * time.Millisecond), "100 ms"},
		{dur(20 * time.Second), "20 s"},
		{dur(1500 * time.Microsecond), "1.5ms"},
		{ms(9700 * time.Microsecond), "9.7 ms"},
		{kib(25395), "24.8 KiB"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTable_PadsColumnsAndRightAlignsNumbers(t *testing.T) {
	tb := newTable("what", "n")
	tb.add("a long label", "1")
	tb.add("b", "1,000")
	var out strings.Builder
	tb.write(&out)
	want := "| what         |     n |\n" +
		"| ------------ | ----: |\n" +
		"| a long label |     1 |\n" +
		"| b            | 1,000 |\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}
