package debezium

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// scanner reads a JSON text in one pass, front to back. The decoder descends into the objects
// it knows (members) and takes every other value as a whole (value), and both check the
// syntax of what they pass over, so a value is read once, not validated first and decoded
// after as encoding/json does: BenchmarkDecodeSignalChange went from 9.0 to 2.9 µs per
// schemaless event (BENCHMARKS.md, "Where the time goes").
//
// Like encoding/json, a value of the wrong type does not stop the scan: the first such error
// is kept (mistype) and reported only once the whole text is known to be JSON, so that "not
// JSON" is what a broken text is called wherever the break is.
type scanner struct {
	b       []byte
	i       int
	depth   int
	typeErr error
}

// maxDepth bounds nesting, as encoding/json does, so that no input can exhaust the stack.
const maxDepth = 10000

// notJSON is the error for a syntax error at the scanner's position.
func (s *scanner) notJSON(what string) error {
	return fmt.Errorf("%w: not JSON: %s at offset %d", ErrMalformed, what, s.i)
}

// unexpected describes the byte at the scanner's position as a syntax error.
func (s *scanner) unexpected(context string) error {
	if s.i >= len(s.b) {
		return s.notJSON("unexpected end of input " + context)
	}
	return s.notJSON(fmt.Sprintf("unexpected %q %s", s.b[s.i], context))
}

// mistype records that the value v of field (prefix and name, joined by a dot) is not of the
// wanted JSON type; only the first one counts.
func (s *scanner) mistype(prefix, name, want string, v []byte) {
	if s.typeErr == nil {
		s.typeErr = fmt.Errorf("%w: %s%s: want %s, got JSON %s", ErrMalformed, prefix, name, want, kindOf(v))
	}
}

func (s *scanner) space() {
	s.i = skipSpace(s.b, s.i)
}

// peek returns the first byte of the next value, or 0 at the end of the text.
func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end checks that nothing but whitespace follows the top-level value.
func (s *scanner) end() error {
	if s.space(); s.i < len(s.b) {
		return s.unexpected("after the top-level value")
	}
	return nil
}

// members reads the object at the scanner's position, calling member for each key with the
// scanner at the member's value, which member must read (with value, or members for an object
// it knows). A key with escapes is unescaped; the others are passed as their bytes, which must
// not be kept.
func (s *scanner) members(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.unexpected("where an object begins")
	}
	if more, err := s.open('}'); !more || err != nil {
		return err
	}
	for {
		if s.peek() != '"' {
			return s.unexpected("where an object key begins")
		}
		start := s.i
		end, plain, err := s.stringToken()
		if err != nil {
			return err
		}
		key := s.b[start+1 : end-1]
		if !plain {
			var k string
			if err := json.Unmarshal(s.b[start:end], &k); err != nil {
				return s.notJSON("bad object key")
			}
			key = []byte(k)
		}
		s.i = end
		if s.peek() != ':' {
			return s.unexpected("after an object key")
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		if more, err := s.next('}', "after an object member"); !more || err != nil {
			return err
		}
	}
}

// value reads one value of any type and returns its bytes, checking its syntax.
func (s *scanner) value() ([]byte, error) {
	c := s.peek()
	start := s.i
	var err error
	switch {
	case c == '"':
		var end int
		if end, _, err = s.stringToken(); err == nil {
			s.i = end
		}
	case c == '{':
		err = s.members(func([]byte) error {
			_, err := s.value()
			return err
		})
	case c == '[':
		err = s.elements(func() error {
			_, err := s.value()
			return err
		})
	case c == '-' || c >= '0' && c <= '9':
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		return nil, s.unexpected("where a value begins")
	}
	if err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// elements reads the array at the scanner's position, calling element with the scanner at
// each element, which element must read.
func (s *scanner) elements(element func() error) error {
	if more, err := s.open(']'); !more || err != nil {
		return err
	}
	for {
		if err := element(); err != nil {
			return err
		}
		if more, err := s.next(']', "after an array element"); !more || err != nil {
			return err
		}
	}
}

// open steps into the object or array whose opening byte is at the scanner's position and
// reports whether it has members, stepping over closing when it has none.
func (s *scanner) open(closing byte) (bool, error) {
	if s.depth++; s.depth > maxDepth {
		return false, s.notJSON("nested too deeply")
	}
	s.i++
	return !s.closeIf(closing), nil
}

// next reads what follows a member or an element: a comma (true: another follows) or closing.
func (s *scanner) next(closing byte, after string) (bool, error) {
	if s.peek() == ',' {
		s.i++
		return true, nil
	}
	if s.closeIf(closing) {
		return false, nil
	}
	return false, s.unexpected(after)
}

// closeIf steps out of the object or array if closing is next, and reports whether it did.
func (s *scanner) closeIf(closing byte) bool {
	if s.peek() != closing {
		return false
	}
	s.i++
	s.depth--
	return true
}

// stringToken reads the string token at the scanner's position and returns the index just
// past its closing quote, checking it on the way: no control characters, and only JSON's
// escapes. Bytes above 0x7f pass, as encoding/json lets them (it replaces invalid UTF-8 when
// it unquotes). plain reports what plainString would of the token: no escape and only ASCII,
// so that its bytes between the quotes are its value.
func (s *scanner) stringToken() (end int, plain bool, err error) {
	b := s.b
	plain = true
	for j := s.i + 1; j < len(b); j++ {
		c := b[j]
		if !special[c] {
			continue
		}
		switch {
		case c == '"':
			return j + 1, plain, nil
		case c < 0x20:
			s.i = j
			return 0, false, s.notJSON("control character in a string")
		case c >= 0x80:
			plain = false
			continue
		}
		plain = false // c == '\\'
		if j++; j >= len(b) {
			break
		}
		switch b[j] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
				s.i = j
				return 0, false, s.notJSON(`bad \u escape in a string`)
			}
			j += 4
		default:
			s.i = j
			return 0, false, s.notJSON("bad escape in a string")
		}
	}
	s.i = len(b)
	return 0, false, s.unexpected("in a string")
}

// special marks the bytes that end a run of plain string content: the quote, the backslash,
// the control characters and the bytes above ASCII.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		s.digits()
	default:
		return s.unexpected("in a number")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return s.unexpected("after a decimal point")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return s.unexpected("in an exponent")
		}
	}
	return nil
}

// digits steps over a run of digits and reports whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.unexpected("in a literal (true, false or null)")
	}
	s.i += len(word)
	return nil
}

// Typed reads of a member's value. Each reads the value whatever its type; a value of another
// type is recorded with mistype and read as absent.

// object reads an object with member, or null (false); anything else is mistyped.
func (s *scanner) object(prefix, name string, member func(key []byte) error) (bool, error) {
	switch s.peek() {
	case '{':
		return true, s.members(member)
	case 'n':
		return false, s.literal("null")
	}
	v, err := s.value()
	if err == nil {
		s.mistype(prefix, name, "an object", v)
	}
	return false, err
}

// str reads a string, or null as "".
func (s *scanner) str(prefix, name string) (string, error) {
	v, err := s.value()
	if err != nil || isNull(v) {
		return "", err
	}
	if v[0] != '"' {
		s.mistype(prefix, name, "a string", v)
		return "", nil
	}
	str, err := stringValue(v)
	if err != nil {
		return "", s.notJSON(err.Error())
	}
	return str, nil
}

// integer reads an integer that fits an int64, or null (false).
func (s *scanner) integer(prefix, name string) (int64, bool, error) {
	v, err := s.value()
	if err != nil || isNull(v) {
		return 0, false, err
	}
	n, perr := strconv.ParseInt(string(v), 10, 64)
	if perr != nil {
		s.mistype(prefix, name, "an integer", v)
		return 0, false, nil
	}
	return n, true, nil
}
