package frontdoor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// What the server writes of a response after its handler has returned (over HTTP/2, the
// part of the body the handler did not flush, and the trailers) waits for the client too. A
// client that has stopped reading its socket, whose responses' handlers have all returned,
// holds those writes with no handler writing, and so no write for a drain to give up: it held
// the shutdown for the whole grace. Now such a write, still held twice the wait after the
// drain, ends the connection's writes as a handler's does.
func TestCutStuckConns_GivesUpWhatIsWrittenAfterTheHandlerReturns(t *testing.T) {
	const wait = 100 * time.Millisecond
	drain := make(chan struct{})
	returned := make(chan struct{}, streams)
	body := bytes.Repeat([]byte("x"), 3<<10) // under the 4 KiB an HTTP/2 response buffers: written once the handler returns
	var logged proctest.Buffer
	srv, addr := serve(t, endStuckOnDrain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
		returned <- struct{}{}
	}), drain, wait, BodyWait, func(string) bool { return false }, discard), func(ln net.Listener) net.Listener {
		return CutStuckConns(smallSendBuffers{ln}, drain, wait, slog.New(slog.NewTextHandler(&logged, nil)))
	})

	conn := unreadH2Requests(t, addr)
	defer conn.Close()
	for range streams {
		<-returned
	}
	time.Sleep(200 * time.Millisecond) // for the writes to fill what the client's socket takes

	close(drain)
	shutdown, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	began := time.Now()
	if err := srv.Shutdown(shutdown); err != nil {
		t.Fatalf("the shutdown with a client that does not read: %v after %v, want it over within about %v", err, time.Since(began), 2*wait)
	}
	if !strings.Contains(logged.String(), "ended the writes of a connection whose client took nothing") {
		t.Fatalf("logged %q, want the connection cut said", logged.String())
	}
}

// A response given up in a drain is logged as such: the call's own line says only that its
// client disconnected.
func TestEndStuckOnDrain_SaysWhichResponseItGaveUp(t *testing.T) {
	const wait = 100 * time.Millisecond
	drain := make(chan struct{})
	writing := make(chan struct{})
	var logged proctest.Buffer
	_, addr := serve(t, endStuckOnDrain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(writing)
		chunk := bytes.Repeat([]byte("x"), 16<<10)
		for range 1 << 10 { // 16 MB, more than any socket buffer takes
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}), drain, wait, BodyWait, func(string) bool { return false }, slog.New(slog.NewTextHandler(&logged, nil))),
		func(ln net.Listener) net.Listener { return smallSendBuffers{ln} })
	sendHTTP1(t, addr, "GET /big HTTP/1.1\r\nHost: %s\r\n\r\n")
	<-writing
	time.Sleep(100 * time.Millisecond) // for the socket to fill
	close(drain)
	kafkatest.Eventually(t, 2*time.Second, func() bool {
		return strings.Contains(logged.String(), "gave up a response whose client took nothing") && strings.Contains(logged.String(), "path=/big")
	}, func() string {
		return fmt.Sprintf("logged %q, want the response given up said, with its path", logged.String())
	})
}

// streams is how many requests unreadH2Requests makes, within the server's 256 at once.
const streams = 200

// unreadH2Requests sends streams GET requests over one HTTP/2 connection to addr, granting
// windows of 2 GB, from a socket with a small receive buffer, and never reads the connection,
// which it returns.
func unreadH2Requests(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var headers bytes.Buffer
	enc := hpack.NewEncoder(&headers)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", addr}, {":path", "/"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	fr := http2.NewFramer(conn, conn)
	const huge = 1<<31 - 1
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: huge}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteWindowUpdate(0, huge-65535); err != nil {
		t.Fatal(err)
	}
	for i := range streams {
		err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: headers.Bytes(), EndHeaders: true, EndStream: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// smallSendBuffers gives the connections it accepts a send buffer of 4 KiB, so that a client
// that does not read fills it with little.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		err = tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// A client that sends its request a byte at a time holds it as one that does not read holds
// its response: once the drain has begun, a request's body that has not all come within the
// wait gives the call up, over HTTP/2 and HTTP/1.1, even though each of its reads gets a byte
// in time. A stream of requests (Converse), whose read waits for its client's next message, is
// left alone.
func TestEndStuckOnDrain_GivesUpARequestSentTooSlowly(t *testing.T) {
	const wait = 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		// post starts a request of path to addr whose body is what is written to the writer
		// returned, until it is closed.
		post func(t *testing.T, addr, path string) io.WriteCloser
	}{
		{"HTTP/2", func(t *testing.T, addr, path string) io.WriteCloser {
			body, w := io.Pipe()
			client := &http.Client{Transport: &http.Transport{Protocols: h2c()}}
			t.Cleanup(client.CloseIdleConnections)
			go func() {
				if res, err := client.Post("http://"+addr+path, "application/octet-stream", body); err == nil {
					_ = res.Body.Close()
				}
			}()
			return w
		}},
		// By hand, as curl does: it goes on sending its body after the response (Go's client
		// stops).
		{"HTTP/1.1", func(t *testing.T, addr, path string) io.WriteCloser {
			return &lengthed{Conn: sendHTTP1(t, addr, "POST "+path+" HTTP/1.1\r\nHost: %s\r\nContent-Length: "+fmt.Sprint(bodyBytes)+"\r\n\r\n")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drain := make(chan struct{})
			reading := make(chan string, 3)
			read := make(chan error, 3)
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reading <- r.URL.Path
				_, err := io.ReadAll(r.Body)
				read <- err
				// As connect does when its handler returns: what is left of the body is read and
				// thrown away, so that the connection can be reused.
				_, _ = io.Copy(io.Discard, r.Body)
			})
			var logged proctest.Buffer
			srv, addr := serve(t, endStuckOnDrain(handler, drain, wait, BodyWait, func(path string) bool { return path == "/stream" },
				slog.New(slog.NewTextHandler(&logged, nil))),
				func(ln net.Listener) net.Listener { return CutStuckConns(ln, drain, wait, discard) })

			send := func(path string) io.WriteCloser {
				w := tc.post(t, addr, path)
				if _, err := w.Write([]byte("a")); err != nil { // and no more
					t.Fatal(err)
				}
				if got := <-reading; got != path {
					t.Fatalf("the handler read %s, want %s", got, path)
				}
				return w
			}
			slow := send("/slow")
			defer slow.Close()
			go func() { // a byte every quarter of the wait, until the call is given up
				for {
					time.Sleep(wait / 4)
					if _, err := slow.Write([]byte("a")); err != nil {
						return
					}
				}
			}()
			stream := send("/stream")
			defer stream.Close()

			close(drain)
			late := send("/late") // begun after the drain
			defer late.Close()
			go func() {
				for {
					time.Sleep(wait / 4)
					if _, err := late.Write([]byte("a")); err != nil {
						return
					}
				}
			}()
			for range 2 { // the slow request's read, and the late one's
				select {
				case err := <-read:
					if connect.CodeOf(err) != connect.CodeUnavailable {
						t.Fatalf("a request sent too slowly: its read failed with %v, want it given up as unavailable", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("a request sent too slowly was still read 2s after the drain, want it given up after %v", wait)
				}
			}
			select {
			case err := <-read:
				t.Fatalf("the stream of requests ended (%v) after the drain, want it left alone", err)
			case <-time.After(3 * wait):
			}
			_ = stream.Close() // its client done: it ends
			if err := <-read; err != nil {
				t.Fatalf("the stream of requests: %v, want its end read", err)
			}
			// The slow client still sends: the handler reading what is left of its body would
			// read it at its pace, and the shutdown would wait for it.
			shutdown, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				t.Fatalf("the shutdown after the slow request was given up: %v", err)
			}
			for _, path := range []string{"/slow", "/late"} {
				if !strings.Contains(logged.String(), `had not all come within the wait" path=`+path+" ") {
					t.Errorf("logged %q, want the request to %s given up said", logged.String(), path)
				}
			}
		})
	}
}

// Only the drain's own deadline makes a read of a request's body unavailable: a client that
// leaves in the middle of its body, drain or not, is a client gone, not the server shutting
// down.
func TestEndStuckOnDrain_AClientThatLeavesMidBodyIsNotGivenUp(t *testing.T) {
	const wait = 5 * time.Second // the client leaves well within it
	drain := make(chan struct{})
	close(drain)
	reading, read := make(chan struct{}), make(chan error, 1)
	_, addr := serve(t, endStuckOnDrain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(reading)
		_, err := io.ReadAll(r.Body)
		read <- err
	}), drain, wait, BodyWait, func(string) bool { return false }, discard), func(ln net.Listener) net.Listener { return ln })
	conn := sendHTTP1(t, addr, "POST /leave HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\nabc")
	<-reading // the request is the handler's: its client leaves in the middle of its body
	_ = conn.Close()
	select {
	case err := <-read:
		if err == nil || connect.CodeOf(err) == connect.CodeUnavailable {
			t.Fatalf("a client that left mid-body, in a drain: its read failed with %v, want the client's leaving, not the server's giving up", err)
		}
	case <-time.After(wait / 2):
		t.Fatal("a client that left mid-body was still being read")
	}
}

// h2c is HTTP/2 without TLS, as the front door serves it.
func h2c() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// bodyBytes is the length of the bodies lengthed sends.
const bodyBytes = 4096

// lengthed writes an HTTP/1.1 request body of bodyBytes (its Content-Length) to its
// connection, as written.
type lengthed struct {
	net.Conn
	mu   sync.Mutex
	sent int
}

func (l *lengthed) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.Conn.Write(b)
	l.sent += n
	return n, err
}

// Close sends the rest of the body (the connection stays open).
func (l *lengthed) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.Conn.Write(make([]byte, max(0, bodyBytes-l.sent)))
	return err
}

// What is not stuck is left alone: over HTTP/1.1, a call that read its body before the drain
// and then takes its time (its context is not ended by a deadline on its connection), and,
// drain or not, an answer given before the body is sent (a client that asks "Expect:
// 100-continue" gets it at once, not after the server has waited for the body).
func TestEndStuckOnDrain_LeavesAloneWhatIsNotStuck(t *testing.T) {
	const wait = 100 * time.Millisecond
	drain := make(chan struct{})
	read := make(chan struct{}, 1)
	ended := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/read-then-work", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		read <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * wait):
		}
		ended <- r.Context().Err()
	})
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unsupported media type", http.StatusUnsupportedMediaType)
	})
	_, addr := serve(t, endStuckOnDrain(mux, drain, wait, BodyWait, func(string) bool { return false }, discard),
		func(ln net.Listener) net.Listener { return CutStuckConns(ln, drain, wait, discard) })

	refused := sendHTTP1(t, addr, "POST /refuse HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	_ = refused.SetReadDeadline(time.Now().Add(2 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(refused), nil)
	if err != nil || res.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("an answer before the body, with the body not sent: %v %v, want 415 at once", res, err)
	}

	sendHTTP1(t, addr, "POST /read-then-work HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\nhello")
	<-read
	close(drain)
	if err := <-ended; err != nil {
		t.Fatalf("a call that had read its body, after the drain: its context ended (%v), want it left to work", err)
	}
}

// serve serves h (in a NewServer) on a loopback port until the test ends, accepting through
// the listener wrap makes of it, and returns the server and its address.
func serve(t *testing.T, h http.Handler, wrap func(net.Listener) net.Listener) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", h)
	go func() { _ = srv.Serve(wrap(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv, ln.Addr().String()
}

// sendHTTP1 connects to addr and writes request, an HTTP/1.1 request's head (its %s the
// host) and as much of its body as goes with it, by hand; the connection, returned, stays
// open until the test ends.
func sendHTTP1(t *testing.T, addr, request string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := fmt.Fprintf(conn, request, addr); err != nil {
		t.Fatal(err)
	}
	return conn
}

// discard is the log of the tests that do not read it.
var discard = slog.New(slog.DiscardHandler)
