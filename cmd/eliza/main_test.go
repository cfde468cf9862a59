package main_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/creack/pty"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	elizabot "github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// These tests run the eliza binary against a standalone process (the front door, its queue
// and the offline ELIZA responder in one, no external services), as a person or a script
// would: arguments, a pipe, and a terminal (a pseudo-terminal).

var builds proctest.Builds

func TestMain(m *testing.M) { builds.Main(m) }

// server starts a standalone process and returns its RPC address.
func server(t *testing.T) string {
	t.Helper()
	rpc, _ := proctest.Standalone(t, &builds)
	return rpc
}

// eliza returns the command running the eliza binary against addr, keeping its state in a
// directory of the test's.
func eliza(t *testing.T, addr, state string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), builds.Build(t, "./cmd/eliza"), args...)
	cmd.Env = append(os.Environ(), "ELIZA_ADDR="+addr, "XDG_STATE_HOME="+state)
	return cmd
}

func TestSay_PrintsEachAnswerAndFailsWithOneLine(t *testing.T) {
	addr := server(t)
	out, err := eliza(t, addr, t.TempDir(), "say", "I feel sad", "hello").Output()
	if err != nil {
		t.Fatalf("say: %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		t.Fatalf("say of two sentences printed %q, want two answers", out)
	}

	cmd := eliza(t, addr, t.TempDir(), "say", "")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
		t.Fatalf("say of an empty sentence: %v, want exit status 1", err)
	}
	if len(out) != 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "invalid_argument") {
		t.Fatalf("say of an empty sentence printed %q and %q, want one line on stderr naming invalid_argument", out, stderr.String())
	}

	cmd = eliza(t, proctest.FreeAddr(t), t.TempDir(), "say", "hello")
	stderr.Reset()
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "cannot reach") {
		t.Fatalf("say with no server: %v, %q; want a failure saying it cannot reach it", err, stderr.String())
	}
}

// replyLine matches what chat prints for an answer.
var replyLine = regexp.MustCompile(`(?m)^eliza: \S`)

func TestChat_ThroughAPipeAnswersEveryLineThenResumesTheConversation(t *testing.T) {
	addr, state := server(t), t.TempDir()
	cmd := eliza(t, addr, state, "chat")
	cmd.Stdin = strings.NewReader("I feel sad\nmy mother hates me\n\nI dream of trains\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	if n := len(replyLine.FindAllString(string(out), -1)); n != 3 || strings.Count(string(out), "  enqueued: ") != 3 {
		t.Fatalf("three sentences (and an empty line) gave %d replies:\n%s", n, out)
	}
	var saved struct {
		Conversation string `json:"conversation"`
		Serial       uint64 `json:"serial"`
	}
	b, err := os.ReadFile(filepath.Join(state, "eliza", "conversation.json"))
	if err != nil || json.Unmarshal(b, &saved) != nil || saved.Serial != 6 {
		t.Fatalf("saved %s (%v), want the conversation at serial 6", b, err)
	}

	cmd = eliza(t, addr, state, "chat", "--resume")
	cmd.Stdin = strings.NewReader("and my father\n")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("chat --resume: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "[conversation "+saved.Conversation+" (after event 6)]") ||
		len(replyLine.FindAllString(string(out), -1)) != 1 {
		t.Fatalf("chat --resume printed, want the same conversation and only the new reply:\n%s", out)
	}

	// With nothing to say, chat prints the conversation's history before it exits: all of it
	// for a conversation named on another machine (no state), nothing new on --resume.
	cmd = eliza(t, addr, t.TempDir(), "chat", "--conversation", saved.Conversation)
	cmd.Stdin = strings.NewReader("")
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("chat --conversation with no input: %v\n%s", err, out)
	}
	if n := len(replyLine.FindAllString(string(out), -1)); n != 4 || strings.Count(string(out), "  enqueued: ") != 4 ||
		!strings.Contains(string(out), "  enqueued: and my father\n") {
		t.Fatalf("chat --conversation with no input printed, want its history of four sentences and their replies:\n%s", out)
	}
	cmd = eliza(t, addr, state, "chat", "--resume")
	cmd.Stdin = strings.NewReader("")
	out, err = cmd.Output()
	if err != nil || strings.Contains(string(out), "eliza: ") || strings.Contains(string(out), "enqueued") {
		t.Fatalf("chat --resume with no input: %v, printed %q; want nothing new", err, out)
	}
}

// A conversation the server does not have: one chat names (any UUID starts a conversation),
// and one chat had seen events of and the server has since lost (a standalone process
// restarted, or its expiry). Either way the line typed is answered and chat exits at the end
// of its input; a malformed id is refused before anything is sent.
func TestChat_ThroughAPipeStartsAConversationTheServerDoesNotHave(t *testing.T) {
	addr, state := server(t), t.TempDir()
	named := "7d5e2c1a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
	cmd := eliza(t, addr, state, "chat", "--conversation", named)
	cmd.Stdin = strings.NewReader("I feel sad\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat --conversation of a new id: %v\n%s", err, out)
	}
	if len(replyLine.FindAllString(string(out), -1)) != 1 || strings.Count(string(out), "  enqueued: I feel sad") != 1 {
		t.Fatalf("chat --conversation of a new id, want the line answered:\n%s", out)
	}
	if got := savedConversation(state); got != named {
		t.Fatalf("saved conversation %q, want the id given, %s", got, named)
	}

	// The server forgot it: chat had seen its events up to serial 9.
	gone := "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
	if err := os.WriteFile(filepath.Join(state, "eliza", "conversation.json"),
		[]byte(`{"conversation":"`+gone+`","serial":9,"addr":"`+addr+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = eliza(t, addr, state, "chat", "--resume")
	cmd.Stdin = strings.NewReader("my mother hates me\n")
	lost, err := endsWithin(t, cmd, 30*time.Second)
	if err != nil {
		t.Fatalf("chat --resume of a conversation the server lost: %v\n%s", err, lost)
	}
	said := regexp.MustCompile(`cannot be continued|was no longer on the server`)
	if !said.MatchString(lost) || len(replyLine.FindAllString(lost, -1)) != 1 {
		t.Fatalf("chat --resume of a conversation the server lost, want it said and the line answered:\n%s", lost)
	}
	// The line started a new conversation, under an id of the server's: the lost one's id,
	// started again, would stand for two conversations.
	if got := savedConversation(state); got == gone || idIn.FindString(got) != got || got == "" {
		t.Fatalf("saved conversation %q after the server lost %s, want a new one", got, gone)
	}

	cmd = eliza(t, addr, state, "chat", "--conversation", "nope")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdin = strings.NewReader("hello\n")
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "UUID") {
		t.Fatalf("chat --conversation nope: %v, %q; want a failure saying an id is a UUID", err, stderr.String())
	}
}

// endsWithin runs cmd to its end and returns what it printed, stdout and stderr together; a
// cmd still running after d is killed and fails the test: chat must end at the end of its
// input.
func endsWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) (string, error) {
	t.Helper()
	var printed proctest.Buffer
	cmd.Stdout, cmd.Stderr = &printed, &printed
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := exited(t, cmd, d, "after the end of its input", printed.String)
	return printed.String(), err
}

// terminal is eliza chat in a pseudo-terminal, as a person at a terminal runs it.
type terminal struct {
	t    *testing.T
	tty  *os.File
	mu   sync.Mutex
	seen strings.Builder
	cmd  *exec.Cmd
}

func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	return startTerminalSized(t, cmd, &pty.Winsize{Rows: 40, Cols: 120})
}

// startTerminalSized is startTerminal on a terminal of size (0 by 0: one given no size).
func startTerminalSized(t *testing.T, cmd *exec.Cmd, size *pty.Winsize) *terminal {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, size)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, tty: tty, cmd: cmd}
	go func() {
		r := bufio.NewReader(tty)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			term.mu.Lock()
			term.seen.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = tty.Close() })
	return term
}

// typeLine types text and Enter.
func (term *terminal) typeLine(text string) {
	term.t.Helper()
	if _, err := io.WriteString(term.tty, text+"\r"); err != nil {
		term.t.Fatal(err)
	}
}

// waitFor waits until the screen's output has matched re n times.
func (term *terminal) waitFor(re *regexp.Regexp, n int) {
	term.t.Helper()
	kafkatest.Eventually(term.t, 20*time.Second, func() bool { return len(re.FindAllString(term.screen(), -1)) >= n },
		func() string {
			return fmt.Sprintf("waited for %d of %s; the terminal shows:\n%q", n, re, term.screen())
		})
}

// ctrlD types Ctrl-D on an empty line, the end of input, and waits for chat to exit 0.
func (term *terminal) ctrlD() {
	term.t.Helper()
	if _, err := term.tty.Write([]byte{4}); err != nil {
		term.t.Fatal(err)
	}
	if err := exited(term.t, term.cmd, 10*time.Second, "after Ctrl-D", term.screen); err != nil {
		term.t.Fatalf("chat after Ctrl-D: %v", err)
	}
}

// screen is everything the terminal has shown so far.
func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.seen.String()
}

// answerOnScreen matches an answer on the terminal, where line editing puts control
// sequences before it.
var answerOnScreen = regexp.MustCompile(`eliza: \S`)

func TestChat_InATerminalAnswersWhatIsTypedAndExitsOnCtrlD(t *testing.T) {
	addr, state := server(t), t.TempDir()
	term := startTerminal(t, eliza(t, addr, state, "chat"))
	term.waitFor(regexp.MustCompile(`> `), 1)
	term.typeLine("I feel sad")
	term.waitFor(answerOnScreen, 1)
	term.typeLine("   ") // blank: not sent, and not kept
	term.typeLine("my mother hates me")
	term.waitFor(answerOnScreen, 2)
	term.ctrlD()
	history, err := os.ReadFile(filepath.Join(state, "eliza", "history"))
	if err != nil || string(history) != "I feel sad\nmy mother hates me\n" {
		t.Fatalf("history %q, %v; want the two sentences typed, for the next run's line editing", history, err)
	}
}

// A state directory that cannot be made (XDG_STATE_HOME names a file) is said, and chat goes
// on without keeping the lines typed, as it does through a pipe without its saved place.
func TestChat_InATerminalGoesOnWhereItsHistoryCannotBeKept(t *testing.T) {
	addr, state := server(t), filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	term := startTerminal(t, eliza(t, addr, state, "chat"))
	term.waitFor(regexp.MustCompile(`the lines typed are not kept for the next chat`), 1)
	term.waitFor(regexp.MustCompile(`> `), 1)
	term.typeLine("I feel sad")
	term.waitFor(answerOnScreen, 1)
	term.ctrlD()
}

// SIGINT sent to chat (kill -INT: Ctrl-C typed reaches it as a key, the line editor being in
// raw mode) and SIGTERM end it at the prompt as Ctrl-C does: at once, with status 0.
func TestChat_InATerminalLeavesAtOnceOnSIGINTAndSIGTERM(t *testing.T) {
	addr := server(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		term := startTerminal(t, eliza(t, addr, t.TempDir(), "chat"))
		term.waitFor(regexp.MustCompile(`> `), 1)
		term.typeLine("I feel sad")
		term.waitFor(answerOnScreen, 1)
		if err := term.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := exited(t, term.cmd, 5*time.Second, fmt.Sprintf("at the prompt after %v", sig), term.screen); err != nil {
			t.Fatalf("chat after %v: %v", sig, err)
		}
	}
}

// A terminal given no size (0 by 0, as `script` run from a pipe makes) edits lines too, and
// Ctrl-C leaves. Before, the first key that moved the cursor left made chat loop for ever,
// deaf to Ctrl-C.
func TestChat_InATerminalWithoutASizeEditsAndLeavesOnCtrlC(t *testing.T) {
	addr := server(t)
	term := startTerminalSized(t, eliza(t, addr, t.TempDir(), "chat"), &pty.Winsize{})
	term.waitFor(regexp.MustCompile(`> `), 1)
	if _, err := io.WriteString(term.tty, "abc"); err != nil {
		t.Fatal(err)
	}
	term.waitFor(regexp.MustCompile(`abc`), 1)
	if _, err := io.WriteString(term.tty, "\x01\x03"); err != nil { // Ctrl-A (to the start), Ctrl-C
		t.Fatal(err)
	}
	if err := exited(t, term.cmd, 5*time.Second, "after Ctrl-A and Ctrl-C on a terminal of no size", term.screen); err != nil {
		t.Fatalf("chat after Ctrl-C: %v", err)
	}
}

// Ctrl-Z under a parent that is no shell with job control (as under `script`, or here, sh
// run by the test in a session of its own) leaves chat going: nothing could continue it.
// The line editor's own Ctrl-Z sent SIGTSTP to the parent too and waited for a SIGCONT that
// never came: chat froze, deaf to Ctrl-C.
func TestChat_InATerminalCtrlZWithNoShellToContinueItGoesOn(t *testing.T) {
	addr := server(t)
	chat := eliza(t, addr, t.TempDir(), "chat")
	cmd := exec.CommandContext(t.Context(), "sh", "-c", `"$@"; exit $?`, "sh", chat.Path, "chat")
	cmd.Env = chat.Env
	term := startTerminal(t, cmd)
	term.waitFor(regexp.MustCompile(`> `), 1)
	if _, err := term.tty.Write([]byte{0x1a}); err != nil { // Ctrl-Z
		t.Fatal(err)
	}
	term.typeLine("I feel sad")
	term.waitFor(answerOnScreen, 1)
	term.ctrlD()
}

// Ctrl-Z at a shell with job control stops chat's whole job, a wrapper it runs under (sh -c,
// make, go run) with it: the shell says it stopped and takes the terminal back, and fg
// continues both. Stopping chat alone left the wrapper waiting and the shell without its
// terminal.
func TestChat_InATerminalCtrlZStopsItsJobUntilFg(t *testing.T) {
	addr := server(t)
	chat := eliza(t, addr, t.TempDir(), "chat")
	shell := exec.CommandContext(t.Context(), "bash", "--norc", "--noprofile", "-i")
	shell.Env = slices.Concat(chat.Env, []string{"PS1=shell$ "})
	term := startTerminal(t, shell)
	term.typeLine(fmt.Sprintf(`sh -c '%q chat; echo wrapper-done'`, chat.Path))
	term.waitFor(regexp.MustCompile(`> `), 1)
	if _, err := term.tty.Write([]byte{0x1a}); err != nil { // Ctrl-Z
		t.Fatal(err)
	}
	term.waitFor(regexp.MustCompile(`Stopped\s+sh -c`), 1)
	term.typeLine("fg")
	term.typeLine("I feel sad")
	term.waitFor(answerOnScreen, 1)
	if _, err := term.tty.Write([]byte{4}); err != nil { // Ctrl-D: chat's end of input
		t.Fatal(err)
	}
	term.waitFor(regexp.MustCompile(`wrapper-done`), 1)
	term.waitFor(regexp.MustCompile(`shell\$ `), 3) // at the start, once stopped, once done
	term.typeLine("exit")
	if err := exited(t, shell, 10*time.Second, "after exit", term.screen); err != nil {
		t.Fatalf("the shell: %v", err)
	}
}

// Output to a file from a terminal reads plain lines, which the terminal echoes: line editing
// echoed what was typed to the file, with the sequences that redraw the line, and nothing to
// the terminal.
func TestChat_FromATerminalToAFileWritesTheConversationAlone(t *testing.T) {
	addr := server(t)
	cmd := eliza(t, addr, t.TempDir(), "chat")
	var printed proctest.Buffer
	cmd.Stdout = &printed
	term := startTerminal(t, cmd)
	term.typeLine("I feel sad")
	kafkatest.Eventually(t, 20*time.Second, func() bool { return answerOnScreen.MatchString(printed.String()) },
		func() string { return fmt.Sprintf("the file holds %q, want an answer", printed.String()) })
	if _, err := term.tty.Write([]byte{4}); err != nil { // Ctrl-D: the end of input
		t.Fatal(err)
	}
	if err := exited(t, cmd, 10*time.Second, "after Ctrl-D", printed.String); err != nil {
		t.Fatalf("chat after Ctrl-D: %v", err)
	}
	if out := printed.String(); strings.Contains(out, "\x1b") || strings.Contains(out, "> ") {
		t.Errorf("the file holds %q, want the conversation without a prompt or control sequences", out)
	}
	if !strings.Contains(term.screen(), "I feel sad") {
		t.Errorf("the terminal shows %q, want what was typed", term.screen())
	}
}

// exited waits up to within for cmd, started, to end and returns what Wait did. A cmd still
// running then is killed, and the test fails saying what it was still doing (still) and what
// it had printed.
func exited(t *testing.T, cmd *exec.Cmd, within time.Duration, still string, printed func() string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		_ = cmd.Process.Kill()
		t.Fatalf("chat still running %v on, %s:\n%s", within, still, printed())
		return nil
	}
}

// savedConversation is the conversation chat saved in state, "" if none.
func savedConversation(state string) string {
	b, err := os.ReadFile(filepath.Join(state, "eliza", "conversation.json"))
	var saved struct {
		Conversation string `json:"conversation"`
	}
	if err != nil || json.Unmarshal(b, &saved) != nil {
		return ""
	}
	return saved.Conversation
}

func TestChat_InATerminalContinuesTheConversationWhenTheFrontDoorIsKilledAndRestarted(t *testing.T) {
	s := proctest.StartConversations(t, &builds, stack.Require(t, stack.Postgres, stack.Kafka), "eliza-cli", nil, nil)
	state := t.TempDir()
	t.Cleanup(func() { s.Forget(savedConversation(state)) })
	term := startTerminal(t, eliza(t, s.RPC, state, "chat"))
	term.waitFor(regexp.MustCompile(`> `), 1)
	term.typeLine("I feel sad")
	term.waitFor(answerOnScreen, 1)

	s.FrontDoor.Signal(t, syscall.SIGKILL)
	s.FrontDoor.Wait(t, 10*time.Second)
	term.waitFor(regexp.MustCompile(`lost the server`), 1)
	s.StartFrontDoor()

	term.typeLine("my mother hates me")
	term.waitFor(answerOnScreen, 2)
	term.waitFor(regexp.MustCompile(`\[reconnected\]`), 1)
	term.typeLine("I dream of trains")
	term.waitFor(answerOnScreen, 3)
	// Events come in the conversation's order: anything repeated from before the restart
	// would be on screen before the answer to a fourth sentence.
	term.typeLine("my father is kind")
	term.waitFor(answerOnScreen, 4)
	screen := term.screen()
	if n := len(answerOnScreen.FindAllString(screen, -1)); n != 4 {
		t.Fatalf("%d answers on screen for four sentences, across a front-door restart:\n%q", n, screen)
	}
	if n := strings.Count(screen, "enqueued: "); n != 4 {
		t.Fatalf("%d enqueued lines for four sentences:\n%q", n, screen)
	}
}

func TestChat_ThroughAnOpenPipeLeavesAtOnceOnCtrlC(t *testing.T) {
	addr := server(t)
	cmd := eliza(t, addr, t.TempDir(), "chat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out proctest.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "I feel sad\n"); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 20*time.Second, func() bool { return replyLine.MatchString(out.String()) },
		func() string { return "no reply through the pipe:\n" + out.String() })
	// The input stays open: chat waits for the next line until Ctrl-C.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := exited(t, cmd, 5*time.Second, "waiting for input after Ctrl-C", out.String); err != nil {
		t.Fatalf("chat after Ctrl-C: %v", err)
	}
}

// An HTTPS front door (as behind a TLS-terminating ingress) whose certificate the system's
// roots must vouch for: Go reads the roots from SSL_CERT_FILE when it is set.
func TestSay_OverTLSTrustsTheSystemsRoots(t *testing.T) {
	srv := httptest.NewTLSServer(frontdoor.NewHandler(frontdoor.Options{
		Service: frontdoor.NewService(func() frontdoor.Responder { return elizabot.New(1) }),
		Health:  grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName),
		Metrics: frontdoor.NewMetrics(prometheus.NewRegistry()),
		Log:     slog.New(slog.DiscardHandler),
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := eliza(t, addr, t.TempDir(), "--tls", "say", "I feel sad")
	cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+roots)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("say over TLS: %q, %v", out, err)
	}

	cmd = eliza(t, addr, t.TempDir(), "--tls", "say", "I feel sad")
	cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+filepath.Join(t.TempDir(), "none.pem"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "certificate") {
		t.Fatalf("say over TLS to a server the roots do not vouch for: %v, %q; want a certificate error", err, stderr.String())
	}
}

// admin runs an administration command of eliza against the stack's Postgres and returns its
// standard output and standard error.
func admin(t *testing.T, ep stack.Endpoints, args ...string) (string, string) {
	t.Helper()
	cmd := eliza(t, proctest.FreeAddr(t), t.TempDir(), args...)
	cmd.Env = append(cmd.Env, "DATABASE_URL="+ep.DatabaseURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("eliza %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), stderr.String()
}

// chatOnce sends one sentence through eliza chat with token (none when empty) and returns
// what chat printed.
func chatOnce(t *testing.T, addr, token, sentence string) string {
	t.Helper()
	cmd := eliza(t, addr, t.TempDir(), "chat")
	cmd.Env = append(cmd.Env, "ELIZA_TOKEN="+token)
	cmd.Stdin = strings.NewReader(sentence + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	return string(out)
}

var idIn = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// A premium client's sentences go to the model, a free client's and the anonymous (free,
// here) caller's to the offline responder; a revoked token stops working; no token or hash appears in any log.
func TestClients_OnlyPremiumSentencesReachTheModel(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	model := fakeopenai.New()
	url, err := model.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	s := proctest.StartConversations(t, &builds, ep, "eliza-tiers",
		[]string{"OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=test-key"}, []string{"AUTH=optional", "ANONYMOUS_TIER=free"})

	out, stderr := admin(t, ep, "clients", "add", "--name", "test premium", "--tier", "premium")
	token := strings.TrimSpace(out)
	ids := idIn.FindAllString(stderr, -1)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(token, "eliza_") || len(ids) != 2 {
		t.Fatalf("clients add printed %q on stdout and %q on stderr; want the token alone on stdout, the ids on stderr", out, stderr)
	}
	clientID, tokenID := ids[0], ids[1]
	t.Cleanup(func() {
		if pool, err := pgxpool.New(context.Background(), ep.DatabaseURL); err == nil {
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, clientID)
			pool.Close()
		}
	})
	if list, _ := admin(t, ep, "clients", "list"); !strings.Contains(list, clientID) || strings.Contains(list, token) {
		t.Fatalf("clients list does not show the client, or shows its token:\n%s", list)
	}

	if out := chatOnce(t, s.RPC, "", "I feel sad"); !replyLine.MatchString(out) || strings.Contains(out, "echo:") {
		t.Fatalf("an anonymous sentence with ANONYMOUS_TIER=free got, want the offline responder's answer:\n%s", out)
	}
	if n := model.Count(); n != 0 {
		t.Fatalf("the model was called %d times for an anonymous free sentence", n)
	}
	freeOut, freeErr := admin(t, ep, "clients", "add", "--name", "test free")
	freeID := idIn.FindString(freeErr)
	t.Cleanup(func() {
		if pool, err := pgxpool.New(context.Background(), ep.DatabaseURL); err == nil {
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, freeID)
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.usage WHERE client = $1`, freeID)
			pool.Close()
		}
	})
	if out := chatOnce(t, s.RPC, strings.TrimSpace(freeOut), "I feel free"); !replyLine.MatchString(out) || strings.Contains(out, "echo:") {
		t.Fatalf("a free client's sentence got, want the offline responder's answer:\n%s", out)
	}
	if out := chatOnce(t, s.RPC, token, "I feel premium"); !strings.Contains(out, "eliza: echo: I feel premium") {
		t.Fatalf("a premium client's sentence got, want the model's answer:\n%s", out)
	}
	if reqs := model.Requests(); len(reqs) != 1 {
		t.Fatalf("the model saw %d requests, want the premium sentence alone", len(reqs))
	}
	// The worker counted the call's tokens for the client (once), for its tokens per day.
	var tokens, calls int64
	pool, err := pgxpool.New(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	t.Cleanup(func() { // before the pool closes
		_, _ = pool.Exec(context.Background(), `DELETE FROM access.model_call WHERE client = $1`, clientID)
		_, _ = pool.Exec(context.Background(), `DELETE FROM access.daily_tokens WHERE client = $1`, clientID)
		_, _ = pool.Exec(context.Background(), `DELETE FROM access.usage WHERE client = $1`, clientID)
	})
	if err := pool.QueryRow(t.Context(), `SELECT coalesce(sum(tokens), 0), coalesce(sum(calls), 0) FROM access.daily_tokens WHERE client = $1`,
		clientID).Scan(&tokens, &calls); err != nil || calls != 1 || tokens <= 0 {
		t.Fatalf("the premium client's model usage today: %d tokens in %d calls (%v), want the one call's", tokens, calls, err)
	}

	// Usage, as the client reads it: counted in memory, written every 2 s.
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		cmd := eliza(t, s.RPC, t.TempDir(), "usage")
		cmd.Env = append(cmd.Env, "ELIZA_TOKEN="+token)
		out, err := cmd.Output()
		fields := strings.Fields(lastLine(string(out)))
		// DAY QUEUED MODEL-CALLS PROMPT COMPLETION REFUSALS CALLS...
		return err == nil && len(fields) > 6 && fields[1] == "1" && fields[2] == "1" && strings.Contains(string(out), "Send/ok=1")
	}, func() string {
		out, _ := eliza(t, s.RPC, t.TempDir(), "--token", token, "usage").CombinedOutput()
		return "eliza usage does not show the one sentence queued and answered by the model:\n" + string(out)
	})
	anonymous := eliza(t, s.RPC, t.TempDir(), "usage")
	var denied strings.Builder
	anonymous.Stderr = &denied
	if err := anonymous.Run(); err == nil || !strings.Contains(denied.String(), "permission_denied") {
		t.Fatalf("usage without a token: %v, %q; want permission_denied", err, denied.String())
	}

	admin(t, ep, "tokens", "revoke", tokenID)
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		cmd := eliza(t, s.RPC, t.TempDir(), "say", "hello")
		cmd.Env = append(cmd.Env, "ELIZA_TOKEN="+token)
		var e strings.Builder
		cmd.Stderr = &e
		return cmd.Run() != nil && strings.Contains(e.String(), "unauthenticated")
	}, func() string { return "the revoked token still works" })

	sum := sha256.Sum256([]byte(token))
	for name, logs := range map[string]string{"front door": s.FrontDoor.Output(), "dispatcher": s.Dispatcher.Output()} {
		for _, secret := range []string{token, token[len("eliza_"):], hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:])} {
			if strings.Contains(logs, secret) {
				t.Errorf("the %s's log shows the token or its hash", name)
			}
		}
	}
}

// Without a model API the offline responder answers a premium client's sentences too, and
// that is no model call: GetUsage counted one (of no tokens) for each.
func TestClients_TheOfflineResponderIsNoModelCall(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	s := proctest.StartConversations(t, &builds, ep, "eliza-offline", nil, []string{"AUTH=required"})
	out, stderr := admin(t, ep, "clients", "add", "--name", "test offline premium", "--tier", "premium")
	token, clientID := strings.TrimSpace(out), idIn.FindString(stderr)
	t.Cleanup(func() {
		if pool, err := pgxpool.New(context.Background(), ep.DatabaseURL); err == nil {
			for _, table := range []string{"access.usage", "access.model_call", "access.daily_tokens"} {
				_, _ = pool.Exec(context.Background(), `DELETE FROM `+table+` WHERE client = $1`, clientID)
			}
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, clientID)
			pool.Close()
		}
	})
	if out := chatOnce(t, s.RPC, token, "I feel premium"); !replyLine.MatchString(out) {
		t.Fatalf("a premium client's sentence without a model API got, want the offline responder's answer:\n%s", out)
	}
	var usage string
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		out, err := eliza(t, s.RPC, t.TempDir(), "--token", token, "usage").Output()
		usage = string(out)
		fields := strings.Fields(lastLine(usage))
		// DAY QUEUED MODEL-CALLS PROMPT COMPLETION REFUSALS CALLS...
		return err == nil && len(fields) > 6 && fields[1] == "1"
	}, func() string { return "eliza usage does not show the sentence queued:\n" + usage })
	if fields := strings.Fields(lastLine(usage)); fields[2] != "0" || fields[3] != "0" || fields[4] != "0" {
		t.Fatalf("usage:\n%s\nwant no model call, no tokens", usage)
	}
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// A caller the server refuses (no token where one is needed, or one it does not know) is told
// so once, and chat ends: it neither retries nor waits for answers it cannot show, nor for
// lines that would be refused the same, and a script sees the failure in the exit status.
func TestChat_ARefusedCallerIsToldOnceAndChatFails(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	s := proctest.StartConversations(t, &builds, ep, "eliza-refused", nil, []string{"AUTH=required"})
	noToken := eliza(t, s.RPC, t.TempDir(), "chat")
	noToken.Env = append(noToken.Env, "ELIZA_TOKEN=")
	noToken.Stdin = strings.NewReader("I feel sad\nmy mother hates me\n")
	out, err := endsWithin(t, noToken, 30*time.Second)
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 || strings.Count(out, "not sent: unauthenticated") != 1 {
		t.Fatalf("chat with no token where one is needed: %v, want exit status 1 and the first line not sent:\n%s", err, out)
	}
	// With the input left open, the watch's refusal is said once, not retried, and chat ends
	// without waiting for the end of input.
	cmd := eliza(t, s.RPC, t.TempDir(), "chat", "--conversation", "3f0c7a2e-9b1d-4e6f-8a5c-2d7e9f1b3c4a")
	cmd.Env = append(cmd.Env, "ELIZA_TOKEN=eliza_not-a-token")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var screen proctest.Buffer
	cmd.Stdout, cmd.Stderr = &screen, &screen
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	err = exited(t, cmd, 20*time.Second, "with an unknown token, its input open", screen.String)
	refusal := "refused to follow the conversation ("
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 || strings.Count(screen.String(), refusal) != 1 {
		t.Fatalf("chat with an unknown token: %v, want exit status 1 and the refusal said once:\n%s", err, screen.String())
	}
}

// A byte that is not UTF-8 typed at a terminal (one set to Latin-1) is refused with its line,
// as from a pipe: the line editor read it as U+FFFD, and chat sent that. A U+FFFD typed as
// itself is text like any other.
func TestChat_InATerminalRefusesALineTypedInAnotherEncoding(t *testing.T) {
	term := startTerminal(t, eliza(t, server(t), t.TempDir(), "chat"))
	term.waitFor(regexp.MustCompile(`> `), 1)
	term.typeLine("caf\xe9 au lait")
	term.waitFor(regexp.MustCompile(regexp.QuoteMeta("[not sent: \"caf\ufffd au lait\": not UTF-8 text, which is all a sentence can be (the terminal sent bytes that are not")), 1)
	// An escape sequence ending in such a byte (Alt-[ then é, at that terminal) is the line
	// editor's: it did not put the U+FFFDs after it out of step.
	if _, err := term.tty.Write([]byte("\x1b[\xe9")); err != nil {
		t.Fatal(err)
	}
	term.typeLine("caf\u00e9 \ufffd au lait")
	term.waitFor(answerOnScreen, 1)
	if n := strings.Count(term.screen(), "not sent"); n != 1 {
		t.Errorf("%d lines not sent, want only the first:\n%q", n, term.screen())
	}
	if _, err := term.tty.Write([]byte{4}); err != nil { // Ctrl-D: the end of input
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := exited(t, term.cmd, 10*time.Second, "after Ctrl-D", term.screen); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("chat after Ctrl-D: %v, want exit status 1, for the line not sent", err)
	}
}
