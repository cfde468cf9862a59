package benchkit

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Table is a Markdown table whose columns are padded to line up in plain text too, as the
// reports print them. The first column (labels) is left-aligned, the others (numbers)
// right-aligned. Make one with NewTable.
type Table struct {
	header []string
	rows   [][]string
}

// NewTable returns an empty table with these column headers.
func NewTable(header ...string) *Table { return &Table{header: header} }

// Add appends a row, one cell per column.
func (t *Table) Add(cells ...string) { t.rows = append(t.rows, cells) }

// Write prints the header, the alignment row and the rows to w. A column is as wide as its
// widest cell, and at least 3 characters (the alignment row's "--:").
func (t *Table) Write(w io.Writer) {
	width := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				fmt.Fprintf(&b, " %s%s |", c, pad)
			} else {
				fmt.Fprintf(&b, " %s%s |", pad, c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(t.header)
	sep := make([]string, len(t.header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i]-1) + ":"
		if i == 0 {
			sep[i] = strings.Repeat("-", width[i])
		}
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}
