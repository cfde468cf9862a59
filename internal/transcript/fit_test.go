package transcript_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beacon/eventdispatch/internal/transcript"
)

func TestFit_CutsALongAnswerBetweenCharactersAndSaysSo(t *testing.T) {
	short := strings.Repeat("a", transcript.MaxAnswerBytes)
	if got, cut := transcript.Fit(short); got != short || cut {
		t.Fatalf("an answer of exactly MaxAnswerBytes was cut to %d bytes", len(got))
	}
	// Characters of 1 to 4 bytes, so that the cut falls inside one of them at some offset.
	for _, prefix := range []string{"", "x", "xy", "xyz"} {
		long := prefix + strings.Repeat("é€😀", transcript.MaxAnswerBytes/9+1)
		got, cut := transcript.Fit(long)
		if !cut || len(got) > transcript.MaxAnswerBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, transcript.CutMark) ||
			!strings.HasPrefix(long, strings.TrimSuffix(got, transcript.CutMark)) || len(got) < transcript.MaxAnswerBytes-4 {
			t.Fatalf("prefix %q: cut %v to %d bytes (valid UTF-8 %v), want a prefix of the answer and the mark in at most %d",
				prefix, cut, len(got), utf8.ValidString(got), transcript.MaxAnswerBytes)
		}
	}
}
