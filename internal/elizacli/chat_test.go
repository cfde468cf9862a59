package elizacli

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// The watch often prints a sentence's "enqueued", and even its answer, before Send's response
// comes back (always, against a standalone server): that is the conversation going on, not
// the server having started it again.
func TestChat_EventsPrintedBeforeSendAnswersAreNoRestart(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	r := newRun()
	f.afterEnqueue = func(ctx context.Context, req *elizav1.SendRequest, _ uint64) {
		if req.GetConversationId() != "" { // a watch follows the conversation: let it print the answer first
			r.out.waitFor(ctx, "eliza: you said "+req.GetSentence()+"\n")
		}
	}
	r.start(f.start(t), strings.NewReader("one\ntwo\nthree\n"), "chat")
	r.exits(t, 0)
	want := lines("[conversation "+convID(1)+"]",
		"  enqueued: one", "eliza: you said one",
		"  enqueued: two", "eliza: you said two",
		"  enqueued: three", "eliza: you said three")
	r.printed(t, want)
	if s, ok, err := load(savedAt()); err != nil || !ok || s.Conversation != convID(1) || s.Serial != 6 {
		t.Fatalf("saved %+v (%t, %v), want the conversation at serial 6", s, ok, err)
	}
}

// A server that kept conversations in memory and restarted has lost the one chat follows.
// Chat's Send names the last serial it printed, so the server refuses it (NotFound) rather
// than start the conversation again under its id with a job no one would see answered. A
// server older than after_serial starts it again, and answers a serial at or below those chat
// printed. Either way chat says so, and the sentence starts a new conversation (the server's
// id), so that no id stands for two.
func TestChat_AConversationLostInARestartIsNotContinuedUnderItsId(t *testing.T) {
	for _, tc := range []struct {
		name        string
		startsAgain bool
		said        string // chat's line about the lost conversation
	}{
		{name: "refused", said: "cannot be continued (not_found: conversation " + convID(1) + " is unknown or has expired)"},
		{name: "started again by an older server", startsAgain: true, said: "was no longer on the server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			f := newFake()
			f.startsAgain = tc.startsAgain
			var afters []uint64
			f.beforeSend = func(_ context.Context, req *elizav1.SendRequest) {
				f.mu.Lock()
				afters = append(afters, req.GetAfterSerial())
				f.mu.Unlock()
			}
			addr, r, typed, end := chatting(t, f)
			// Restarted, the server refuses the watch until chat has heard from Send.
			f.beforeWatch = func(_ context.Context, req *elizav1.WatchRequest) error {
				if !strings.Contains(r.out.String(), tc.said) {
					return connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
				}
				return nil
			}
			f.restart()
			r.waitFor(t, "lost the server")
			typed("two")
			r.waitFor(t, "eliza: you said two\n")
			end()
			r.exits(t, 0)
			want := lines("[conversation "+convID(1)+"]",
				"  enqueued: one", "eliza: you said one",
				"[lost the server ("+addr+" is unavailable: restarting); reconnecting]",
				"[reconnected]", // said by the Send that reached the server before the watch did
				"[conversation "+convID(1)+" "+tc.said+": \"two\" starts a new conversation]",
				"[conversation "+convID(2)+"]",
				"  enqueued: two", "eliza: you said two")
			r.printed(t, want)
			if got, want := f.sends(), []string{"/one", convID(1) + "/two", "/two"}; !slices.Equal(got, want) {
				t.Fatalf("sent %q, want %q", got, want)
			}
			if s, ok, err := load(savedAt()); err != nil || !ok || s.Conversation != convID(2) || s.Serial != 2 {
				t.Fatalf("saved %+v (%t, %v), want the new conversation at serial 2", s, ok, err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if want := []uint64{0, 2, 0}; !slices.Equal(afters, want) {
				t.Fatalf("Sends named serials %v, want %v (none for a new conversation, the last printed for one continued)", afters, want)
			}
			if _, ok := f.convs[convID(1)]; ok != tc.startsAgain {
				t.Fatalf("the lost conversation's id started again: %t, want %t", ok, tc.startsAgain)
			}
		})
	}
}

// The watch finds the conversation gone (chat says the next sentence starts a new one) while
// a Send to it is on its way, and the server either starts it again under its id for that
// sentence (a front door older than after_serial) or refuses the Send (NotFound): either way the
// sentence is sent again, and starts a new conversation under an id of the server's. The loss
// is said once: with a refused Send it was said twice in a row.
func TestChat_ASentenceSentWhileTheConversationIsFoundGoneStartsANewOne(t *testing.T) {
	for name, startsAgain := range map[string]bool{"started again": true, "refused": false} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			gone := "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
			if err := store(savedAt(), saved{Conversation: gone, Serial: 9}); err != nil {
				t.Fatal(err)
			}
			f := newFake()
			f.startsAgain = startsAgain
			r := newRun()
			f.beforeSend = func(ctx context.Context, req *elizav1.SendRequest) {
				if req.GetConversationId() == gone {
					r.out.waitFor(ctx, "cannot be continued")
				}
			}
			r.start(f.start(t), strings.NewReader("two\nthree\n"), "chat", "--resume")
			r.exits(t, 0)
			want := lines("[conversation "+gone+" (after event 9)]",
				"[conversation "+gone+" cannot be continued (not_found: conversation "+gone+" is unknown or has expired): "+
					"your next sentence starts a new conversation]",
				"[conversation "+convID(1)+"]",
				"  enqueued: two", "eliza: you said two",
				"  enqueued: three", "eliza: you said three")
			r.printed(t, want)
			if got, want := f.sends(), []string{gone + "/two", "/two", convID(1) + "/three"}; !slices.Equal(got, want) {
				t.Fatalf("sent %q, want %q", got, want)
			}
		})
	}
}

// The saved conversation was held with another server: chat says so, in one line, and
// continues it there (front doors sharing a database share its conversations).
func TestChat_ResumeOnAnotherServerSaysSo(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(7), 1)
	if err := store(savedAt(), saved{Conversation: convID(7), Serial: 2, Addr: "elsewhere:8080"}); err != nil {
		t.Fatal(err)
	}
	addr := f.start(t)
	r := start(addr, strings.NewReader("two\n"), "chat", "--resume")
	r.exits(t, 0)
	want := lines("[conversation "+convID(7)+" was held with elsewhere:8080: "+addr+" has it only if it shares that server's conversations]",
		"[conversation "+convID(7)+" (after event 2)]",
		"  enqueued: two", "eliza: you said two")
	r.printed(t, want)
	if s, ok, err := load(savedAt()); err != nil || !ok || s.Addr != addr || s.Serial != 4 {
		t.Fatalf("saved %+v (%t, %v), want the conversation at serial 4, held with %s", s, ok, err, addr)
	}

	// On the server it was held with, nothing is said.
	r = start(addr, strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 0 || r.out.String() != lines("[conversation "+convID(7)+" (after event 4)]") {
		t.Fatalf("exit status %d, printed:\n%s\nwant only the conversation's line", code, r.out)
	}
}

// Each token has a saved place of its own: a conversation started with a token is its
// client's, so --resume with another token (or none) does not try it, and the token that
// started it (--token or ELIZA_TOKEN) finds it still saved. Before, one place served every
// token: another token's --resume was told the conversation was unknown and forgot it. The
// files are named by a digest: no token appears in a file name.
func TestChat_EachTokenResumesItsOwnConversation(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("ELIZA_TOKEN", "")
	addr := newFake().start(t)
	if code := start(addr, strings.NewReader("one\n"), "--token", "token-a", "chat").wait(t); code != 0 {
		t.Fatalf("chat with token-a: exit status %d", code)
	}
	if code := start(addr, strings.NewReader("two\n"), "chat").wait(t); code != 0 {
		t.Fatalf("chat without a token: exit status %d", code)
	}
	r := start(addr, strings.NewReader(""), "--token", "token-b", "chat", "--resume")
	// What chat without a token saved may be token-b's, saved by an eliza that kept one place
	// for every token: it is named, not tried.
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: no conversation saved for this token; the one saved without a token "+
		"(where an eliza before 2026-12-06 saved every token's) is "+convID(2)+": `eliza chat --conversation "+convID(2)+
		"` continues it if this token started it\n" {
		t.Fatalf("--resume with token-b: exit status %d, %q on stderr; want 1, nothing to resume, and the place saved without a token", code, r.err)
	}
	// Asked of another server, the command named goes where that conversation was held.
	r = start("127.0.0.1:1", strings.NewReader(""), "--token", "token-b", "chat", "--resume")
	if code := r.wait(t); code != 1 || !strings.Contains(r.err.String(), "`eliza chat --addr "+addr+" --conversation "+convID(2)+"`") {
		t.Fatalf("--resume with token-b on another server: exit status %d, %q on stderr; want the command naming the server it was held with", code, r.err)
	}
	t.Setenv("ELIZA_TOKEN", "token-a")
	r = start(addr, strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 0 || r.out.String() != lines("[conversation "+convID(1)+" (after event 2)]") {
		t.Fatalf("--resume with token-a in ELIZA_TOKEN: exit status %d, printed:\n%s\n%s\nwant its conversation", code, r.out, r.err)
	}
	t.Setenv("ELIZA_TOKEN", "")
	r = start(addr, strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 0 || r.out.String() != lines("[conversation "+convID(2)+" (after event 2)]") {
		t.Fatalf("--resume without a token: exit status %d, printed:\n%s\n%s\nwant the anonymous conversation", code, r.out, r.err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "eliza", "*"))
	for _, f := range files {
		if strings.Contains(f, "token-") {
			t.Errorf("a saved place is named by its token: %s", f)
		}
	}
	if len(files) != 2 {
		t.Errorf("saved places %q, want two: one per token", files)
	}
}

// --resume without a server named (no --addr, no ELIZA_ADDR) goes to the server the
// conversation was held with; on another server that does not have it, the saved place stays
// for the server that may. Before, --resume went to the default server, was told NotFound
// and forgot the conversation, which its own server still had.
func TestChat_ResumeGoesToTheServerItWasHeldWithAndKeepsThePlaceElsewhere(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("ELIZA_ADDR", "")
	f := newFake()
	f.add(convID(7), 1)
	held, other := f.start(t), newFake().start(t)
	if err := store(savedAt(), saved{Conversation: convID(7), Serial: 2, Addr: held}); err != nil {
		t.Fatal(err)
	}
	r := newRun()
	go func() { r.code <- Main([]string{"chat", "--resume"}, strings.NewReader(""), r.out, r.err) }()
	if code := r.wait(t); code != 0 || r.out.String() != lines("[conversation "+convID(7)+" (after event 2)]") {
		t.Fatalf("--resume: exit status %d, printed:\n%s\n%s\nwant the conversation, on %s", code, r.out, r.err, held)
	}

	r = start(other, strings.NewReader(""), "chat", "--resume")
	r.wait(t)
	if out := r.out.String(); !strings.Contains(out, "is not on "+other) || !strings.Contains(out, "it was held with "+held) {
		t.Fatalf("--resume on %s printed:\n%s\nwant it not there, held with %s", other, out, held)
	}
	if s, ok, err := load(savedAt()); err != nil || !ok || s.Conversation != convID(7) || s.Addr != held {
		t.Fatalf("saved %+v (%t, %v), want the conversation still saved, held with %s", s, ok, err, held)
	}
}

// A sentence refused (a full queue, a quota) is a line not queued, as one not sent is: chat
// fails at the end of its input, so that a script sees it. Each refusal names its sentence,
// since it is printed when Send answers, among the events the watch prints.
func TestChat_ALineRefusedFailsTheEndOfInput(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.refuse = func(req *elizav1.SendRequest) (*elizav1.SendResponse, error) {
		switch req.GetSentence() {
		case "full":
			return &elizav1.SendResponse{ConversationId: req.GetConversationId(), Kind: elizav1.QueueConversationResponse_KIND_QUEUE_FULL,
				Sentence: "queue is full!"}, nil
		case "quota":
			return &elizav1.SendResponse{ConversationId: req.GetConversationId(), Kind: elizav1.QueueConversationResponse_KIND_ERROR,
				Sentence: "quota exceeded: 1 sentence a minute, in bursts of at most 1; try again in 3s"}, nil
		case "lost":
			return &elizav1.SendResponse{ConversationId: req.GetConversationId(), Kind: elizav1.QueueConversationResponse_KIND_ERROR,
				Sentence: "queue unavailable", JobId: jobID(99)}, nil
		case "broken":
			return nil, connect.NewError(connect.CodeInternal, errors.New("boom"))
		}
		return nil, nil
	}
	r := newRun()
	f.beforeSend = func(ctx context.Context, req *elizav1.SendRequest) {
		if req.GetSentence() == "quota" { // after what the watch prints of "one"
			r.out.waitFor(ctx, "eliza: you said one\n")
		}
	}
	r.start(f.start(t), strings.NewReader("full\none\nquota\nlost\nbroken\n"), "chat")
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: 4 lines were not queued (see above)\n" {
		t.Fatalf("exit status %d and %q on stderr, want 1 and the lines not queued; printed:\n%s", code, r.err, r.out)
	}
	want := lines(`[queue is full!: "full"]`,
		"[conversation "+convID(1)+"]",
		"  enqueued: one", "eliza: you said one",
		`[quota exceeded: 1 sentence a minute, in bursts of at most 1; try again in 3s: "quota"]`,
		`[queue unavailable (job `+jobID(99)+`): "lost"]`,
		`[not sent: internal: boom: "broken"]`)
	r.printed(t, want)
}

// A line's refusal is printed after the "enqueued" of the lines sent before it, which the
// watch prints: printed as Send answered, it came first whenever the watch was slower, and
// read as if the earlier line had been refused.
func TestChat_ARefusalIsPrintedAfterTheEarlierLinesEnqueued(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.refuse = func(req *elizav1.SendRequest) (*elizav1.SendResponse, error) {
		if req.GetSentence() == "full" {
			return &elizav1.SendResponse{ConversationId: req.GetConversationId(), Kind: elizav1.QueueConversationResponse_KIND_QUEUE_FULL,
				Sentence: "queue is full!"}, nil
		}
		return nil, nil
	}
	var printed atomic.Pointer[run]
	f.beforeWatch = func(ctx context.Context, _ *elizav1.WatchRequest) error {
		heldUntilPrinted(ctx, &printed, `[queue is full!: "full"]`) // the watch slower than the next Send
		return nil
	}
	r := start(f.start(t), strings.NewReader("one\nfull\n"), "chat")
	printed.Store(r)
	if code := r.wait(t); code != 1 {
		t.Fatalf("exit status %d, want 1 (a line was not queued); printed:\n%s\n%s", code, r.out, r.err)
	}
	out := r.out.String()
	enqueued, refused := strings.Index(out, "  enqueued: one\n"), strings.Index(out, `[queue is full!: "full"]`)
	if enqueued < 0 || refused < enqueued {
		t.Fatalf("chat printed:\n%s\nwant \"enqueued: one\" before the refusal of \"full\"", out)
	}
}

// heldUntilPrinted holds a watch, a peer slower than chat's next line, until the run (once
// stored) has printed text, or 300 ms at most: chat printing a line's refusal before the
// earlier lines' "enqueued" lets the watch go on at once, and shows in the order printed;
// chat waiting for them, as it should, has the watch go on after 300 ms, well within chat's
// wait (refusalWait, 1 s).
func heldUntilPrinted(ctx context.Context, printed *atomic.Pointer[run], text string) {
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		if r := printed.Load(); r != nil && strings.Contains(r.out.String(), text) {
			return
		}
		if sleep.For(ctx, 5*time.Millisecond) != nil {
			return
		}
	}
}

// Chat's own "not sent" waits for the earlier lines' "enqueued" as a refusal does, and a line
// of only a zero-width space is blank: skipped, as the server would refuse it as empty.
func TestChat_ALineNotSentIsPrintedAfterTheEarlierLinesEnqueued(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	var printed atomic.Pointer[run]
	f.beforeWatch = func(ctx context.Context, _ *elizav1.WatchRequest) error {
		heldUntilPrinted(ctx, &printed, "[not sent: ") // the watch slower than the next line
		return nil
	}
	r := start(f.start(t), strings.NewReader("one\n\xff\xfe bad\n\u200b\u200e\n"), "chat")
	printed.Store(r)
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: a line was not queued (see above)\n" {
		t.Fatalf("exit status %d and %q, want 1 for the one line not sent; printed:\n%s", code, r.err, r.out)
	}
	out := r.out.String()
	enqueued, notSent := strings.Index(out, "  enqueued: one\n"), strings.Index(out, "[not sent: ")
	if enqueued < 0 || notSent < enqueued || strings.Count(out, "[not sent: ") != 1 {
		t.Fatalf("chat printed:\n%s\nwant \"enqueued: one\" before the one line not sent", out)
	}
	if got := f.sends(); len(got) != 1 {
		t.Fatalf("sent %q, want only \"one\"", got)
	}
}

// The server refuses the caller's token on Send: chat says so once, for the line it could not
// send, and ends, rather than refusing every line after the same way.
func TestChat_ATokenRefusedOnSendIsSaidOnceAndEndsChat(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.refuse = func(*elizav1.SendRequest) (*elizav1.SendResponse, error) {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid token"))
	}
	r := start(f.start(t), strings.NewReader("one\ntwo\nthree\n"), "chat")
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: the server refused the caller (see above)\n" {
		t.Fatalf("exit status %d and %q on stderr, want 1 and the refusal; printed:\n%s", code, r.err, r.out)
	}
	if got, want := r.out.String(), lines(`[not sent: unauthenticated: invalid token (give eliza one with --token or ELIZA_TOKEN): "one"]`); got != want {
		t.Fatalf("chat printed:\n%s\nwant:\n%s", got, want)
	}
	if got := f.sends(); !slices.Equal(got, []string{"/one"}) {
		t.Fatalf("sent %q, want the first line alone", got)
	}
}

// The server refuses to let the caller watch the conversation while the input is still open:
// chat says so once and ends at once, without waiting for a line.
func TestChat_ATokenRefusedOnWatchIsSaidOnceAndEndsChat(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(7), 1)
	f.beforeWatch = func(context.Context, *elizav1.WatchRequest) error {
		return connect.NewError(connect.CodePermissionDenied, errors.New("the client is disabled"))
	}
	if err := store(savedAt(), saved{Conversation: convID(7), Serial: 2}); err != nil {
		t.Fatal(err)
	}
	in, _, _ := typing(t) // never ended
	r := start(f.start(t), in, "chat", "--resume")
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: the server refused the caller (see above)\n" {
		t.Fatalf("exit status %d and %q on stderr, want 1 and the refusal; printed:\n%s", code, r.err, r.out)
	}
	want := lines("[conversation "+convID(7)+" (after event 2)]",
		"[the server refused to follow the conversation (permission_denied: the client is disabled): "+
			"once this token's client is enabled again, `eliza chat --conversation "+convID(7)+"` continues it]")
	r.printed(t, want)
}

// A conversation that expired while its watch was quiet (the server does not end an idle
// watch) refuses the next Send with NotFound: chat gives it up, says so, and the sentence
// starts a new conversation, rather than every line being "not sent" for good.
func TestChat_ASentenceToAConversationThatExpiredQuietlyStartsANewOne(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.refuse = func(req *elizav1.SendRequest) (*elizav1.SendResponse, error) {
		if req.GetConversationId() == convID(1) && req.GetSentence() == "two" {
			return nil, connect.NewError(connect.CodeNotFound, errors.New("conversation "+convID(1)+" is unknown or has expired"))
		}
		return nil, nil
	}
	_, r, typed, end := chatting(t, f)
	typed("two")
	r.waitFor(t, "eliza: you said two\n")
	end()
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit status %d, want 0 (every line was queued); printed:\n%s\n%s", code, r.out, r.err)
	}
	want := lines("[conversation "+convID(1)+"]",
		"  enqueued: one", "eliza: you said one",
		"[conversation "+convID(1)+" cannot be continued (not_found: conversation "+convID(1)+
			" is unknown or has expired): \"two\" starts a new conversation]",
		"[conversation "+convID(2)+"]",
		"  enqueued: two", "eliza: you said two")
	r.printed(t, want)
	if s, ok, err := load(savedAt()); err != nil || !ok || s.Conversation != convID(2) {
		t.Fatalf("saved %+v (%t, %v), want the new conversation", s, ok, err)
	}
}

// At the end of its input, chat continuing a conversation prints its history first, and waits
// for the answers due in it (a sentence queued before it began, not yet answered); it does
// not wait for the answer to a sentence another client sends meanwhile.
func TestChat_TheEndOfInputWaitsForTheHistoryAndItsAnswersDue(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(7), 1)
	due := f.enqueue(convID(7), "s2")
	addr := f.start(t)
	in, typed, end := typing(t)
	r := start(addr, in, "chat", "--conversation", convID(7))
	r.waitFor(t, "  enqueued: s2\n")
	f.enqueue(convID(7), "another client's") // never answered
	r.waitFor(t, "  enqueued: another client's\n")
	typed("")
	end()
	time.Sleep(100 * time.Millisecond) // chat waits for s2's answer, not for the other's
	select {
	case code := <-r.code:
		t.Fatalf("chat exited %d before the answer due in the history; it printed:\n%s", code, r.out)
	default:
	}
	f.answer(convID(7), due, "s2")
	r.exits(t, 0)
	want := lines("[conversation "+convID(7)+" (after event 0)]",
		"  enqueued: s1", "eliza: you said s1", "  enqueued: s2", "  enqueued: another client's", "eliza: you said s2")
	r.printed(t, want)
}

// A front door from before it said where a conversation's history ends sends its headers
// with its first event: with nothing new, chat would not hear where the history ends. At the
// end of its input it waits historyWait for it, then fails, saying so.
func TestChat_AnOlderServerThatSaysNothingOfTheHistoryIsWaitedForABoundedTime(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	defer func(w time.Duration) { historyWait = w }(historyWait)
	historyWait = 300 * time.Millisecond
	f := newFake()
	f.old = true
	f.add(convID(7), 1)
	if err := store(savedAt(), saved{Conversation: convID(7), Serial: 2}); err != nil {
		t.Fatal(err)
	}
	r := start(f.start(t), strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 1 || !strings.Contains(r.err.String(), "older than this eliza") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1, saying the history's end was not heard", code, r.out, r.err)
	}
	// With something new, its headers come with it: chat does not wait for the history's end
	// it will not hear, and exits.
	f.add(convID(7), 1)
	r = start(f.start(t), strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "  enqueued: s1") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 0 and the first new event", code, r.out, r.err)
	}
}

// The end of input says every reason it fails, the history not heard among them: that one
// alone was said, and "a line was not queued" was dropped.
func TestChat_TheEndOfInputSaysTheHistoryNotHeardWithTheOtherReasons(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	defer func(w time.Duration) { historyWait = w }(historyWait)
	historyWait = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing there: the watch and the line cannot reach it
	if err := store(savedAt(), saved{Conversation: convID(7), Serial: 2}); err != nil {
		t.Fatal(err)
	}
	r := start(addr, strings.NewReader("hello\n"), "chat", "--resume")
	r.exits(t, 1)
	if got := r.err.String(); !strings.Contains(got, "could not read the conversation's history within 300ms") ||
		!strings.Contains(got, "; a line was not queued (see above)") {
		t.Fatalf("printed:\n%s\n%s\nwant the history not heard and the line not queued, both", r.out, r.err)
	}
}

// A chat that ended with an answer still due (Ctrl-C, or it gave up waiting) keeps the job in
// its saved place, whose serial is past the job's "enqueued": a resume waits for that answer
// too. Before, it exited at once, printing nothing.
func TestChat_ResumeWaitsForTheAnswersDueWhenTheLastChatEnded(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	job := f.enqueue(convID(7), "s1")
	addr := f.start(t)
	c := &chat{srv: &server{addr: addr}, conv: convID(7), last: 1, keep: true, pending: map[string]bool{job: true}, done: map[string]bool{}, place: savedAt()}
	c.save()
	if s, ok, err := load(savedAt()); err != nil || !ok || !slices.Equal(s.Due, []string{job}) {
		t.Fatalf("saved %+v (%t, %v), want the job's answer due", s, ok, err)
	}

	r := start(addr, strings.NewReader(""), "chat", "--resume")
	time.Sleep(100 * time.Millisecond)
	select {
	case code := <-r.code:
		t.Fatalf("chat --resume exited %d before the answer due; it printed:\n%s", code, r.out)
	default:
	}
	f.answer(convID(7), job, "s1")
	if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "eliza: you said s1") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 0 and the answer", code, r.out, r.err)
	}
	if s, _, _ := load(savedAt()); len(s.Due) != 0 || s.Serial != 2 {
		t.Fatalf("saved %+v, want the answer's serial and nothing due", s)
	}
}

// A conversation the server no longer has is said so before chat exits at the end of its
// input, even when the input is empty. Before, the end of input often won the race: chat
// exited with only its first line, as for a conversation with nothing new. Chat then exits 1:
// the conversation it was asked to continue is not there (it exited 0).
func TestChat_ALostConversationIsSaidSoAtTheEndOfAnEmptyInput(t *testing.T) {
	for range 10 {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		f := newFake()
		if err := store(savedAt(), saved{Conversation: convID(9), Serial: 4}); err != nil {
			t.Fatal(err)
		}
		addr := f.start(t)
		r := start(addr, strings.NewReader(""), "chat", "--resume")
		if code := r.wait(t); code != 1 || !strings.Contains(r.out.String(), "cannot be continued") ||
			r.err.String() != "eliza: conversation "+convID(9)+" is not on "+addr+" (see above)\n" {
			t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1, saying the conversation cannot be continued", code, r.out, r.err)
		}
		// Not kept to be found lost again by the next --resume.
		if s, ok, err := load(savedAt()); ok || err != nil {
			t.Fatalf("saved %+v (%v) after the conversation was found lost, want nothing", s, err)
		}
	}
	// Also one whose saved place has seen no event yet, with an answer due: chat was stopped
	// right after its first sentence. The answer due is not this chat's sentence getting
	// through: the conversation is said lost at once, and the answer said not to come; chat
	// then exits 1, as a script waiting for that answer should see.
	if err := store(savedAt(), saved{Conversation: convID(9), Due: []string{jobID(1)}}); err != nil {
		t.Fatal(err)
	}
	addr := newFake().start(t)
	r := start(addr, strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 1 || !strings.Contains(r.out.String(), "is not on the server") ||
		!strings.Contains(r.out.String(), "1 answer due will not come") ||
		r.err.String() != "eliza: 1 answer due will not come; conversation "+convID(9)+" is not on "+addr+" (see above)\n" {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1, saying it is not on the server and the answer will not come", code, r.out, r.err)
	}
	// The answer said not to come is not due again at the next --resume, which then ends well.
	if s, ok, err := load(savedAt()); !ok || err != nil || s.Conversation != convID(9) || len(s.Due) != 0 {
		t.Fatalf("saved %+v (%t, %v), want the conversation with nothing due", s, ok, err)
	}
	r = start(newFake().start(t), strings.NewReader(""), "chat", "--resume")
	if code := r.wait(t); code != 1 || strings.Contains(r.out.String(), "will not come") || !strings.Contains(r.err.String(), "is not on") {
		t.Fatalf("the next --resume: exit status %d, printed:\n%s\n%s\nwant 1 for the conversation missing, with no answer due", code, r.out, r.err)
	}
}

// The server writes conversation ids in lower case and takes any form of a UUID: chat joins a
// conversation given in capitals (or as urn:uuid:…) and prints its events, which carry the id
// as the server writes it.
func TestChat_JoinsAConversationWhoseIdIsGivenInAnotherForm(t *testing.T) {
	const conv = "abcdef00-0000-4000-8000-00000000000b"
	for _, id := range []string{strings.ToUpper(conv), "urn:uuid:" + conv} {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		f := newFake()
		f.add(conv, 1)
		r := start(f.start(t), strings.NewReader("hello\n"), "chat", "--conversation", id)
		if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "eliza: you said s1") || !strings.Contains(r.out.String(), "eliza: you said hello") {
			t.Fatalf("--conversation %s: exit status %d, printed:\n%s\n%s\nwant 0, the history and the answer", id, code, r.out, r.err)
		}
		if s, _, _ := load(savedAt()); s.Conversation != conv {
			t.Fatalf("--conversation %s: saved %+v, want the id as the server writes it", id, s)
		}
	}
}

// A conversation given with --conversation that the server does not have leaves the saved
// place of another conversation as it was, for a --resume of that one.
func TestChat_AGivenConversationNotOnTheServerLeavesAnotherSavedOneAlone(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	kept := saved{Conversation: convID(3), Serial: 6, Due: []string{jobID(2)}}
	if err := store(savedAt(), kept); err != nil {
		t.Fatal(err)
	}
	r := start(newFake().start(t), strings.NewReader(""), "chat", "--conversation", convID(4))
	if code := r.wait(t); code != 1 || !strings.Contains(r.out.String(), "is not on the server") || !strings.Contains(r.err.String(), "is not on") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1, saying it is not on the server", code, r.out, r.err)
	}
	if s, _, err := load(savedAt()); err != nil || s.Conversation != kept.Conversation || s.Serial != kept.Serial || !slices.Equal(s.Due, kept.Due) {
		t.Fatalf("saved %+v (%v), want %+v left as it was", s, err, kept)
	}
}

// Ctrl-C (or SIGTERM) while chat waits at the end of its input for answers leaves with status
// 0, as it does at the prompt, even when an answer due will not come, which would otherwise
// make it exit 1: the user chose to leave.
func TestChat_CtrlCWhileWaitingForAnswersExitsZero(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	if err := store(savedAt(), saved{Conversation: convID(9), Due: []string{jobID(99)}}); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.refuse = func(req *elizav1.SendRequest) (*elizav1.SendResponse, error) { // queued, never answered
		id := req.GetConversationId()
		job := f.enqueue(id, req.GetSentence())
		return &elizav1.SendResponse{ConversationId: id, JobId: job, Kind: elizav1.QueueConversationResponse_KIND_ENQUEUED, Sentence: "enqueued", Serial: 1}, nil
	}
	in, typed, end := typing(t)
	input := &eofSeen{r: in, seen: make(chan struct{})}
	r := start(f.start(t), input, "chat", "--resume")
	r.waitFor(t, "1 answer due will not come")
	typed("s1") // chat waits for its answer at the end of its input
	r.waitFor(t, "enqueued: s1")
	end()
	// Once chat has read the end of its input it goes on to wait for the answer (a signal
	// that came first would end it at the prompt, with status 0 too: end's own check below
	// does not depend on that order).
	<-input.seen
	select {
	case code := <-r.code:
		t.Fatalf("chat exited %d before its answer came; it printed:\n%s\n%s", code, r.out, r.err)
	default:
	}
	// Main's signal.NotifyContext holds SIGINT while chat runs: it does not reach the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit status %d after Ctrl-C, printed:\n%s\n%s\nwant 0", code, r.out, r.err)
	}

	// The end of input itself: an answer that will not come fails it, unless chat is leaving.
	c := &chat{changed: make(chan struct{}, 1), pending: map[string]bool{}, resumed: map[string]bool{}, unanswered: 1}
	if err := c.end(t.Context()); err == nil {
		t.Fatal("the end of input with an answer that will not come: nil, want an error")
	}
	leaving, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.end(leaving); err != nil {
		t.Fatalf("the end of input as chat leaves: %v, want nil", err)
	}
}

// eofSeen is an input that says when its reader has read its end.
type eofSeen struct {
	r    io.Reader
	seen chan struct{}
	once sync.Once
}

func (e *eofSeen) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.once.Do(func() { close(e.seen) })
	}
	return n, err
}

// A --conversation that cannot name one is refused before anything is sent: not a UUID, or
// the nil UUID (which the server refuses as a conversation id).
func TestChat_ABadConversationIdIsRefusedAtOnce(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	for _, id := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		r := start("127.0.0.1:1", strings.NewReader(""), "chat", "--conversation", id)
		if code := r.wait(t); code == 0 || !strings.Contains(r.err.String(), "a conversation id is a UUID, not the nil one") {
			t.Fatalf("--conversation %s: exit status %d, printed:\n%s\n%s\nwant it refused", id, code, r.out, r.err)
		}
	}
}

// The line editor is never told a width of 0, which a pseudo-terminal given no size reports
// (and the tests' standard output, not a terminal, reports too): at 0 it looped for ever on
// the first key that moved the cursor left, deaf to Ctrl-C.
func TestScreenWidth_IsNeverZero(t *testing.T) {
	if w := screenWidth(); w <= 0 {
		t.Fatalf("width %d", w)
	}
}

// A front door shutting down ends chat's watch with advice to API clients on resuming, which
// chat does by itself: it says only that the server is shutting down, and that it is back as
// soon as it is (it said so only with the next event), and goes on.
func TestChat_ResumesWhenItsFrontDoorShutsDownSayingOnlyThat(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	addr, r, typed, end := chatting(t, f)
	f.drain()
	// Back as soon as the watch is, with nothing new to show.
	r.waitFor(t, "[lost the server ("+addr+" is shutting down); reconnecting]\n[reconnected]\n")
	typed("two")
	r.waitFor(t, "eliza: you said two\n")
	end()
	r.exits(t, 0)
	want := lines("[conversation "+convID(1)+"]",
		"  enqueued: one", "eliza: you said one",
		"[lost the server ("+addr+" is shutting down); reconnecting]", "[reconnected]",
		"  enqueued: two", "eliza: you said two")
	r.printed(t, want)
}

// A line from a pipe far longer than a sentence is said not sent, and the lines after it are
// read on: it ended the input with "bufio.Scanner: token too long", the answers still due
// neither waited for nor printed.
func TestChat_SkipsALineFarTooLongAndReadsOn(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	addr := f.start(t)
	in := strings.NewReader("one\n" + strings.Repeat("x", 70000) + "\nthree\r\nlast without an end")
	r := start(addr, in, "chat")
	if code := r.wait(t); code != 1 || r.err.String() != "eliza: a line was not queued (see above)\n" {
		t.Fatalf("exit status %d, %q; want 1, as for any line not queued; printed:\n%s", code, r.err, r.out)
	}
	for _, want := range []string{"[not sent: a line of more than 64 KiB, far longer than a sentence can be]\n",
		"eliza: you said one\n", "eliza: you said three\n", "eliza: you said last without an end\n"} {
		if !strings.Contains(r.out.String(), want) {
			t.Errorf("chat printed:\n%s\nwant %q in it", r.out, want)
		}
	}
	if got, want := f.sends(), []string{"/one", convID(1) + "/three", convID(1) + "/last without an end"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
}

// readLine's ends of lines and its bound, at the edges: a line of exactly maxLine bytes is
// read, one byte more is not.
func TestReadLine_ReadsLinesUpToMaxLine(t *testing.T) {
	at := strings.Repeat("a", maxLine)
	r := bufio.NewReaderSize(strings.NewReader(at+"\r\n"+at+"b\n\nend"), 16)
	for _, want := range []struct {
		text string
		err  error
	}{{at, nil}, {"", errLineTooLong}, {"", nil}, {"end", nil}, {"", io.EOF}} {
		text, err := readLine(r)
		if text != want.text || !errors.Is(err, want.err) || (err == nil) != (want.err == nil) {
			t.Fatalf("%.20q %v, want %.20q %v", text, err, want.text, want.err)
		}
	}
}

// A server that needs a token, asked without one: eliza says how to give it one, after the
// server's own advice (which headers to send, for API clients); not to a caller who gave one,
// on the command line or in ELIZA_TOKEN.
func TestChat_WithoutATokenSaysHowToGiveElizaOne(t *testing.T) {
	for token, hint := range map[string]string{"": " (give eliza one with --token or ELIZA_TOKEN)", "eliza_revoked": ""} {
		f := newFake()
		f.refuse = func(*elizav1.SendRequest) (*elizav1.SendResponse, error) {
			return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("this server needs a token"))
		}
		t.Setenv("ELIZA_TOKEN", token) // one given in the environment is given
		r := start(f.start(t), strings.NewReader("one\n"), "chat")
		if code := r.wait(t); code != 1 {
			t.Fatalf("exit status %d, want 1", code)
		}
		if want := `[not sent: unauthenticated: this server needs a token` + hint + `: "one"]`; !strings.Contains(r.out.String(), want) {
			t.Fatalf("with ELIZA_TOKEN %q chat printed:\n%s\nwant %s", token, r.out, want)
		}
	}
}

// A place that cannot be saved is said once, not after every event.
func TestChat_SaysOnceThatItCannotSaveItsPlace(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", notADir)
	f := newFake()
	r := start(f.start(t), strings.NewReader("one\ntwo\n"), "chat")
	r.exits(t, 0)
	if n := strings.Count(r.out.String(), "--resume will not find this conversation's place"); n != 1 {
		t.Fatalf("said %d times that the place cannot be kept, want once:\n%s", n, r.out)
	}
	if !strings.Contains(r.out.String(), "eliza: you said two") {
		t.Fatalf("chat printed:\n%s", r.out)
	}
}

// A sentence anyone who knows the conversation's id may send, and a model's answer, reach the
// terminal with their control characters written as escapes: an escape sequence in them
// changed the colours and the window's title of whoever followed the conversation. Line
// breaks and tabs are printed as they are.
func TestChat_ControlCharactersInEventsArePrintedAsEscapes(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	r := newRun()
	r.start(newFake().start(t), strings.NewReader("x\x1b[31mred\x1b]0;title\x07\tand\u009b2J\n"), "chat")
	r.exits(t, 0)
	want := lines("[conversation "+convID(1)+"]",
		`  enqueued: x\x1b[31mred\x1b]0;title\a`+"\t"+`and\u009b2J`,
		`eliza: you said x\x1b[31mred\x1b]0;title\a`+"\t"+`and\u009b2J`)
	r.printed(t, want)
}

// A server back after a restart without the conversation chat follows: chat says it is back,
// then that the conversation cannot be continued. It said the second only, and "[reconnected]"
// never came.
func TestChat_AServerBackWithoutTheConversationIsSaidToBeBack(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	addr, r, _, end := chatting(t, f)
	var once sync.Once
	f.beforeWatch = func(context.Context, *elizav1.WatchRequest) error {
		refused := false
		once.Do(func() { refused = true })
		if refused { // still starting: chat loses the server for a moment
			return connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
		}
		return nil
	}
	f.restart()
	r.waitFor(t, "cannot be continued")
	end()
	r.exits(t, 0)
	want := lines("[conversation "+convID(1)+"]",
		"  enqueued: one", "eliza: you said one",
		"[lost the server ("+addr+" is unavailable: restarting); reconnecting]",
		"[reconnected]",
		"[conversation "+convID(1)+" cannot be continued (not_found: conversation "+convID(1)+
			" is unknown or has expired): your next sentence starts a new conversation]")
	r.printed(t, want)
}

// What shown leaves as it is, and what it escapes.
func TestShown_EscapesWhatCouldDriveOrReorderTheTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"line one\nline two\tand a tab":      "line one\nline two\tand a tab",
		"a model's lines\r\nend in CRLF\r\n": "a model's lines\nend in CRLF\n",
		"👩‍💻 שלום مرحبا":                     "👩‍💻 שלום مرحبا", // a ZWJ sequence, right-to-left text
		"x\x1b[2Jy\rz\u0085":                 `x\x1b[2Jy\rz\u0085`,
		"abc\u202edef\u2066g\u2069\u2028h":   `abc\u202edef\u2066g\u2069\u2028h`,
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %q, want %q", in, got, want)
		}
	}
}

// An answer due that is an error (the model could not answer it) fails the end of input, as a
// line not queued does: a script sees that a sentence went unanswered. It exited 0. Every
// reason is said, not only the first. An error
// in the history of a conversation joined, answered before this chat, does not.
func TestChat_AnAnswerDueThatIsAnErrorFailsTheEndOfInput(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	r := start(f.start(t), strings.NewReader(lines("hello", "fail this", "bad \xff", "fail that")), "chat")
	if code := r.wait(t); code != 1 || strings.Count(r.out.String(), "error: the assistant could not answer") != 2 ||
		r.err.String() != "eliza: a line was not queued; 2 answers due were errors (see above)\n" {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1 and the two errors counted", code, r.out, r.err)
	}

	f.mu.Lock()
	f.appendLocked(convID(5), "fail before")
	f.mu.Unlock()
	r = start(f.start(t), strings.NewReader(lines("hello")), "chat", "--conversation", convID(5))
	if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "error: the assistant could not answer") ||
		!strings.Contains(r.out.String(), "eliza: you said hello") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 0: the error was in the history", code, r.out, r.err)
	}
}

// This chat's own sentence answered with an error counts, even when it falls in the history
// the watch reads first: a watch that failed until the sentence was sent and answered. It was
// taken for an error of the history, and chat exited 0.
func TestChat_AnErrorToItsOwnSentenceInTheHistoryFailsTheEndOfInput(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(5), 1)
	var once sync.Once
	f.beforeWatch = func(ctx context.Context, _ *elizav1.WatchRequest) error {
		failed := false
		once.Do(func() {
			// Until the sentence is sent (and answered), and its Send has returned: chat then
			// saves its place with the answer due.
			for ctx.Err() == nil {
				if s, _, err := load(savedAt()); err == nil && len(f.sends()) > 0 && len(s.Due) > 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			failed = true
		})
		if failed {
			return connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
		}
		return nil
	}
	r := start(f.start(t), strings.NewReader(lines("fail this")), "chat", "--conversation", convID(5))
	if code := r.wait(t); code != 1 || !strings.Contains(r.out.String(), "error: the assistant could not answer") ||
		r.err.String() != "eliza: 1 answer due was an error (see above)\n" {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 1 and the error counted", code, r.out, r.err)
	}
}

// Printing a conversation (--conversation, and no line) leaves the place --resume continues
// as it was: it took it, so that the next --resume continued the conversation printed, not the
// last one held. A line sent to it makes it the one held.
func TestChat_PrintingAConversationLeavesTheSavedPlaceAlone(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(5), 2)
	addr := f.start(t)
	kept := saved{Conversation: convID(3), Serial: 6, Addr: addr, Due: []string{jobID(9)}}
	if err := store(savedAt(), kept); err != nil {
		t.Fatal(err)
	}
	r := start(addr, strings.NewReader(""), "chat", "--conversation", convID(5))
	if code := r.wait(t); code != 0 || !strings.Contains(r.out.String(), "eliza: you said s2") {
		t.Fatalf("exit status %d, printed:\n%s\n%s\nwant 0 and the conversation", code, r.out, r.err)
	}
	if s, _, err := load(savedAt()); err != nil || s.Conversation != kept.Conversation || s.Serial != kept.Serial || !slices.Equal(s.Due, kept.Due) {
		t.Fatalf("saved %+v (%v) after printing another conversation, want %+v", s, err, kept)
	}
	r = start(addr, strings.NewReader(lines("hello")), "chat", "--conversation", convID(5))
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit status %d, printed:\n%s\n%s", code, r.out, r.err)
	}
	if s, _, err := load(savedAt()); err != nil || s.Conversation != convID(5) || s.Serial != 6 {
		t.Fatalf("saved %+v (%v) after a line sent to it, want conversation %s at serial 6", s, err, convID(5))
	}
}

// A Send says the server is back only when it was sent since chat said it lost it, and the
// server answered it: one answered just before the server went away said "[reconnected]"
// after "[lost the server …]", and none came when the server was back.
func TestChat_OnlyASendSentSinceTheServerWasLostSaysItIsBack(t *testing.T) {
	var out strings.Builder
	c := &chat{out: &out, away: true, losses: 2}
	c.answered(1, nil)                                                                                 // sent before the last loss
	c.answered(2, connect.NewError(connect.CodeUnavailable, errors.New("connection refused")))         // no answer
	c.answered(2, connect.NewWireError(connect.CodeUnavailable, errors.New("transcript unavailable"))) // what the watch calls lost
	if out.String() != "" {
		t.Fatalf("printed %q, want nothing yet", out.String())
	}
	c.answered(2, connect.NewWireError(connect.CodeResourceExhausted, errors.New("quota exceeded"))) // an answer
	c.answered(2, nil)
	if out.String() != "[reconnected]\n" {
		t.Fatalf("printed %q, want one [reconnected]", out.String())
	}
}

// Ctrl-C leaves at once even when the watch is stuck writing to an output nobody reads (a
// pager left open): chat waits watchEnd at most for it.
func TestChat_CtrlCLeavesWhileTheWatchIsStuckWriting(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	f := newFake()
	f.add(convID(7), 3)
	if err := store(savedAt(), saved{Conversation: convID(7)}); err != nil {
		t.Fatal(err)
	}
	// Never released: released, the watch would go on to save its place while the test's
	// directory is removed. Its goroutine ends with the test's process.
	out := &stuckAfter{first: make(chan struct{})}
	in, _, _ := typing(t)
	code := make(chan int, 1)
	go func() { code <- Main([]string{"--addr", f.start(t), "chat", "--resume"}, in, out, io.Discard) }()
	// The watch is printing the history, and is stuck from its next write on. SIGINT is held
	// by Main's signal.NotifyContext.
	<-out.first
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit status %d after Ctrl-C, want 0", c)
		}
	case <-time.After(watchEnd + 3*time.Second):
		t.Fatal("chat still running after Ctrl-C, its watch stuck writing")
	}
}

// stuckAfter is an output that takes the first write (chat's own line on the conversation it
// continues), then blocks every later one for ever.
type stuckAfter struct {
	mu     sync.Mutex
	writes int
	first  chan struct{}
}

func (s *stuckAfter) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes++
	n := s.writes
	s.mu.Unlock()
	if n == 2 {
		close(s.first)
	}
	if n >= 2 {
		select {}
	}
	return len(p), nil
}
