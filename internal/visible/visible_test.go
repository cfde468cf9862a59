package visible_test

import (
	"testing"

	"github.com/beacon/eventdispatch/internal/visible"
)

func TestBlank_IsNothingButSpacesControlAndFormatCharacters(t *testing.T) {
	for _, tc := range []struct {
		text  string
		blank bool
	}{
		{"", true},
		{" \t\r\n\u00a0\u3000", true},    // spaces, a no-break and an ideographic one
		{"\u200b\u200b", true},           // zero-width spaces
		{"\ufeff\u200e\u2066\x00", true}, // a byte-order mark, a direction mark, an isolate, NUL
		{"a", false},
		{"\u200bx\u200b", false},
		{"\U0001FAE8", false}, // an emoji newer than some Unicode tables: it shows
		{"👨\u200d👩", false},
	} {
		if got := visible.Blank(tc.text); got != tc.blank {
			t.Errorf("Blank(%q) = %t, want %t", tc.text, got, tc.blank)
		}
	}
}
