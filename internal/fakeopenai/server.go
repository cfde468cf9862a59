package fakeopenai

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Server is a fake chat-completions API. Configure it with options or, while it runs, with
// its Set methods; all methods are safe for concurrent use.
type Server struct {
	mu        sync.Mutex
	latency   func(call int) time.Duration
	script    []Behaviour // the next calls' behaviours, first first
	fallback  Behaviour   // once the script is used up
	responder func(sentence string) string
	calls     int
	received  []Received

	srv       *http.Server
	baseURL   string
	closing   chan struct{}     // closed by Close, to release hanging and sleeping handlers
	closed    bool              // set by Close, under mu
	fresh     map[net.Conn]bool // connections that have not sent a request yet, under mu
	closeOnce sync.Once
	serveErr  chan error
}

// Option configures a Server at construction.
type Option func(*Server)

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.SetLatency(d) } }

// WithLatencyFunc delays the answer to call n (counted from 1) by f(n).
func WithLatencyFunc(f func(call int) time.Duration) Option {
	return func(s *Server) { s.SetLatencyFunc(f) }
}

// WithScript sets the behaviours of the first calls, in order; see SetScript.
func WithScript(bs ...Behaviour) Option { return func(s *Server) { s.SetScript(bs...) } }

// WithDefault sets the behaviour of calls the script does not cover (OK unless set).
func WithDefault(b Behaviour) Option { return func(s *Server) { s.SetDefault(b) } }

// WithResponder sets how OK calls answer: f gets the last user message. The default
// answers "echo: " followed by it.
func WithResponder(f func(sentence string) string) Option {
	return func(s *Server) { s.SetResponder(f) }
}

// New returns a server, not yet listening (see Start).
func New(opts ...Option) *Server {
	s := &Server{
		latency:   func(int) time.Duration { return 0 },
		fallback:  OK(),
		responder: Echo,
		closing:   make(chan struct{}),
		fresh:     map[net.Conn]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Echo is the default responder: "echo: <sentence>".
func Echo(sentence string) string { return "echo: " + sentence }

// Start listens on a free port of 127.0.0.1 and serves until Close; call it once. It returns the base URL
// to give a client as OPENAI_BASE_URL, such as "http://127.0.0.1:41234/v1".
func (s *Server) Start() (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("fake OpenAI server: listen: %w", err)
	}
	s.mu.Lock()
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ConnState: s.track}
	s.baseURL = "http://" + ln.Addr().String() + "/v1"
	s.serveErr = make(chan error, 1)
	srv, serveErr := s.srv, s.serveErr
	s.mu.Unlock()
	go func() { serveErr <- srv.Serve(ln) }()
	return s.URL(), nil
}

// URL returns the base URL Start returned, or "" before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Close releases hanging requests, stops the server and waits for it. Connections that have
// not sent a request are closed at once (see track).
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		srv, serveErr := s.srv, s.serveErr
		s.closed = true
		for c := range s.fresh {
			_ = c.Close()
		}
		s.mu.Unlock()
		if srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = srv.Shutdown(ctx); err != nil {
			err = errors.Join(err, srv.Close())
		}
		if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}

// track follows the connections that have not sent a request yet, and closes them once the
// server is closing. http.Server.Shutdown counts such a connection as busy until it is over
// 5 s old, as long as Close's own deadline; yet an HTTP client that dials for a request and
// gets an idle connection back first keeps the dialled one unused in its pool, so Close
// would wait for it in vain and fail. httptest.Server closes them for the same reason.
func (s *Server) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case state == http.StateNew && s.closed:
		_ = c.Close()
	case state == http.StateNew:
		s.fresh[c] = true
	default:
		delete(s.fresh, c)
	}
}

// SetLatency delays every answer from now on by d.
func (s *Server) SetLatency(d time.Duration) {
	s.SetLatencyFunc(func(int) time.Duration { return d })
}

// SetLatencyFunc delays the answer to call n by f(n) from now on.
func (s *Server) SetLatencyFunc(f func(call int) time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = f
}

// SetScript replaces the script: the next len(bs) calls behave as bs says, in order; later
// calls as the default behaviour.
func (s *Server) SetScript(bs ...Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = slices.Clone(bs)
}

// SetDefault sets the behaviour of calls the script does not cover.
func (s *Server) SetDefault(b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = b
}

// SetResponder sets how OK calls answer: f gets the last user message.
func (s *Server) SetResponder(f func(sentence string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.responder = f
}

// Requests returns a copy of what the server received, in order of arrival.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.received)
}

// Count returns how many chat-completions requests the server received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Served returns how many requests got behaviour k.
func (s *Server) Served(k Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.received {
		if r.Served == k {
			n++
		}
	}
	return n
}

// Reset forgets the requests received and numbers calls from 1 again. The configuration
// (latency, script, default, responder) is kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = 0
	s.received = nil
}

// next records a request and decides what to do with it; the latency is computed by the
// caller, outside the lock, as the function may be the test's own. A request whose body
// could not be read (valid false) is answered 400 and uses no step of the script.
func (s *Server) next(r Received, valid bool) (Behaviour, int, func(int) time.Duration, func(string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	r.Call = s.calls
	b := s.fallback
	switch {
	case !valid:
		b = Fail(http.StatusBadRequest)
	case len(s.script) > 0:
		b, s.script = s.script[0], s.script[1:]
	}
	r.Served = b.Kind
	s.received = append(s.received, r)
	return b, r.Call, s.latency, s.responder
}
