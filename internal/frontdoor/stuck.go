package frontdoor

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// StuckWriteWait is how long, once the front door drains, a write to a response may wait for
// its client to take it before the response is given up: its stream is reset (HTTP/2) or its
// connection closed (HTTP/1.1); a connection whose own writes wait twice as long has them
// ended (CutStuckConns). A client that has stopped reading holds a write as long as it likes,
// and the call cannot see the drain meanwhile: each such client held the front door's shutdown
// for the whole of SHUTDOWN_GRACE, a rolling update for as long on each replica. Nothing is
// lost: the transcript holds every event, and the client resumes elsewhere.
const StuckWriteWait = 5 * time.Second

// BodyWait is how long a request that does not stream requests (every procedure but Converse,
// QueueConversation and reflection's) has for its body, at most 64 KiB, to come, drain or
// not. A client that sends a byte a minute, or its message without ending its request, held
// the call, its goroutines and its stream or connection for as long as it liked. A request
// given up fails its call as DeadlineExceeded, or as Unavailable once the front door drains
// (which gives the rest of a body its own, shorter wait, StuckWriteWait): its client should
// then send it to another.
const BodyWait = 30 * time.Second

// endStuckOnDrain gives up, once drain is closed, each of h's responses whose write waits more
// than wait for its client (see StuckWriteWait), and each request whose body has not all come
// within wait of the drain, unless streamsRequests says its procedure streams requests (a
// stream waiting for its client's next message is not stuck). Such a request's body must also
// all come within bodyWait of its start, drain or not (BodyWait). A client that sends its request
// a byte a second would otherwise hold the shutdown as one that does not read. Until the drain
// a write or a read waits as long as its client makes it; a call that is neither writing nor
// reading is left alone, drain or not (a queued conversation waiting for its answers, a call
// still being worked on). A request given up in a drain fails its call as Unavailable, which
// tells its client to send it again elsewhere; one given up otherwise, as DeadlineExceeded. Each response or request given up is logged on log (a
// response's call's own log line, written after, may say only that the client disconnected).
// A nil drain is one that never comes.
func endStuckOnDrain(h http.Handler, drain <-chan struct{}, wait, bodyWait time.Duration, streamsRequests func(path string) bool, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var mu sync.Mutex
	open := map[*stuckWriter]struct{}{} // the responses in progress, until drain is closed
	if drain != nil {
		go func() {
			<-drain
			mu.Lock()
			defer mu.Unlock()
			for sw := range open {
				sw.drain()
			}
			open = nil
		}()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stuckWriter{ResponseWriter: w, rc: http.NewResponseController(w), wait: wait, log: log, path: r.URL.Path}
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody && !streamsRequests(r.URL.Path) {
			// On a copy: net/http decides by its own request's body what to do with what the
			// handler leaves unread (over HTTP/1.1, whether to read it before answering).
			sw.bodyOpen = true
			r = r.WithContext(r.Context())
			r.Body = &stuckBody{ReadCloser: r.Body, w: sw}
			sw.bodyWait, sw.bodyBy = bodyWait, time.Now().Add(bodyWait)
			_ = sw.rc.SetReadDeadline(sw.bodyBy)
		}
		mu.Lock()
		if open == nil {
			sw.draining = true
		} else {
			open[sw] = struct{}{}
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(open, sw) // a no-op on the nil map once drained
			mu.Unlock()
		}()
		h.ServeHTTP(sw, r)
		sw.returned()
	})
}

// errBodyTooSlow fails a call whose request's body had not all come within StuckWriteWait of
// the drain.
var errBodyTooSlow = connect.NewError(connect.CodeUnavailable,
	errors.New("the front door is shutting down, and the request's body had not all come in time: send it again, to another"))

// errBodyTooLong fails a call whose request's body had not all come within BodyWait of its
// start (the log says which wait).
var errBodyTooLong = connect.NewError(connect.CodeDeadlineExceeded,
	errors.New("the request's body had not all come in time: send it again, whole"))

// stuckBody is a request's body whose rest must come within bodyWait of its start and, once
// the drain has begun, within the wait of the response w.
type stuckBody struct {
	io.ReadCloser
	w *stuckWriter
}

func (b *stuckBody) Read(p []byte) (int, error) {
	b.w.beginRead()
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.w.bodyEnded()
	case err != nil:
		// Said as the call's error, and to its client: in a drain, a client that retries on
		// Unavailable sends it again, to a front door that is not draining. The read's own
		// error names the server's socket addresses.
		if gaveUp := b.w.readFailed(err); gaveUp != nil {
			err = gaveUp
		}
	}
	return n, err
}

// stuckWriter is a response whose writes, once drain has been called, each get wait to be
// taken by the client.
//
// A write's deadline gives up its stream (HTTP/2) when the client's flow-control window is
// what holds it. A client that grants a large window and then does not read holds the
// connection itself: the server's writes to the socket block, and so does the stream's reset.
// That is CutStuckConns's to end.
type stuckWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
	log  *slog.Logger
	path string // the request's, for the log

	mu         sync.Mutex
	draining   bool
	writing    int           // writes and flushes in progress
	armed      time.Time     // when the writes in progress were last given their deadline
	gaveUp     bool          // a write failed past its deadline: said once
	bodyOpen   bool          // the request's body (stuckBody) is not read to its end yet
	bodyWait   time.Duration // how long the body has to come, from the request's start
	bodyBy     time.Time     // when the body must have all come; zero once it has
	readBy     bool          // the body has the drain's read deadline (armReadLocked)
	readGaveUp bool          // a read failed past it: said once
	finished   bool          // the handler has returned: rc may no longer be used
}

// drain gives the writes in progress, and each one after, wait to be taken.
func (s *stuckWriter) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	if s.writing > 0 {
		s.armLocked()
	}
	s.armReadLocked()
}

// armReadLocked gives the rest of the request's body wait from now to come, once, unless its
// BodyWait ends sooner: a body sent a byte at a time would have each read arrive in time.
// Call it with s.mu held.
func (s *stuckWriter) armReadLocked() {
	if s.bodyOpen && !s.readBy && !s.finished {
		if by := time.Now().Add(s.wait); by.Before(s.bodyBy) {
			s.readBy = true
			_ = s.rc.SetReadDeadline(by)
		}
	}
}

// beginRead is a read of the request's body beginning: while draining, the body's rest has
// its deadline.
func (s *stuckWriter) beginRead() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		s.armReadLocked()
	}
}

// bodyEnded is the request's body read to its end: the drain gives it no deadline, which over
// HTTP/1.1 would be the connection's, and end the call when the server's read that watches
// for the client leaving reached it. A deadline it has is lifted. (A body given up keeps its
// deadline: connect reads what is left of it and throws it away before its handler returns,
// so that the connection can be reused, and the deadline ends that at once instead of at the
// slow client's pace.)
func (s *stuckWriter) bodyEnded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodyOpen = false
	if !s.bodyBy.IsZero() && !s.finished {
		s.readBy, s.bodyBy = false, time.Time{}
		_ = s.rc.SetReadDeadline(time.Time{})
	}
}

// readFailed is a read of the request's body failing with err. When it is the body's deadline
// that failed it, the request is given up, which is said once, and readFailed returns the
// call's error: in a drain the drain's, whichever deadline it was, else BodyWait's.
func (s *stuckWriter) readFailed(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bodyBy.IsZero() || !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if s.draining { // the drain's wait, or bodyWait's if sooner: either way, send it elsewhere
		if !s.readGaveUp {
			s.readGaveUp = true
			wait := s.wait
			if !s.readBy {
				wait = s.bodyWait
			}
			s.log.Info("draining: gave up a request whose body had not all come within the wait", "path", s.path, "wait", wait, "error", err)
		}
		return errBodyTooSlow
	}
	if !s.readGaveUp {
		s.readGaveUp = true
		s.log.Info("gave up a request whose body had not all come in time", "path", s.path, "wait", s.bodyWait, "error", err)
	}
	return errBodyTooLong
}

// returned is the handler returning: the response is no longer to be given deadlines.
func (s *stuckWriter) returned() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
}

// begin and end bracket a write: while draining, it has wait from its start; between writes
// there is no deadline, so that a response waiting for something to write is not given up.
func (s *stuckWriter) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writing++
	if s.draining {
		s.armLocked()
	}
}

func (s *stuckWriter) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.draining && !s.gaveUp && !s.armed.IsZero() && time.Since(s.armed) >= s.wait {
		s.gaveUp = true
		s.log.Info("draining: gave up a response whose client took nothing for the wait", "path", s.path, "wait", s.wait)
	}
	s.writing--
	if s.draining && s.writing == 0 {
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
}

// armLocked gives the write from now wait. Call it with s.mu held.
func (s *stuckWriter) armLocked() {
	s.armed = time.Now()
	_ = s.rc.SetWriteDeadline(s.armed.Add(s.wait))
}

func (s *stuckWriter) Write(b []byte) (int, error) {
	s.begin()
	n, err := s.ResponseWriter.Write(b)
	s.end(err)
	return n, err
}

// Flush sends what was written; it waits for the client as a write does.
func (s *stuckWriter) Flush() {
	s.begin()
	s.end(s.rc.Flush())
}

// Unwrap is for http.ResponseController, which connect and the handlers below may use.
func (s *stuckWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// CutStuckConns returns ln, whose connections have their writes ended once drain is closed and
// a write of theirs has waited for its client twice wait (a write waiting since before the
// drain, twice wait after it). What a connection writes is held behind such a write anyway:
// the server's writes to a socket its client no longer reads, a response's or the server's own
// (over HTTP/2, what a handler did not flush and the trailers, written after it returns, and
// the frames of every stream of the connection). A connection that is not writing is left
// alone. Each connection cut is logged on log. A nil drain leaves ln as it is.
func CutStuckConns(ln net.Listener, drain <-chan struct{}, wait time.Duration, log *slog.Logger) net.Listener {
	if drain == nil {
		return ln
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &stuckConns{Listener: ln, wait: wait, log: log, conns: map[*watchedConn]struct{}{}, closed: make(chan struct{})}
	go l.cut(drain)
	return l
}

// stuckConns is CutStuckConns's listener: it keeps the connections it accepted until they are
// closed.
type stuckConns struct {
	net.Listener
	wait time.Duration
	log  *slog.Logger

	mu    sync.Mutex
	conns map[*watchedConn]struct{}

	closed    chan struct{} // with the listener: cut stops then, or once its connections are gone
	closeOnce sync.Once
}

func (l *stuckConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	wc := &watchedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[wc] = struct{}{}
	l.mu.Unlock()
	return wc, nil
}

func (l *stuckConns) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// cut waits for drain, then looks at the connections' writes every quarter of wait until the
// listener is closed and its connections are. A listener closed before the drain has nothing
// left to drain.
func (l *stuckConns) cut(drain <-chan struct{}) {
	select {
	case <-drain:
	case <-l.closed:
		return
	}
	drained := time.Now().UnixNano()
	tick := time.NewTicker(max(l.wait/4, time.Millisecond))
	defer tick.Stop()
	for now := range tick.C {
		l.mu.Lock()
		for c := range l.conns {
			if since := c.writing.Load(); since != 0 && now.UnixNano()-max(since, drained) >= int64(2*l.wait) && !c.cut {
				c.cut = true
				_ = c.SetWriteDeadline(now)
				l.log.Info("draining: ended the writes of a connection whose client took nothing for twice the wait",
					"client", c.RemoteAddr().String(), "wait", l.wait)
			}
		}
		gone := len(l.conns) == 0
		l.mu.Unlock()
		select {
		case <-l.closed:
			if gone {
				return
			}
		default:
		}
	}
}

// watchedConn is a connection that says since when its write in progress has waited.
type watchedConn struct {
	net.Conn
	l       *stuckConns
	writing atomic.Int64 // when the write in progress began, in Unix nanoseconds; 0: none
	cut     bool         // its writes were ended (under stuckConns.mu)
	forget  sync.Once
}

func (c *watchedConn) Write(b []byte) (int, error) {
	c.writing.Store(time.Now().UnixNano())
	defer c.writing.Store(0)
	return c.Conn.Write(b)
}

// CloseWrite half-closes the connection when it can (a TCP connection): net/http does so
// before it closes one on an error it has answered, so that the client reads the answer.
func (c *watchedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *watchedConn) Close() error {
	c.forget.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
