package elizacli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// What cannot be sent is said as such, not as the server's answer: an address without a
// port (it would have been port 80), a sentence that is not UTF-8 (which the request cannot
// encode: it was "internal: marshal message", as if the server had failed), a token with a
// control character in it (it was "cannot reach" the server) or a blank one, in say and in
// chat. A token's surrounding spaces and line end are not sent (TestChat_ATokenIsSentTrimmed).
func TestSay_WhatCannotBeSentIsSaidSo(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	addr := newFake().start(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "localhost", "say", "hi"}, `eliza: server address "localhost" (--addr or ELIZA_ADDR): give host:port`},
		{[]string{"--addr", "localhost:8080/x", "say", "hi"}, `eliza: server address "localhost:8080/x" (--addr or ELIZA_ADDR): give host:port`},
		{[]string{"--addr", "localhost:8080?x", "say", "hi"}, `eliza: server address "localhost:8080?x" (--addr or ELIZA_ADDR): give host:port`},
		{[]string{"--addr", "localhost:8080\n", "say", "hi"}, `eliza: server address "localhost:8080\n" (--addr or ELIZA_ADDR): give host:port`},
		{[]string{"say", "bad \xff"}, `eliza: "bad \xff": not UTF-8 text`},
		// A token no header can carry, or none at all: said so, not "cannot reach".
		{[]string{"--token", "tok\x01en", "say", "hi"}, `eliza: the token (--token or ELIZA_TOKEN) has a control character ('\x01') in it`},
		{[]string{"--token", "  ", "say", "hi"}, `eliza: the token (--token or ELIZA_TOKEN) is blank`},
		// Given as "", it was taken for not given: the call went without a token.
		{[]string{"--token", "", "say", "hi"}, `eliza: the token (--token or ELIZA_TOKEN) is blank`},
		{[]string{"--token=", "say", "hi"}, `eliza: the token (--token or ELIZA_TOKEN) is blank`},
		// Before the place saved for it is looked for: it was "no conversation saved for this token".
		{[]string{"--token", "a\tb", "chat", "--resume"}, `eliza: the token (--token or ELIZA_TOKEN) has a control character ('\t') in it`},
	} {
		r := start(addr, strings.NewReader(""), c.args...)
		if code := r.wait(t); code != 1 || !strings.HasPrefix(r.err.String(), c.want) {
			t.Errorf("%q: exit status %d, printed:\n%s%s\nwant 1 and %q", c.args, code, r.out, r.err, c.want)
		}
	}
}

// A word or flag that names nothing is refused, naming it, with exit status 2, as the
// services and Go's flag package exit for a command used wrongly (it was 1): an unknown flag
// before the command was taken to have the command as its value ("unknown command hi"), and
// an unknown word after a group of commands printed the group's help and exited 0. A group
// given nothing prints its help.
func TestRoot_WhatNamesNothingIsRefusedNamingIt(t *testing.T) {
	addr := newFake().start(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "say", "hi"}, `eliza: unknown flag: --bogus`},
		{[]string{"say", "--bogus", "hi"}, `eliza: unknown flag: --bogus`},
		{[]string{"--tls=maybe", "say", "hi"}, `eliza: invalid argument "maybe" for "--tls" flag`},
		{[]string{"say", "--addr"}, `eliza: flag needs an argument: --addr`},
		{[]string{"say"}, `eliza: requires at least 1 arg(s), only received 0 (usage: eliza say SENTENCE...)`},
		{[]string{"chat", "--resume", "--conversation", "x"}, `eliza: give --conversation or --resume, not both`},
		{[]string{"bogus"}, `eliza: unknown command "bogus" for "eliza"`},
		{[]string{"clients", "bogus"}, `eliza: unknown command "bogus" for "eliza clients"`},
		{[]string{"completion", "bogus"}, `eliza: unknown command "bogus" for "eliza completion"`},
		{[]string{"completion", "bash", "extra"}, `eliza: unexpected argument "extra": eliza completion bash takes none (usage: eliza completion bash)`},
		{[]string{"sya", "hi"}, "eliza: unknown command \"sya\" for \"eliza\"\n\nDid you mean this?\n\tsay\n"},
	} {
		r := start(serverOf(addr, c.args), strings.NewReader(""), c.args...)
		if code := r.wait(t); code != 2 || !strings.HasPrefix(r.err.String(), c.want) {
			t.Errorf("%q: exit status %d, printed:\n%s%s\nwant 2 and %q", c.args, code, r.out, r.err, c.want)
		}
	}
	for _, args := range [][]string{{}, {"tokens"}, {"clients", "help"}, {"help", "clients"}, {"completion"}} {
		r := start(serverOf(addr, args), strings.NewReader(""), args...)
		if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "Usage:") {
			t.Errorf("%q: exit status %d, printed:\n%s%s\nwant 0 and the help", args, code, r.out, r.err)
		}
	}
}

func TestChat_ALineThatIsNotUTF8IsNotSentAndFailsTheEndOfInput(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	r := start(f.start(t), strings.NewReader("bad \xff\nhello\n"), "chat")
	if code := r.wait(t); code != 1 || !strings.Contains(r.out.String(), `[not sent: not UTF-8 text, which is all a sentence can be: "bad \xff"]`) ||
		!strings.Contains(r.out.String(), "eliza: you said hello") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1, the bad line not sent and the next answered", code, r.out, r.err)
	}
	if sent := f.sends(); len(sent) != 1 {
		t.Fatalf("sent %q, want only the good line", sent)
	}
}

// A token read from a file with CRLF line ends, $(cat file), keeps its "\r": it is sent
// without it, as the server reads a token, not refused by the HTTP client.
func TestChat_ATokenIsSentTrimmed(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	addr := f.start(t)
	t.Setenv("ELIZA_TOKEN", " secret\r\n")
	if r := start(addr, strings.NewReader("hi\n"), "chat"); r.wait(t) != 0 {
		t.Fatalf("chat with a token ending in CRLF failed:\n%s%s", r.out, r.err)
	}
	if got := f.lastAuthorization(); got != "Bearer secret" {
		t.Errorf("Authorization %q, want \"Bearer secret\"", got)
	}
}

// help names a command, or says it knows none: it printed the main help for any word, and
// exited 0.
func TestHelp_OfACommandThatIsNoneIsAnError(t *testing.T) {
	var out, errs strings.Builder
	if code := Main([]string{"help", "bogus"}, strings.NewReader(""), &out, &errs); code != 2 ||
		errs.String() != "eliza: unknown help topic \"bogus\": `eliza help` lists the commands\n" {
		t.Errorf("help bogus: exit status %d, %q on stderr", code, errs.String())
	}
	out.Reset()
	if code := Main([]string{"help", "clients", "add"}, strings.NewReader(""), &out, &errs); code != 0 ||
		!strings.Contains(out.String(), "eliza clients add --name NAME") {
		t.Errorf("help clients add: exit status %d, printed %q", code, out.String())
	}
}

// serverOf is the server given to a run of args: none for the administration commands, which
// refuse one (TestAdmin_TakesNoServerFlags).
func serverOf(addr string, args []string) string {
	if len(args) > 0 && (args[0] == "clients" || args[0] == "tokens") {
		return ""
	}
	return addr
}

// The administration commands reach Postgres, not a front door: their help does not list the
// flags that name a front door, and they refuse them (the help listed them, and `eliza --addr
// prod:8080 clients list` listed the clients of DATABASE_URL's database).
func TestAdmin_TakesNoServerFlags(t *testing.T) {
	for _, args := range [][]string{{"clients", "-h"}, {"tokens", "add", "-h"}, {"help", "clients", "limits"}} {
		var out, errs strings.Builder
		if code := Main(args, strings.NewReader(""), &out, &errs); code != 0 || !strings.Contains(out.String(), "Usage:") ||
			strings.Contains(out.String(), "--addr") || strings.Contains(out.String(), "--tls") || strings.Contains(out.String(), "--token string") {
			t.Errorf("%q: exit status %d, printed:\n%s%s\nwant the help without the server's flags", args, code, out.String(), errs.String())
		}
	}
	var out, errs strings.Builder
	if Main([]string{"say", "-h"}, strings.NewReader(""), &out, &errs); !strings.Contains(out.String(), "--addr") {
		t.Errorf("say -h after an administration command's help: printed\n%s\nwant --addr listed", out.String())
	}
	for _, args := range [][]string{{"--addr", "prod:8080", "clients", "list"}, {"tokens", "list", "--tls", "7d5e2c1a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"}, {"--token=t", "clients"}} {
		var out, errs strings.Builder
		if code := Main(args, strings.NewReader(""), &out, &errs); code != 2 || out.Len() != 0 ||
			!strings.Contains(errs.String(), "is for the commands that call a front door (say, chat, usage)") {
			t.Errorf("%q: exit status %d, printed %q, %q; want 2 and the flag refused", args, code, out.String(), errs.String())
		}
	}
}

// A response cut short (the connection broken under a Watch) is said as that: connect calls
// it an internal protocol error, which chat printed as the server's ("lost the server
// (internal: protocol error: incomplete envelope: unexpected EOF)"). The server's own internal
// errors stay as they are.
func TestDescribe_AConnectionBrokenIsNotTheServersError(t *testing.T) {
	srv := &server{addr: "example:8080"}
	cut := connect.NewError(connect.CodeInternal, fmt.Errorf("protocol error: incomplete envelope: %w", io.ErrUnexpectedEOF))
	if got := describe(cut, srv).Error(); got != "the connection to example:8080 broke (protocol error: incomplete envelope: unexpected EOF)" {
		t.Errorf("a response cut short: %q", got)
	}
	if got := describe(connect.NewWireError(connect.CodeInternal, errors.New("boom")), srv).Error(); got != "internal: boom" {
		t.Errorf("the server's internal error: %q", got)
	}
}

// A server that takes the connection and never answers (frozen, or not a front door) is
// given up on: say and chat waited for ever, saying nothing.
func TestSayAndChat_GiveUpOnAServerThatNeverAnswers(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	say, send := sayTimeout, sendTimeout
	sayTimeout, sendTimeout = 300*time.Millisecond, 400*time.Millisecond
	t.Cleanup(func() { sayTimeout, sendTimeout = say, send })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn) }() // read, never answer
		}
	}()
	addr := ln.Addr().String()
	want := fmt.Sprintf("no answer from %s within 300ms", addr)
	r := start(addr, strings.NewReader(""), "say", "hi")
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: "+want+"\n" {
		t.Errorf("say: exit status %d, printed:\n%s%s\nwant 1 and %q", code, r.out, r.err, want)
	}
	want = fmt.Sprintf("no answer from %s within 400ms", addr)
	r = start(addr, strings.NewReader("hello\n"), "chat")
	r.exits(t, 1)
	if line := fmt.Sprintf("[not sent: %s: %q]", want, "hello"); !strings.Contains(r.out.String(), line) {
		t.Errorf("chat printed:\n%s%s\nwant %q", r.out, r.err, line)
	}
}
