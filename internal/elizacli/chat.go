package elizacli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/chzyer/readline"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/sleep"
	"github.com/beacon/eventdispatch/internal/visible"
)

// answerWait bounds how long chat waits, at the end of input, for the answers still due:
// longer than the dispatcher's default LLM_MAX_JOB_AGE (2m), so that the error a job it gives
// up on gets (the assistant unavailable) is printed, not lost to the wait running out as it
// comes.
const answerWait = 3 * time.Minute

// historyWait bounds how long chat waits, at the end of input, to hear where the history of a
// conversation it continues ends (frontdoor.HeaderLastSerial): the server unreachable, or one
// from before the header, which sends its headers only with its first event.
var historyWait = 10 * time.Second

func newChat(srv *server) *cobra.Command {
	var conversation string
	var resume bool
	cmd := &cobra.Command{
		Use:   "chat [--conversation ID] [--resume]",
		Short: "Hold a queued conversation, a line at a time",
		Long: "chat sends each line you type as a sentence of the conversation and prints its events as they come: " +
			"\"enqueued\", \"queue is full!\", the replies and errors. It reconnects when the server goes away and " +
			"misses nothing. --resume continues the last conversation of this token (kept in $XDG_STATE_HOME/eliza), " +
			"on the server it was held with unless --addr or ELIZA_ADDR names one; --conversation " +
			"a given one (or starts one with that id). Ctrl-D (or the end of a pipe) prints the history of a conversation " +
			"continued and waits for the answers still due (those saved when the last chat ended too), then exits, with " +
			"status 1 when a line was not queued (refused, or not sent), an answer due was an error or will not come (its " +
			"conversation was lost), the conversation continued is not on the server and no line started another, or the " +
			"waits ran out (3 minutes for answers, 10 s for the history); Ctrl-C, SIGINT or SIGTERM exits at once, with " +
			"status 0. A token the server refuses ends chat at once, with status 1. --conversation takes the place " +
			"--resume continues once a line is sent to it: printing a conversation leaves the place as it was.",
		Args: withUsage(noArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Before the place saved for the token is looked for: a token that cannot be one
			// has none, and --resume would say that instead.
			if err := srv.checkToken(); err != nil {
				return err
			}
			c := &chat{srv: srv, changed: make(chan struct{}, 1), pending: map[string]bool{}, resumed: map[string]bool{},
				done: map[string]bool{}, errored: map[string]bool{}, sent: map[string]bool{}, failed: map[string]bool{}, enqueued: map[string]uint64{}}
			c.place, c.placeErr = statePath(srv.bearer())
			switch {
			case conversation != "" && resume:
				return usageError{errors.New("give --conversation or --resume, not both")}
			case resume:
				s, ok, err := c.load()
				if err != nil {
					return err
				}
				if !ok {
					return nothingToResume(srv)
				}
				if !cmd.Flag("addr").Changed && os.Getenv("ELIZA_ADDR") == "" && s.Addr != "" {
					srv.addr = s.Addr // no server named: the one it was held with
				}
				c.conv, c.last, c.asked, c.keep = s.Conversation, s.Serial, s.Conversation, true
				c.due(s.Due)
				c.heldElsewhere = elsewhere(s, srv)
			case conversation != "":
				id, err := uuid.Parse(conversation)
				if err != nil || id == uuid.Nil {
					return fmt.Errorf("--conversation %q: a conversation id is a UUID, not the nil one", conversation)
				}
				// As the server writes it (lower case, no braces or urn:uuid:), so that its
				// events are found to be this conversation's.
				c.conv, c.asked = id.String(), id.String()
				if s, ok, _ := c.load(); ok && s.Conversation == c.conv {
					c.last, c.heldElsewhere, c.keep = s.Serial, elsewhere(s, srv), true
					c.due(s.Due)
				}
			}
			client, err := srv.client()
			if err != nil {
				return err
			}
			c.client = client
			return c.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&conversation, "conversation", "", "join the conversation with this id")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue the last conversation")
	return cmd
}

// nothingToResume is the error of a --resume with no place saved for token. With a token, the
// place saved without one may be this token's: before places were kept per token (10430dc)
// every conversation was saved there, and after an upgrade the token's own file is missing.
// Which token started it is not in the file, so chat names it rather than try it.
func nothingToResume(srv *server) error {
	const none = "no conversation to resume: start one with `eliza chat`"
	if srv.bearer() == "" {
		return errors.New(none)
	}
	path, err := statePath("")
	if err != nil {
		return errors.New(none)
	}
	if s, ok, _ := load(path); ok {
		addr := "" // --conversation goes where --addr or ELIZA_ADDR says, not where it was held
		if s.Addr != "" && s.Addr != srv.addr {
			addr = "--addr " + s.Addr + " "
		}
		return fmt.Errorf("no conversation saved for this token; the one saved without a token (where an eliza "+
			"before 2026-12-06 saved every token's) is %s: `eliza chat %s--conversation %s` continues it if this token started it",
			s.Conversation, addr, s.Conversation)
	}
	return errors.New(none)
}

// elsewhere is the server a saved conversation was held with when chat continues it on
// another: "" when it is the same (or the file predates addr). Chat says so and tries it
// anyway, since front doors that share a database share its conversations (a load
// balancer's address and a replica's, localhost and a port-forward); one that does not have
// it says so, and the next sentence starts a new conversation.
func elsewhere(s saved, srv *server) string {
	if s.Addr == srv.addr {
		return ""
	}
	return s.Addr
}

// chat is one `eliza chat`.
type chat struct {
	client elizav1connect.ElizaServiceClient
	srv    *server
	out    io.Writer
	// heldElsewhere is the server the conversation continued was held with, when it is
	// another (elsewhere): said first.
	heldElsewhere string

	// place is the file of the saved conversation of this chat's token (statePath), or
	// placeErr why there is none.
	place      string
	placeErr   error
	saveMu     sync.Mutex // held by save
	saveFailed bool       // the last save failed, and said so (under saveMu)
	mu         sync.Mutex
	conv       string
	last       uint64          // the last event printed
	pending    map[string]bool // jobs enqueued whose outcome has not been printed
	// resumed are those of pending that the saved place said were due (due): not sentences
	// of this chat, so they say nothing of the conversation being on the server.
	resumed map[string]bool
	done    map[string]bool // jobs whose outcome has been printed (it may come before Send returns)
	errored map[string]bool // those of done whose outcome was an error
	sent    map[string]bool // jobs this chat's sentences were queued as
	// enqueued holds the serial of each "enqueued" printed, by job: the watch often prints a
	// sentence's before Send returns.
	enqueued map[string]uint64
	// sentUpTo is the serial of the last "enqueued" a Send of this chat's conversation
	// answered: a refusal is printed once the watch has printed it (awaitPrinted).
	sentUpTo   uint64
	unwatch    context.CancelFunc // ends the watch of conv; nil when there is none
	watching   sync.WaitGroup     // the watches running: run waits for them, and their saves, to end
	unqueued   int                // lines not queued: refused, or not sent
	unanswered int                // answers due that will not come: their conversation was lost
	failed     map[string]bool    // answers due that were errors: this chat's, or due when it began
	// asked is the conversation chat was started on (--resume, --conversation) until a
	// sentence gets through, and missing whether the server did not have it: the end of input
	// then fails, as a script printing a conversation should see.
	asked   string
	missing bool
	// keep is whether the conversation takes the saved place (--resume's): it is the one
	// saved, or this chat has sent it a sentence. A conversation only printed
	// (--conversation, and no line) leaves the place of the last one held.
	keep    bool
	refused bool // the server refused the caller, and chat has said so: it ends (quit)
	// away is whether chat has said it lost the server, and not yet that it is back: the watch
	// says so when it reconnects, and a Send that finds the server back first says it too.
	// losses counts the times it said it lost it: a Send sent before the last of them that is
	// answered after says nothing of the server now.
	away    bool
	losses  uint64
	quit    context.CancelFunc // ends the wait for the next line
	changed chan struct{}      // a value after each event printed, or answers due given up (notify)
	// catchingUp is set while chat, started on a conversation (--resume, --conversation), has
	// not yet heard where its history ends; history is that serial, once heard: the end of
	// input waits until the history is printed, and the answers due in it (historyWait at
	// most for where it ends).
	catchingUp bool
	history    uint64
	reached    bool // a watch has had an answer from the server
}

// watchEnd bounds how long chat, ending, waits for its watches to end.
const watchEnd = 2 * time.Second

// errRefused ends chat once the server has refused the caller: every line after would be
// refused the same, and chat has said why.
var errRefused = errors.New("the server refused the caller (see above)")

// run reads lines until the end of input, ctx (Ctrl-C) or the server refusing the caller.
func (c *chat) run(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.quit = cancel
	lines, print, closeInput, err := input(ctx, in, out)
	if err != nil {
		return err
	}
	defer closeInput()
	// Chat ends once its watches have, or after watchEnd: one still printing an event could
	// otherwise save its place after chat returned (as the process exits, or as a test
	// removes the directory). A watch stuck writing to an output nobody reads (a pager left
	// open) does not hold up Ctrl-C longer.
	defer func() {
		cancel()
		ended := make(chan struct{})
		go func() { c.watching.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(watchEnd):
		}
	}()
	c.out = print
	if c.heldElsewhere != "" {
		c.say("conversation %s was held with %s: %s has it only if it shares that server's conversations", c.conv, c.heldElsewhere, c.srv.addr)
	}
	if c.conv != "" {
		c.say("conversation %s (after event %d)", c.conv, c.last)
		c.catchingUp = true
		c.watch(ctx)
	}
	for {
		line, err := lines()
		c.mu.Lock()
		refused := c.refused
		c.mu.Unlock()
		if refused { // before a line read as the refusal came
			return errRefused
		}
		switch {
		case errors.Is(err, readline.ErrInterrupt) || ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return c.end(ctx)
		case errors.Is(err, errLineTooLong) || errors.Is(err, errTypedNotUTF8):
			c.mu.Lock()
			c.unqueued++ // a line not queued, as one refused for its length
			conv := c.conv
			c.mu.Unlock()
			c.awaitPrinted(ctx, conv)
			c.say("%v", err)
			continue
		case err != nil:
			return err
		}
		// A line of nothing but spaces, control and format characters (a zero-width space)
		// is blank, as the server has it: skipped, not sent to be refused.
		if line = strings.TrimSpace(line); !visible.Blank(line) {
			c.send(ctx, line)
		}
	}
}

// isTerminal reports whether v, chat's input or output, is a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && readline.IsTerminal(int(f.Fd()))
}

// screenWidth is the terminal's width for the line editor, 80 columns when the terminal says
// 0 (a pseudo-terminal given no size, as `script` from a pipe makes): at width 0 the editor
// looped for ever on the first key that moved the cursor left, deaf to Ctrl-C.
func screenWidth() int {
	if w := readline.GetScreenWidth(); w > 0 {
		return w
	}
	return 80
}

// input returns a function reading one line at a time, a writer for everything printed and a
// closer: line editing and history (kept across runs, beside the saved conversation) when
// both ends are a terminal, plain lines otherwise (a pipe), read in a goroutine of their own
// so that ctx (Ctrl-C) ends a wait for the next one. Output to a file or a pipe from a
// terminal is no place for line editing: it echoes what is typed, with the control sequences
// that redraw the line, to the output and not the terminal, where the typing was then blind;
// read as plain lines, the terminal echoes them itself.
func input(ctx context.Context, in io.Reader, out io.Writer) (next func() (string, error), print io.Writer, closeInput func(), err error) {
	if isTerminal(in) && isTerminal(out) {
		history, err := historyPath()
		if err != nil {
			// As for the saved conversation, a place that cannot be written is said, and chat
			// goes on: the lines typed are then not kept for the next run.
			fmt.Fprintf(out, "[%v: the lines typed are not kept for the next chat]\n", err)
			history = ""
		}
		// Cancelable, so that closing the line editor ends a read in progress; watched for
		// bytes that are not UTF-8, which the editor reads as U+FFFD.
		stdin := &utf8Watch{ReadCloser: readline.NewCancelableStdin(in.(*os.File))}
		var notUTF8 atomic.Bool // the line being edited had a byte that is not UTF-8 (set by the editor's goroutine)
		// History is saved by hand: a blank line (skipped, not sent) is not kept.
		var rl *readline.Instance
		rl, err = readline.NewEx(&readline.Config{Prompt: "> ", Stdin: stdin, Stdout: out, HistoryFile: history, HistoryLimit: 500,
			DisableAutoSaveHistory: true, FuncGetWidth: screenWidth,
			// Ctrl-Z is chat's to handle: the editor's own sent SIGTSTP to chat's parent too,
			// then waited for a SIGCONT. A parent that is no shell with job control (`script`,
			// say) was stopped by it, or no SIGCONT ever came, and chat froze, deaf to Ctrl-C.
			FuncFilterInputRune: func(r rune) (rune, bool) {
				if r == utf8.RuneError && stdin.took() {
					notUTF8.Store(true)
				}
				if r != readline.CharCtrlZ {
					return r, true
				}
				rl.Clean()
				_ = rl.Terminal.ExitRawMode()
				suspend()
				_ = rl.Terminal.EnterRawMode()
				return r, false // the editor draws the line again
			}})
		if err != nil {
			_ = stdin.Close()
			return nil, nil, nil, fmt.Errorf("terminal: %w", err)
		}
		var once sync.Once
		closeRL := func() {
			once.Do(func() {
				_ = stdin.Close()
				_ = rl.Close()
			})
		}
		// The line editor reads keys, Ctrl-C among them, in raw mode: ctx ending (a signal, or
		// the server refusing the caller) would not end its wait for a line, so it closes it,
		// which also gives the terminal back.
		stop := context.AfterFunc(ctx, closeRL)
		next = func() (string, error) {
			line, err := rl.Readline()
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if notUTF8.Swap(false) && err == nil && strings.ContainsRune(line, utf8.RuneError) {
				// Sent as the editor read it, the line would carry a U+FFFD for each such
				// byte; as from a pipe, it is refused instead.
				return "", fmt.Errorf("not sent: %q: %w", line, errTypedNotUTF8)
			}
			if err == nil && !visible.Blank(strings.TrimSpace(line)) {
				_ = rl.SaveHistory(line) // not kept for the next run, at worst
			}
			return line, err
		}
		return next, rl.Stdout(), func() { stop(); closeRL() }, nil
	}
	type line struct {
		text string
		err  error
	}
	lines := make(chan line)
	go func() {
		r := bufio.NewReader(in)
		for {
			text, err := readLine(r)
			select {
			case lines <- line{text: text, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !errors.Is(err, errLineTooLong) {
				return
			}
		}
	}()
	next = func() (string, error) {
		select {
		case l := <-lines:
			return l.text, l.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return next, &lockedWriter{w: out}, func() {}, nil
}

// errTypedNotUTF8 is a line typed at a terminal with bytes that are not UTF-8 (a terminal set
// to Latin-1, say), which the line editor shows as U+FFFD: not sent, as from a pipe.
var errTypedNotUTF8 = fmt.Errorf("%w (the terminal sent bytes that are not, shown as \uFFFD: is its encoding UTF-8?)", errNotUTF8)

// utf8Watch notes, for each U+FFFD in its reader's bytes as a reader of runes
// (bufio.Reader.ReadRune) decodes them, whether it was a byte that is not UTF-8 (each such
// byte is a U+FFFD of its own) or a U+FFFD sent as itself; took says which the next one was.
// It follows the line editor's escape sequences: the rune that ends one after ESC [ or ESC O
// is the editor's, never filtered, and a U+FFFD there is not noted (noted, it would have put
// every later one out of step).
type utf8Watch struct {
	io.ReadCloser
	partial []byte // the start of a rune that the next read ends
	esc     escState
	mu      sync.Mutex
	fffd    []bool // the U+FFFDs read and not yet taken, in order: true for a byte not UTF-8
}

// escState is where a reader of keys is in an escape sequence.
type escState int

const (
	plain    escState = iota
	afterEsc          // ESC read
	inKey             // ESC [ or ESC O read, and digits or ';' since: the next other rune ends it
)

// next is the state after r, and whether r is the editor's own, the end of a sequence.
func (e escState) next(r rune) (escState, bool) {
	switch {
	case e == afterEsc && (r == '[' || r == 'O'):
		return inKey, false
	case e == inKey && (r == ';' || r >= '0' && r <= '9'):
		return inKey, false
	case e == inKey:
		return plain, true
	case r == 0x1b:
		return afterEsc, false
	}
	return plain, false
}

func (w *utf8Watch) Read(p []byte) (int, error) {
	n, err := w.ReadCloser.Read(p)
	w.partial = append(w.partial, p[:n]...)
	b := w.partial
	for len(b) > 0 && utf8.FullRune(b) {
		r, size := utf8.DecodeRune(b)
		var ends bool
		w.esc, ends = w.esc.next(r)
		if r == utf8.RuneError && !ends {
			w.mu.Lock()
			w.fffd = append(w.fffd, size == 1)
			w.mu.Unlock()
		}
		b = b[size:]
	}
	w.partial = append(w.partial[:0:0], b...)
	return n, err
}

// took reports whether the next U+FFFD read was a byte that is not UTF-8.
func (w *utf8Watch) took() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.fffd) == 0 {
		return false
	}
	notUTF8 := w.fffd[0]
	w.fffd = w.fffd[1:]
	return notUTF8
}

// maxLine bounds a line read from a pipe: far longer than a sentence can be (the front door
// takes 1,024 bytes), and short enough that input of one endless line does not fill memory.
const maxLine = 64 << 10

// errLineTooLong is a line longer than maxLine, skipped: the lines after it are read on.
var errLineTooLong = fmt.Errorf("not sent: a line of more than %d KiB, far longer than a sentence can be", maxLine>>10)

// readLine reads the next line of r, without its end ("\n" or "\r\n"); the last line may have
// none. A line longer than maxLine is read to its end and dropped, as errLineTooLong.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	long := false
	for {
		chunk, err := r.ReadSlice('\n')
		if !long {
			b = append(b, chunk...)
			if long = len(b) > maxLine+len("\r\n"); long {
				b = nil
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		switch {
		case (long || len(text) > maxLine) && (err == nil || errors.Is(err, io.EOF)):
			return "", errLineTooLong
		case err != nil && len(b) == 0 && !long:
			return "", err
		}
		return text, nil
	}
}

// lockedWriter lets the watcher and the input loop print whole lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// say prints a line of the client's own, in brackets.
func (c *chat) say(format string, args ...any) {
	fmt.Fprintf(c.out, "["+format+"]\n", args...)
}

// send sends one sentence and prints a refusal, with the sentence refused: "enqueued" and what
// follows come through the watch, in the conversation's order, and a refusal printed among
// them would otherwise seem to be about the last sentence shown.
func (c *chat) send(ctx context.Context, sentence string) {
	c.mu.Lock()
	conv, after, losses := c.conv, c.last, c.losses
	if !utf8.ValidString(sentence) {
		c.unqueued++
		c.mu.Unlock()
		c.awaitPrinted(ctx, conv)
		c.say("not sent: %v: %q", errNotUTF8, sentence)
		return
	}
	c.mu.Unlock()
	// With the last serial printed, a conversation swept away meanwhile is NotFound, not
	// started again under its id.
	callCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	res, err := c.client.Send(callCtx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: sentence, AfterSerial: after}))
	cancel()
	err = unanswered(err, sendTimeout, c.srv)
	c.answered(losses, err)
	if err != nil && conv != "" && connect.CodeOf(err) == connect.CodeNotFound {
		// The conversation expired, or was swept away, while its watch had nothing to say (an
		// idle watch is not told), or the server came back without it before the watch, which
		// had lost the server, came back itself: it is given up as the watch gives up one it
		// finds gone, and this sentence starts a new one.
		c.mu.Lock()
		due, told := 0, c.conv != conv // the watch found it gone first, and said so
		if !told {
			due = c.forgetLocked()
		}
		c.mu.Unlock()
		c.notify()
		if !told {
			c.say("conversation %s cannot be continued (%v)%s: %q starts a new conversation", conv, describe(err, c.srv), dueNote(due), sentence)
		}
		c.forgetSaved(conv)
		c.send(ctx, sentence)
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return // chat is ending (Ctrl-C, a signal, the caller refused): nothing to say of it
		}
		c.mu.Lock()
		c.unqueued++
		c.mu.Unlock()
		c.awaitPrinted(ctx, conv)
		c.say("not sent: %v: %q", describe(err, c.srv), sentence)
		if refusesCaller(err) {
			c.refuse()
		}
		return
	}
	m := res.Msg
	if m.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		c.awaitPrinted(ctx, conv)
		c.mu.Lock()
		c.unqueued++
		c.mu.Unlock()
		if m.GetJobId() != "" {
			c.say("%s (job %s): %q", m.GetSentence(), m.GetJobId(), sentence)
		} else {
			c.say("%s: %q", m.GetSentence(), sentence)
		}
		return
	}
	c.mu.Lock()
	switch s := m.GetSerial(); {
	case conv != "" && c.conv != conv:
		// The watch found the conversation gone while this Send was on its way, and chat has
		// said that the next sentence starts a new one: this one went into a conversation
		// the server started under the old id, which chat no longer follows. Sent again, it
		// starts the new one.
		c.mu.Unlock()
		c.send(ctx, sentence)
		return
	case s != 0 && s <= c.last && c.enqueued[m.GetJobId()] != s:
		// Serials only grow, and the event chat printed at s was not this sentence's own
		// "enqueued" (which the watch may print before Send returns): the server no longer
		// had the conversation (a restart that lost it, or its expiry), and this sentence
		// started it again under the same id. Continuing it under that id would mix two
		// conversations in one (a --resume where the old one is still kept would replay
		// events already seen): the sentence starts a new one instead, as after lost.
		due := c.forgetLocked()
		c.mu.Unlock()
		c.notify() // the end of input stops waiting for answers that will not come
		c.say("conversation %s was no longer on the server%s: %q starts a new conversation", conv, dueNote(due), sentence)
		c.forgetSaved(conv)
		c.send(ctx, sentence)
		return
	}
	c.sent[m.GetJobId()] = true
	if !c.done[m.GetJobId()] {
		c.pending[m.GetJobId()] = true
	} else if c.errored[m.GetJobId()] {
		c.failed[m.GetJobId()] = true // printed before Send returned, so not yet known as this chat's
	}
	c.sentUpTo = max(c.sentUpTo, m.GetSerial())
	c.conv = m.GetConversationId()
	c.asked, c.missing, c.keep = "", false, true
	c.mu.Unlock()
	if conv == "" {
		c.say("conversation %s", m.GetConversationId())
	}
	c.save()     // with this answer due, for a resume after chat is stopped
	c.watch(ctx) // once the watch has been given up (lost), a sentence that got through restarts it
}

// answers is "1 answer", "2 answers".
func answers(n int) string {
	if n == 1 {
		return "1 answer"
	}
	return fmt.Sprintf("%d answers", n)
}

// dueNote is what lost and send say of the answers due that will not come, if any.
func dueNote(due int) string {
	if due == 0 {
		return ""
	}
	return fmt.Sprintf("; %s due will not come", answers(due))
}

// forgetLocked drops the conversation, which the server no longer has: its watch ends, the
// answers due will not come (it returns how many), and the next sentence starts a new one.
func (c *chat) forgetLocked() (due int) {
	for job := range c.pending {
		if !c.done[job] { // an answer being printed is not one that will not come
			due++
		}
	}
	c.unanswered += due
	clear(c.pending)
	clear(c.resumed)
	c.conv, c.last, c.sentUpTo = "", 0, 0
	c.unwatchLocked()
	return due
}

// refusalWait bounds how long a refusal waits for the watch to print the sentences sent
// before it.
const refusalWait = time.Second

// awaitPrinted waits, at most refusalWait, until the watch of conv has printed the "enqueued"
// of every sentence this chat sent to it before: a line's refusal (Send's answer, or chat's
// own "not sent") printed before an earlier line's "enqueued" (the watch's) reads as if the
// earlier line were refused.
func (c *chat) awaitPrinted(ctx context.Context, conv string) {
	deadline := time.Now().Add(refusalWait)
	for {
		c.mu.Lock()
		caughtUp := c.conv != conv || c.last >= c.sentUpTo
		c.mu.Unlock()
		if caughtUp || time.Now().After(deadline) || sleep.For(ctx, 10*time.Millisecond) != nil {
			return
		}
	}
}

// unwatchLocked ends the conversation's watch, if there is one, and with it the wait for the
// conversation's history.
func (c *chat) unwatchLocked() {
	c.catchingUp, c.history = false, 0
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
}

// watch follows the conversation from the last event printed until ctx ends or chat gives it
// up (unwatchLocked), reconnecting with backoff when the stream breaks. It starts once per
// conversation.
func (c *chat) watch(ctx context.Context) {
	c.mu.Lock()
	if c.unwatch != nil || c.conv == "" {
		c.mu.Unlock()
		return
	}
	conv := c.conv
	ctx, c.unwatch = context.WithCancel(ctx)
	c.mu.Unlock()
	c.watching.Add(1)
	go func() {
		defer c.watching.Done()
		wait := 100 * time.Millisecond
		for ctx.Err() == nil {
			c.mu.Lock()
			after := c.last
			c.mu.Unlock()
			stream, err := c.client.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv, AfterSerial: after}))
			if err == nil {
				header := stream.ResponseHeader()
				c.caughtUpTo(conv, header)
				if header.Get(frontdoor.HeaderLastSerial) != "" {
					// The server sends it as the watch begins: back, even with nothing new to show.
					c.back()
				}
				for stream.Receive() {
					c.back()
					wait = 100 * time.Millisecond
					c.print(conv, stream.Msg())
				}
				err = stream.Err()
				_ = stream.Close()
			}
			if ctx.Err() != nil {
				return
			}
			if refusesCaller(err) {
				// Retrying will not help until the token changes, or the client is enabled
				// again. (Not --resume: another token has a saved place of its own.)
				then := "with a valid token (--token or ELIZA_TOKEN), `eliza chat --conversation %s` continues it"
				if connect.CodeOf(err) == connect.CodePermissionDenied {
					then = "once this token's client is enabled again, `eliza chat --conversation %s` continues it"
				}
				c.say("the server refused to follow the conversation (%v): "+then, describe(err, c.srv), conv)
				c.refuse()
				return
			}
			switch connect.CodeOf(err) {
			case connect.CodeNotFound, connect.CodeInvalidArgument:
				c.back() // the server is back, without the conversation
				if c.lost(conv, err) {
					return
				}
				// A sentence got through since the watch began: the conversation is there now.
				if sleep.For(ctx, wait) != nil {
					return
				}
				continue
			}
			c.mu.Lock()
			if !c.away { // said under the lock, so that no "reconnected" comes before it
				c.away = true
				c.losses++
				c.say("lost the server (%v); reconnecting", describe(err, c.srv))
			}
			c.mu.Unlock()
			if sleep.For(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
}

// back says that the server is back, once, when chat has said it lost it: the watch heard
// from it.
func (c *chat) back() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backLocked()
}

// backLocked is back with c.mu held.
func (c *chat) backLocked() {
	if c.away {
		c.away = false
		c.say("reconnected")
	}
}

// answered is back for a Send sent when chat had said it lost the server losses times, and
// answered (err nil, or the server's own error): one sent before the server was lost says
// nothing of it now.
func (c *chat) answered(losses uint64, err error) {
	if err != nil && (!connect.IsWireError(err) || connect.CodeOf(err) == connect.CodeUnavailable) {
		return // no answer, or the server's Unavailable, which is what the watch calls lost
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.losses == losses {
		c.backLocked()
	}
}

// caughtUpTo records where the history of conv ends, as the first watch that the server
// answered heard it (its response header, sent before any event): the end of input waits
// until chat has printed that far. A server from before the header sends its headers with
// its first event, and chat stops waiting for the history's end then (print); an error's
// headers (the conversation unknown, the caller refused) leave it to what handles the error.
func (c *chat) caughtUpTo(conv string, header http.Header) {
	n, err := strconv.ParseUint(header.Get(frontdoor.HeaderLastSerial), 10, 64)
	c.mu.Lock()
	c.reached = c.reached || header.Get("Content-Type") != ""
	if conv == c.conv && c.catchingUp && err == nil {
		c.catchingUp, c.history = false, n
	}
	c.mu.Unlock()
	c.notify()
}

// refusesCaller reports whether err is the server refusing the caller: a token missing, wrong,
// revoked, or of a disabled client.
func refusesCaller(err error) bool {
	code := connect.CodeOf(err)
	return code == connect.CodeUnauthenticated || code == connect.CodePermissionDenied
}

// refuse ends chat once the server has refused the caller (which the caller of refuse has
// said): every line after would be refused the same, and the answers due cannot be shown.
func (c *chat) refuse() {
	c.mu.Lock()
	c.refused = true
	c.unwatchLocked()
	clear(c.pending)
	c.mu.Unlock()
	c.notify() // a drain stops waiting for answers that will not be shown
	c.quit()
}

// lost is what chat does with a conversation the server does not have: unknown, expired, or
// lost by a server that kept it in memory (standalone mode, restarted). One that chat has
// seen events of cannot be continued: it is forgotten, the answers still due will not come,
// and the next sentence starts a new conversation, as the chat page does. One never seen (an
// id given with --conversation) is started under that id by the next sentence, unless the
// server keeps the id of an expired conversation: then, as for one seen, under a new one. It
// reports whether the watch is given up until a sentence gets through; not when one already
// has (the watch then tries again). A watch of a conversation chat has already given up is
// given up without a word.
func (c *chat) lost(conv string, err error) bool {
	// The saved place changes with the state, before the end of input may exit: saveMu first,
	// as save takes it.
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	if conv != c.conv {
		c.mu.Unlock()
		return true
	}
	seen, sent := c.last > 0, 0
	for job := range c.pending {
		if !c.resumed[job] {
			sent++
		}
	}
	if !seen && sent > 0 {
		c.mu.Unlock()
		return false
	}
	// Said before the state changes, under the lock: the end of input, which waits on that
	// state, exits only once it is said.
	c.missing = c.missing || conv == c.asked
	switch {
	case seen && c.heldElsewhere != "":
		// Not on this server, but maybe still on the one it was held with: its saved place
		// stays (until a new conversation takes it).
		due := c.forgetLocked()
		c.say("conversation %s is not on %s (%v)%s; it was held with %s, where `eliza --addr %s chat --resume` may continue it: your next sentence starts a new conversation here, which takes its saved place",
			conv, c.srv.addr, describe(err, c.srv), dueNote(due), c.heldElsewhere, c.heldElsewhere)
	case seen:
		due := c.forgetLocked()
		c.forgetSavedLocked(conv) // a --resume would only find it lost again
		c.say("conversation %s cannot be continued (%v)%s: your next sentence starts a new conversation", conv, describe(err, c.srv), dueNote(due))
	default:
		due := c.forgetLocked()
		c.conv = conv // an id chat was given: the first sentence tries to start the conversation under it
		if s, ok, _ := c.load(); ok && s.Conversation == conv {
			c.storePlace(c.placeLocked()) // its saved place, without the answers due that will not come
		}
		c.say("conversation %s is not on the server (%v)%s: your first sentence starts a conversation, under this id if the server takes it, else under one of its own (it takes no id of another client's conversation, nor, for a while, of an expired one)", conv, describe(err, c.srv), dueNote(due))
	}
	c.mu.Unlock()
	c.notify() // the end of input stops waiting for answers that will not come
	return true
}

// shown is a text of the server's (a sentence anyone who knows the conversation's id may have
// sent, a model's answer) as chat and say print it: its control characters, except line
// breaks (\n, and \r\n as a model may end its lines) and tabs, and the characters that
// reorder or break the text around them (bidirectional overrides and isolates, the line and
// paragraph separators), written as Go escapes (\x1b, \u202e), so that no text can move the
// cursor, change the colours or the window's title, or hide or reorder what came before it,
// on the terminal that shows it.
func shown(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	if !strings.ContainsFunc(text, escaped) {
		return text
	}
	var b strings.Builder
	for _, r := range text {
		if escaped(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escaped tells the characters that shown writes as escapes.
func escaped(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	}
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x2028 || r == 0x2029
}

// print prints an event of conv once, in order, and saves the conversation's place before the
// job counts as answered (so that chat does not exit with the place unsaved). Events of a
// conversation chat has given up are not printed.
func (c *chat) print(conv string, ev *elizav1.QueueConversationResponse) {
	c.mu.Lock()
	c.reached = true
	if conv == c.conv {
		c.catchingUp = false // an event before the history's end was heard: an older server
	}
	if conv != c.conv || ev.GetSerial() <= c.last {
		c.mu.Unlock()
		return
	}
	c.last = ev.GetSerial()
	if ev.GetKind() == elizav1.QueueConversationResponse_KIND_ENQUEUED {
		c.enqueued[ev.GetJobId()] = ev.GetSerial()
		if ev.GetSerial() <= c.history && !c.done[ev.GetJobId()] {
			// An answer due of the conversation's history, queued before this chat began.
			// (This chat's own sentences are added by send; those another client sends
			// meanwhile are not waited for.)
			c.pending[ev.GetJobId()] = true
		}
	} else {
		c.done[ev.GetJobId()] = true // printed below: not an answer due, though still pending
		if ev.GetKind() == elizav1.QueueConversationResponse_KIND_ERROR {
			c.errored[ev.GetJobId()] = true
			// An answer due: this chat's sentence's (whatever its serial: one sent before the
			// watch heard where the history ends may be in it), or one due when it began, not
			// one of the history that came in it too, before this chat.
			if c.sent[ev.GetJobId()] || c.pending[ev.GetJobId()] && (c.resumed[ev.GetJobId()] || ev.GetSerial() > c.history) {
				c.failed[ev.GetJobId()] = true
			}
		}
	}
	c.mu.Unlock()
	switch ev.GetKind() {
	case elizav1.QueueConversationResponse_KIND_ENQUEUED:
		fmt.Fprintf(c.out, "  enqueued: %s\n", shown(ev.GetInReplyTo()))
	case elizav1.QueueConversationResponse_KIND_REPLY:
		fmt.Fprintf(c.out, "eliza: %s\n", shown(ev.GetSentence()))
	default:
		fmt.Fprintf(c.out, "error: %s (to %q)\n", shown(ev.GetSentence()), ev.GetInReplyTo())
	}
	c.save()
	if ev.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		c.mu.Lock()
		delete(c.pending, ev.GetJobId())
		delete(c.resumed, ev.GetJobId())
		c.mu.Unlock()
	}
	c.notify()
}

// notify tells a drain waiting for the answers due that they have changed.
func (c *chat) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// save keeps the conversation's place for --resume; a failure is said once per event.
func (c *chat) save() {
	// One save at a time, snapshot and write: the watch's and send's saves would otherwise
	// land in either order, and an older place written last would be printed again.
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	s := c.placeLocked()
	c.mu.Unlock()
	c.storePlace(s)
}

// placeLocked is the conversation's place as save keeps it: none (no conversation) when the
// conversation does not take the saved place (keep).
func (c *chat) placeLocked() saved {
	if !c.keep {
		return saved{}
	}
	s := saved{Conversation: c.conv, Serial: c.last, Addr: c.srv.addr}
	for job := range c.pending {
		if !c.done[job] {
			s.Due = append(s.Due, job)
		}
	}
	slices.Sort(s.Due)
	return s
}

// storePlace writes s, with saveMu held; a failure is said once, until a write succeeds again
// (it was said after every event).
func (c *chat) storePlace(s saved) {
	if s.Conversation == "" {
		return // given up meanwhile (the next conversation is saved when it starts), or not kept
	}
	err := c.placeErr
	if err == nil {
		err = store(c.place, s)
	}
	if err != nil && !c.saveFailed {
		c.say("%v; --resume will not find this conversation's place", err)
	}
	c.saveFailed = err != nil
}

// forgetSaved removes the saved place when it is conv's: a conversation the server no longer
// has, which a later --resume would only find lost again. Under saveMu, so that a save of conv
// begun before cannot write it back after.
func (c *chat) forgetSaved(conv string) {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.forgetSavedLocked(conv)
}

// forgetSavedLocked is forgetSaved with saveMu held.
func (c *chat) forgetSavedLocked(conv string) {
	if c.placeErr != nil {
		return // nothing was saved
	}
	if err := unstore(c.place, conv); err != nil {
		c.say("%v", err)
	}
}

// load reads the conversation saved for this chat's token.
func (c *chat) load() (saved, bool, error) {
	if c.placeErr != nil {
		return saved{}, false, c.placeErr
	}
	return load(c.place)
}

// due adds the answers a saved place says were still due when chat last ended: their
// "enqueued" is at or before the place, so the history read after it does not say so.
func (c *chat) due(jobs []string) {
	for _, job := range jobs {
		c.pending[job], c.resumed[job] = true, true
	}
}

// end is the end of input: it waits for the answers still due (drain), then fails when a line
// was not queued (refused, or not sent), an answer due will not come (its conversation was
// lost), or the server refused the caller, so that a script sees it.
func (c *chat) end(ctx context.Context) error {
	drained := c.drain(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.refused:
		return errRefused
	case ctx.Err() != nil:
		return nil // Ctrl-C, SIGINT or SIGTERM during the wait: chat leaves, with status 0
	}
	// Every reason, not only the first: a script's log says all that went wrong.
	var why []string
	switch {
	case c.unqueued == 1:
		why = append(why, "a line was not queued")
	case c.unqueued > 1:
		why = append(why, fmt.Sprintf("%d lines were not queued", c.unqueued))
	}
	if c.unanswered > 0 {
		why = append(why, answers(c.unanswered)+" due will not come")
	}
	switch n := len(c.failed); {
	case n == 1:
		why = append(why, "1 answer due was an error")
	case n > 1:
		why = append(why, fmt.Sprintf("%d answers due were errors", n))
	}
	if c.missing {
		why = append(why, fmt.Sprintf("conversation %s is not on %s", c.asked, c.srv.addr))
	}
	switch {
	case len(why) > 0 && drained != nil:
		return fmt.Errorf("%w; %s (see above)", drained, strings.Join(why, "; "))
	case len(why) > 0:
		return errors.New(strings.Join(why, "; ") + " (see above)")
	}
	return drained
}

// drain waits, at the end of input, until the history of the conversation chat started on is
// printed, and every job sent, or queued in that history, has its outcome printed.
func (c *chat) drain(ctx context.Context) error {
	deadline, unheard := time.After(answerWait), time.After(historyWait)
	for {
		c.mu.Lock()
		n := len(c.pending)
		history := c.conv != "" && (c.catchingUp || c.last < c.history)
		catchingUp := c.conv != "" && c.catchingUp
		c.mu.Unlock()
		if n == 0 && !history {
			return nil
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return nil
		case <-unheard:
			c.mu.Lock()
			reached := c.reached
			c.mu.Unlock()
			switch {
			case catchingUp && !reached:
				return fmt.Errorf("could not read the conversation's history within %s: the server did not answer (it is unreachable, or older than this eliza and the conversation has nothing new)", historyWait)
			case catchingUp:
				return fmt.Errorf("the server did not say within %s where the conversation's history ends", historyWait)
			}
		case <-deadline:
			// The answers a resume waited for a second time are not kept for the next.
			c.mu.Lock()
			for job := range c.resumed {
				delete(c.pending, job)
			}
			clear(c.resumed)
			c.mu.Unlock()
			c.save()
			c.mu.Lock()
			again := "`eliza chat --resume`"
			if !c.keep && c.conv != "" { // only printed: --resume continues another
				again = "`eliza chat --conversation " + c.conv + "`"
			}
			c.mu.Unlock()
			if n == 0 {
				return fmt.Errorf("the conversation's history was not all received after %s; %s shows it", answerWait, again)
			}
			return fmt.Errorf("%s still due after %s; %s shows them when they come", answers(n), answerWait, again)
		}
	}
}
