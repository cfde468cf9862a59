package elizacli

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// utf8Watch tells each U+FFFD a reader of runes reads from a byte that is not UTF-8 from one
// sent as itself, however the reads split the runes.
func TestUTF8Watch_TellsEachUFFFDFromAByteFromOneTypedAsItself(t *testing.T) {
	// Escape sequences (ESC [ and ESC O, with digits or ';') end with a rune the line editor
	// takes for itself, U+FFFD or not: those are not noted. After ESC alone, a rune is the
	// editor's Meta key, and filtered.
	const typed = "\ufffd caf\xc3\xa9 \xe9\xe2\x82x \x1b[\xe9\x1b[1;5\ufffd\x1bO\xe9 \ufffd \xf0\x9f\x98\x80\x1b\xff"
	want := []bool{false, true, true, true, false, true} // \ufffd, \xe9, \xe2, \x82, \ufffd, \xff
	for name, split := range map[string]func(io.Reader) io.Reader{
		"whole":         func(r io.Reader) io.Reader { return r },
		"byte by byte":  iotest.OneByteReader,
		"half and half": iotest.HalfReader,
	} {
		w := &utf8Watch{ReadCloser: io.NopCloser(split(strings.NewReader(typed)))}
		r := bufio.NewReader(w)
		for {
			if _, _, err := r.ReadRune(); err != nil {
				break
			}
		}
		var got []bool // what the line editor's filter would be told, U+FFFD by U+FFFD
		for range len(w.fffd) {
			got = append(got, w.took())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: U+FFFDs from a byte not UTF-8 %v, want %v", name, got, want)
		}
	}
}
