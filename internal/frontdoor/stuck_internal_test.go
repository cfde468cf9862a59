package frontdoor

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
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
	srv := NewServer("127.0.0.1:0", endStuckOnDrain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
		returned <- struct{}{}
	}), drain, wait))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(CutStuckConns(smallSendBuffers{ln}, drain, wait)) }()
	defer srv.Close()

	conn := unreadH2Requests(t, ln.Addr().String())
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
