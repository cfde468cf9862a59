package frontdoor

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// StuckWriteWait is how long, once the front door drains, a write to a response may wait for
// its client to take it before the response is given up: its stream is reset (HTTP/2) or its
// connection closed (HTTP/1.1). A client that has stopped reading holds a write as long as it
// likes, and the call cannot see the drain meanwhile: each such client held the front door's
// shutdown for the whole of SHUTDOWN_GRACE, a rolling update for as long on each replica.
// Nothing is lost: the transcript holds every event, and the client resumes elsewhere.
const StuckWriteWait = 5 * time.Second

// endStuckOnDrain gives up, once drain is closed, each of h's responses whose write waits more
// than wait for its client (see StuckWriteWait). Until then a write waits as long as its
// client makes it; a response that is not writing is left alone, drain or not (a queued
// conversation waiting for its answers, a call still being worked on). A nil drain leaves h
// as it is.
func endStuckOnDrain(h http.Handler, drain <-chan struct{}, wait time.Duration) http.Handler {
	if drain == nil {
		return h
	}
	var mu sync.Mutex
	open := map[*stuckWriter]struct{}{} // the responses in progress, until drain is closed
	go func() {
		<-drain
		mu.Lock()
		defer mu.Unlock()
		for sw := range open {
			sw.drain()
		}
		open = nil
	}()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stuckWriter{ResponseWriter: w, rc: http.NewResponseController(w), wait: wait}
		sw.conn, _ = r.Context().Value(connKey{}).(net.Conn)
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
	})
}

// stuckWriter is a response whose writes, once drain has been called, each get wait to be
// taken by the client.
//
// A write's deadline gives up its stream (HTTP/2) when the client's flow-control window is
// what holds it. A client that grants a large window and then does not read holds the
// connection itself: the server's writes to the socket block, and so does the stream's reset.
// A write still held wait after its deadline has passed then ends the connection's writes,
// which are all held behind it anyway.
type stuckWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
	conn net.Conn // the request's connection (connKey); nil when unknown

	mu       sync.Mutex
	draining bool
	writing  int         // writes and flushes in progress
	cut      *time.Timer // while draining and writing: ends the connection's writes (cutConn)
	armed    time.Time   // when cut was last set
}

// drain gives the writes in progress, and each one after, wait to be taken.
func (s *stuckWriter) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	if s.writing > 0 {
		s.armLocked()
	}
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

func (s *stuckWriter) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writing--
	if s.draining && s.writing == 0 {
		_ = s.rc.SetWriteDeadline(time.Time{})
		if s.cut != nil {
			s.cut.Stop()
		}
	}
}

// armLocked gives the write from now wait, and the connection twice that. Call it with s.mu
// held.
func (s *stuckWriter) armLocked() {
	s.armed = time.Now()
	_ = s.rc.SetWriteDeadline(s.armed.Add(s.wait))
	switch {
	case s.conn == nil:
	case s.cut == nil:
		s.cut = time.AfterFunc(2*s.wait, s.cutConn)
	default:
		s.cut.Reset(2 * s.wait)
	}
}

// cutConn ends the writes of the response's connection if the response is still writing.
func (s *stuckWriter) cutConn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writing > 0 && time.Since(s.armed) >= 2*s.wait { // not a write begun since
		_ = s.conn.SetWriteDeadline(time.Now())
	}
}

// connKey is the request context's key of its connection (withConn).
type connKey struct{}

// withConn puts a connection in its requests' context (http.Server.ConnContext), for
// stuckWriter.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func (s *stuckWriter) Write(b []byte) (int, error) {
	s.begin()
	defer s.end()
	return s.ResponseWriter.Write(b)
}

// Flush sends what was written; it waits for the client as a write does.
func (s *stuckWriter) Flush() {
	s.begin()
	defer s.end()
	_ = s.rc.Flush()
}

// Unwrap is for http.ResponseController, which connect and the handlers below may use.
func (s *stuckWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
