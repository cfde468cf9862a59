package elizacli

import (
	"strings"
	"testing"
)

// What cannot be sent is said as such, not as the server's answer: an address without a
// port (it would have been port 80), a sentence that is not UTF-8 (which the request cannot
// encode: it was "internal: marshal message", as if the server had failed).
func TestSay_WhatCannotBeSentIsSaidSo(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	addr := newFake().start(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "localhost", "say", "hi"}, `eliza: server address "localhost" (--addr or ELIZA_ADDR): give host:port`},
		{[]string{"say", "bad \xff"}, "eliza: the request could not be made: "},
	} {
		r := start(addr, strings.NewReader(""), c.args...)
		if code := r.wait(t); code != 1 || !strings.HasPrefix(r.err.String(), c.want) {
			t.Errorf("%q: exit status %d, printed:\n%s%s\nwant 1 and %q", c.args, code, r.out, r.err, c.want)
		}
	}
}
