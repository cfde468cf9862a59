package elizacli

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// utf8Watch tells each U+FFFD a reader of runes reads from a byte that is not UTF-8 from one
// sent as itself, however the reads split the runes.
func TestUTF8Watch_TellsEachUFFFDFromAByteFromOneTypedAsItself(t *testing.T) {
	const typed = "\ufffd caf\xc3\xa9 \xe9\xe2\x82x \ufffd \xf0\x9f\x98\x80\xff"
	want := []bool{false, true, true, true, false, true} // \ufffd, \xe9, \xe2, \x82, \ufffd, \xff
	for name, split := range map[string]func(io.Reader) io.Reader{
		"whole":         func(r io.Reader) io.Reader { return r },
		"byte by byte":  iotest.OneByteReader,
		"half and half": iotest.HalfReader,
	} {
		w := &utf8Watch{ReadCloser: io.NopCloser(split(strings.NewReader(typed)))}
		r := bufio.NewReader(w)
		var got []bool
		for {
			c, _, err := r.ReadRune()
			if err != nil {
				break
			}
			if c == utf8.RuneError {
				got = append(got, w.took())
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: U+FFFDs from a byte not UTF-8 %v, want %v", name, got, want)
		}
	}
}
