package elizacli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// These tests run the eliza command in this process against fakeEliza, a front door whose
// conversations live in a map and whose every step a test can hold back, so that orders the
// real server produces only now and then (an event printed before Send answers, a watch
// refused while a Send is in flight) happen every time. cmd/eliza's tests run the binary
// against the real thing.

// fakeEliza is ElizaService's Send and Watch over conversations in memory. Each sentence is
// answered at once ("you said ..."), as its enqueued event's successor, unless refuse says
// otherwise. Ids are numbered, so that a test can say exactly what chat prints.
type fakeEliza struct {
	elizav1connect.UnimplementedElizaServiceHandler

	// refuse, when set, answers a Send instead of queueing its sentence: a refusal (nil,
	// nil: queue it).
	refuse func(req *elizav1.SendRequest) (*elizav1.SendResponse, error)
	// beforeSend, when set, runs first in each Send, to hold it back.
	beforeSend func(ctx context.Context, req *elizav1.SendRequest)
	// beforeWatch, when set, runs first in each Watch: an error fails it.
	beforeWatch func(ctx context.Context, req *elizav1.WatchRequest) error
	// afterEnqueue, when set, runs before Send answers a sentence it has queued (and
	// answered), with the conversation's serial of its enqueued event.
	afterEnqueue func(ctx context.Context, req *elizav1.SendRequest, serial uint64)
	// old makes Watch a front door's from before frontdoor.HeaderLastSerial: its headers go
	// with its first event, without it.
	old bool
	// startsAgain makes Send a front door's from before SendRequest.after_serial: an id it
	// does not know starts a conversation under that id, whatever serial the client has seen.
	startsAgain bool

	mu            sync.Mutex
	authorization string // the last call's Authorization header
	convs         map[string][]*elizav1.QueueConversationResponse
	nconv         int
	njob          int
	sent          []string      // "conversation/sentence" of each Send, in order
	changed       chan struct{} // closed and replaced when a conversation changes
	down          chan struct{} // closed and replaced by restart and drain: the watches end
	downErr       error         // what they end with: nil, "restarting"
}

func newFake() *fakeEliza {
	return &fakeEliza{convs: map[string][]*elizav1.QueueConversationResponse{}, changed: make(chan struct{}), down: make(chan struct{})}
}

// start serves f and returns its address, host:port.
func (f *fakeEliza) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(elizav1connect.NewElizaServiceHandler(f))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.authorization = r.Header.Get("Authorization")
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// lastAuthorization is the Authorization header of the last call f served.
func (f *fakeEliza) lastAuthorization() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.authorization
}

// canonical is id as the server writes it, in lower case, as it takes any form uuid.Parse
// does ("" stays "").
func canonical(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

func convID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
func jobID(n int) string  { return fmt.Sprintf("10000000-0000-4000-8000-%012d", n) }

// add keeps a conversation of n answered sentences ("s1", "s2", ...) under id, as a server
// that has it.
func (f *fakeEliza) add(id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i <= n; i++ {
		f.appendLocked(id, fmt.Sprintf("s%d", i))
	}
}

// appendLocked queues sentence in conversation id and answers it: two events. A sentence
// that begins with "fail" is answered with an error, as a model that could not answer it.
func (f *fakeEliza) appendLocked(id, sentence string) (job string, serial uint64) {
	f.njob++
	job = jobID(f.njob)
	serial = f.pushLocked(id, job, sentence, elizav1.QueueConversationResponse_KIND_ENQUEUED)
	outcome := elizav1.QueueConversationResponse_KIND_REPLY
	if strings.HasPrefix(sentence, "fail") {
		outcome = elizav1.QueueConversationResponse_KIND_ERROR
	}
	f.pushLocked(id, job, sentence, outcome)
	return job, serial
}

// pushLocked appends conversation id's next event, of kind, about job's sentence, wakes the
// watches and returns its serial.
func (f *fakeEliza) pushLocked(id, job, sentence string, kind elizav1.QueueConversationResponse_Kind) uint64 {
	text := "enqueued"
	switch kind {
	case elizav1.QueueConversationResponse_KIND_REPLY:
		text = "you said " + sentence
	case elizav1.QueueConversationResponse_KIND_ERROR:
		text = "the assistant could not answer"
	}
	serial := uint64(len(f.convs[id])) + 1
	f.convs[id] = append(f.convs[id], &elizav1.QueueConversationResponse{Kind: kind, Sentence: text,
		JobId: job, InReplyTo: sentence, ConversationId: id, Serial: serial})
	close(f.changed)
	f.changed = make(chan struct{})
	return serial
}

// enqueue queues sentence in conversation id, as another client would, and leaves it
// unanswered until answer: one event.
func (f *fakeEliza) enqueue(id, sentence string) (job string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.njob++
	job = jobID(f.njob)
	f.pushLocked(id, job, sentence, elizav1.QueueConversationResponse_KIND_ENQUEUED)
	return job
}

// answer answers job, which enqueue queued in conversation id.
func (f *fakeEliza) answer(id, job, sentence string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushLocked(id, job, sentence, elizav1.QueueConversationResponse_KIND_REPLY)
}

// restart is a server that kept its conversations in memory restarting: they are gone, and
// the watches end as when a server goes away.
func (f *fakeEliza) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.convs)
	f.downErr = nil
	close(f.down)
	f.down = make(chan struct{})
}

// drain ends the watches as a front door shutting down does (frontdoor.ErrDraining); the
// conversations stay, as they do in the transcript the next front door reads.
func (f *fakeEliza) drain() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downErr = frontdoor.ErrDraining
	close(f.down)
	f.down = make(chan struct{})
}

// sends is what each Send carried, "conversation/sentence", in order.
func (f *fakeEliza) sends() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

func (f *fakeEliza) Send(ctx context.Context, req *connect.Request[elizav1.SendRequest]) (*connect.Response[elizav1.SendResponse], error) {
	if f.beforeSend != nil {
		f.beforeSend(ctx, req.Msg)
	}
	f.mu.Lock()
	f.sent = append(f.sent, req.Msg.GetConversationId()+"/"+req.Msg.GetSentence())
	f.mu.Unlock()
	if f.refuse != nil {
		if res, err := f.refuse(req.Msg); res != nil || err != nil {
			return connect.NewResponse(res), err
		}
	}
	f.mu.Lock()
	id := canonical(req.Msg.GetConversationId())
	if id == "" {
		f.nconv++
		id = convID(f.nconv)
	}
	if after := req.Msg.GetAfterSerial(); after > 0 && !f.startsAgain {
		evs, ok := f.convs[id]
		switch {
		case !ok:
			f.mu.Unlock()
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("conversation %s is unknown or has expired", id))
		case after > uint64(len(evs)):
			f.mu.Unlock()
			return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("conversation %s has no event %d (its last is %d): the one you saw is gone", id, after, len(evs)))
		}
	}
	// Like the real server, an id it does not know starts a conversation under that id, when
	// the client has seen none of its events.
	job, serial := f.appendLocked(id, req.Msg.GetSentence())
	f.mu.Unlock()
	if f.afterEnqueue != nil {
		f.afterEnqueue(ctx, req.Msg, serial)
	}
	return connect.NewResponse(&elizav1.SendResponse{ConversationId: id, JobId: job, Kind: elizav1.QueueConversationResponse_KIND_ENQUEUED,
		Sentence: "enqueued", Serial: serial}), nil
}

func (f *fakeEliza) Watch(ctx context.Context, req *connect.Request[elizav1.WatchRequest], stream *connect.ServerStream[elizav1.QueueConversationResponse]) error {
	return f.watch(ctx, req.Msg, stream)
}

func (f *fakeEliza) watch(ctx context.Context, req *elizav1.WatchRequest, stream *connect.ServerStream[elizav1.QueueConversationResponse]) error {
	if f.beforeWatch != nil {
		if err := f.beforeWatch(ctx, req); err != nil {
			return err
		}
	}
	id, next := canonical(req.GetConversationId()), req.GetAfterSerial()
	f.mu.Lock()
	evs, ok := f.convs[id]
	down := f.down
	f.mu.Unlock()
	switch {
	case !ok:
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("conversation %s is unknown or has expired", id))
	case next > uint64(len(evs)):
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("after_serial %d is beyond the conversation's last event, %d", next, len(evs)))
	}
	// As the front door does: where the history ends, at once.
	if !f.old {
		stream.ResponseHeader().Set(frontdoor.HeaderLastSerial, strconv.Itoa(len(evs)))
		if err := stream.Send(nil); err != nil {
			return err
		}
	}
	for {
		f.mu.Lock()
		evs, changed := f.convs[id], f.changed
		f.mu.Unlock()
		for ; next < uint64(len(evs)); next++ {
			if err := stream.Send(evs[next]); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-down:
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.downErr != nil {
				return f.downErr
			}
			return connect.NewError(connect.CodeUnavailable, errors.New("restarting"))
		case <-changed:
		}
	}
}

// screen is what chat prints, which a test (or the fake, holding a call back) waits on.
type screen struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newScreen() *screen { return &screen{changed: make(chan struct{})} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the screen shows text, or ctx ends; it reports which.
func (s *screen) waitFor(ctx context.Context, text string) bool {
	for {
		s.mu.Lock()
		shown, changed := strings.Contains(s.b.String(), text), s.changed
		s.mu.Unlock()
		if shown {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// run is one `eliza` run in this process, against the server at addr.
type run struct {
	out, err *screen
	code     chan int
}

func newRun() *run { return &run{out: newScreen(), err: newScreen(), code: make(chan int, 1)} }

// start runs eliza with args against addr (none when ""), reading in; XDG_STATE_HOME is the
// test's to set.
func (r *run) start(addr string, in io.Reader, args ...string) *run {
	if addr != "" {
		args = append([]string{"--addr", addr}, args...)
	}
	go func() { r.code <- Main(args, in, r.out, r.err) }()
	return r
}

// start runs eliza with args against addr, reading in.
func start(addr string, in io.Reader, args ...string) *run { return newRun().start(addr, in, args...) }

// wait waits for the run to end and returns its exit status; a run still going after 20 s
// fails the test.
func (r *run) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.code:
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("eliza still running after 20 s; it printed:\n%s\n%s", r.out, r.err)
		return 0
	}
}

// exits waits for the run to end and fails the test unless its exit status is code.
func (r *run) exits(t *testing.T, code int) {
	t.Helper()
	if got := r.wait(t); got != code {
		t.Fatalf("exit status %d, want %d; printed:\n%s\n%s", got, code, r.out, r.err)
	}
}

// printed fails the test unless the run printed want on standard output, quoted so that a
// control character or a line end shows.
func (r *run) printed(t *testing.T, want string) {
	t.Helper()
	if got := r.out.String(); got != want {
		t.Fatalf("eliza printed:\n%q\nwant:\n%q", got, want)
	}
}

// waitFor waits until the run has printed text on standard output.
func (r *run) waitFor(t *testing.T, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if !r.out.waitFor(ctx, text) {
		t.Fatalf("waited for %q; eliza printed:\n%s\n%s", text, r.out, r.err)
	}
}

// chatting starts f and `eliza chat` on it, typed into, and has it say "one" and print its
// answer: a conversation under way. It returns f's address, the run, and the functions typing
// a line and ending the input.
func chatting(t *testing.T, f *fakeEliza) (addr string, r *run, typed func(line string), end func()) {
	t.Helper()
	addr = f.start(t)
	in, typed, end := typing(t)
	r = start(addr, in, "chat")
	typed("one")
	r.waitFor(t, "eliza: you said one\n")
	return addr, r, typed, end
}

// typing returns the input of a run, a function typing a line into it and one ending it.
func typing(t *testing.T) (in io.Reader, typed func(line string), end func()) {
	r, w := io.Pipe()
	t.Cleanup(func() { _ = w.Close() })
	return r, func(line string) {
		t.Helper()
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}, func() { _ = w.Close() }
}

// lines joins lines as chat prints them.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
