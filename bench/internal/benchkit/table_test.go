package benchkit

import (
	"strings"
	"testing"
)

func TestTable_PadsColumnsAndRightAlignsNumbers(t *testing.T) {
	for _, c := range []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{"labels left, numbers right", []string{"what", "n"}, [][]string{{"a long label", "1"}, {"b", "1,000"}},
			"| what         |     n |\n" +
				"| ------------ | ----: |\n" +
				"| a long label |     1 |\n" +
				"| b            | 1,000 |\n"},
		{"columns at least three wide", []string{"", "x"}, [][]string{{"a", ""}},
			"|     |   x |\n" +
				"| --- | --: |\n" +
				"| a   |     |\n"},
		{"width counts characters, not bytes", []string{"part", "p99"}, [][]string{{"a − b", "1.0 ms"}},
			"| part  |    p99 |\n" +
				"| ----- | -----: |\n" +
				"| a − b | 1.0 ms |\n"},
		{"header only", []string{"target", "met"}, nil,
			"| target | met |\n" +
				"| ------ | --: |\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := NewTable(c.header...)
			for _, r := range c.rows {
				tb.Add(r...)
			}
			var out strings.Builder
			tb.Write(&out)
			if out.String() != c.want {
				t.Errorf("table:\n%s\nwant:\n%s", out.String(), c.want)
			}
		})
	}
}
