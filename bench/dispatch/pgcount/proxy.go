// Package pgcount is a TCP proxy for PostgreSQL's wire protocol (version 3) that counts what
// clients ask the server to do: statements, round trips and transactions. The benchmark puts
// one between a process and Postgres to count that process's statements exactly, without
// pg_stat_statements (which needs shared_preload_libraries and so a change to the stack).
//
// Only the client's side is read. After the untyped startup packet (and an SSLRequest or
// GSSENCRequest before it, which the server must refuse: clients have to use sslmode=disable,
// the proxy cannot read TLS) every client message is a type byte and a length; see Counts for
// which messages count as what. The server's side is copied through untouched, and the
// client's bytes are forwarded unchanged, in the same batches the client wrote them.
package pgcount

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Codes of the untyped packets a client may send before its startup message.
const (
	sslRequest    = 80877103
	gssEncRequest = 80877104
)

// maxMessage bounds one client message; larger ones are refused as a protocol error.
const maxMessage = 1 << 30

// Proxy forwards connections from a loopback port to a Postgres server and counts them.
type Proxy struct {
	ln     net.Listener
	target string
	counts counters

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// Listen opens a proxy to target (host:port) on a free loopback port. Call Serve to run it.
func Listen(ctx context.Context, target string) (*Proxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for postgres proxy: %w", err)
	}
	return &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the host:port clients connect to instead of the server.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Counts returns what was counted so far.
func (p *Proxy) Counts() Counts { return p.counts.snapshot() }

// Serve forwards connections until ctx is done, then closes the port and every connection,
// waits for them and returns nil. A connection failing is not an error of Serve's: the
// client sees it as a broken connection, as it would without the proxy.
func (p *Proxy) Serve(ctx context.Context) error {
	var conns errgroup.Group
	stop := context.AfterFunc(ctx, p.closeAll)
	defer stop()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			p.closeAll()
			_ = conns.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("postgres proxy accept: %w", err)
		}
		conns.Go(func() error {
			p.forward(ctx, client)
			return nil
		})
	}
}

// closeAll closes the listener and every open connection, and any opened later.
func (p *Proxy) closeAll() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// track registers c to be closed by closeAll; once that has run it closes c and reports false.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

// forward relays one client connection until either side closes it.
func (p *Proxy) forward(ctx context.Context, client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)

	var g errgroup.Group
	g.Go(func() error {
		defer client.Close() // the server hung up: end the other direction too
		_, err := io.Copy(client, server)
		return err
	})
	g.Go(func() error {
		defer server.Close()
		return p.relayClient(client, server)
	})
	_ = g.Wait() // either side closing is the normal end of a connection
}

// relayClient copies the client's messages to the server, counting each.
func (p *Proxy) relayClient(client io.Reader, server io.Writer) error {
	r := bufio.NewReaderSize(client, 64<<10)
	w := bufio.NewWriterSize(server, 64<<10)
	for {
		code, err := relayUntyped(r, w)
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if code != sslRequest && code != gssEncRequest {
			break // that was the startup message (or a cancel request)
		}
	}
	var header [5]byte
	var body []byte
	for {
		if r.Buffered() == 0 { // the client's write is complete: pass it on before waiting
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(r, header[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(header[1:])) - 4
		if n < 0 || n > maxMessage {
			return fmt.Errorf("client message %q has length %d", header[0], n+4)
		}
		if int64(cap(body)) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		p.counts.count(header[0], body)
		if _, err := w.Write(header[:]); err != nil {
			return err
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
	}
}

// relayUntyped copies one packet without a type byte (length, code, payload) and returns its
// code.
func relayUntyped(r io.Reader, w io.Writer) (uint32, error) {
	var header [8]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return 0, err
	}
	n := int64(binary.BigEndian.Uint32(header[:4])) - 8
	if n < 0 || n > maxMessage {
		return 0, fmt.Errorf("startup packet has length %d", n+8)
	}
	if _, err := w.Write(header[:]); err != nil {
		return 0, err
	}
	if _, err := io.CopyN(w, r, n); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(header[4:]), nil
}
