// Package visible says whether a text has anything a reader would see: a sentence or a
// client's name of nothing but spaces, control and format characters (a zero-width space, a
// byte-order mark) is blank, however many bytes it has. The front door refuses such a
// sentence, the eliza CLI skips such a line, and a client may not be given such a name.
package visible

import (
	"strings"
	"unicode"
)

// Blank reports whether text has nothing to read: only spaces, control and format characters.
func Blank(text string) bool { return !strings.ContainsFunc(text, shows) }

// shows says whether r is anything but a space, a control character or a format character
// (zero-width, byte-order mark, bidirectional marks). Asked the other way round (is it a
// letter, number, symbol…), a character newer than Go's Unicode tables, such as a new
// emoji, would be refused.
func shows(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r)
}
