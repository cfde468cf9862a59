// Package pgcount is a TCP proxy for PostgreSQL's wire protocol (version 3) that counts what
// goes through it: the statements, round trips and transactions clients ask for, and the bytes,
// rows and notifications the server sends back. A harness puts one between a process and
// Postgres to measure that process's database traffic exactly, without pg_stat_statements
// (which needs shared_preload_libraries and so a change to the stack), and can tell a
// process's connections apart by the application_name of their startup messages.
//
// After the untyped startup packet (and an SSLRequest or GSSENCRequest before it, which the
// server must refuse: clients have to use sslmode=disable, the proxy cannot read TLS) every
// message either way is a type byte and a length; see Counts for which messages count as
// what. Both sides' bytes are forwarded unchanged, in the batches they were written in.
package pgcount

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Proxy forwards connections from a loopback port to a Postgres server and counts them.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	closed bool
	open   map[net.Conn]struct{}
	// conns are every connection's counts, closed ones included, in the order accepted.
	conns []*connection
}

// connection is one client connection's counts.
type connection struct {
	counters
	// app is the application_name of its startup message; "" until then, or without one.
	// serverPort is the local port of the proxy's connection to the server (what the server
	// sees as the client's port, e.g. pg_stat_activity.client_port), 0 once it has closed.
	// Both guarded by the Proxy's mu.
	app        string
	serverPort int
}

// Listen opens a proxy to target (host:port) on a free loopback port. Call Serve to run it.
func Listen(ctx context.Context, target string) (*Proxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for postgres proxy: %w", err)
	}
	return &Proxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}, nil
}

// Addr is the host:port clients connect to instead of the server.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Counts returns what was counted so far, over every connection.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sum Counts
	for _, c := range p.conns {
		sum = sum.Add(c.snapshot())
	}
	return sum
}

// ByApplication returns what was counted so far by the application_name the connections gave
// in their startup messages ("" for none).
func (p *Proxy) ByApplication() map[string]Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	by := map[string]Counts{}
	for _, c := range p.conns {
		by[c.app] = by[c.app].Add(c.snapshot())
	}
	return by
}

// ServerPorts returns, for the open connections whose startup message named application
// app, the local ports of the proxy's connections to the server: the client_port by which
// pg_stat_activity tells their backends.
func (p *Proxy) ServerPorts(app string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ports []int
	for _, c := range p.conns {
		if c.app == app && c.serverPort != 0 {
			ports = append(ports, c.serverPort)
		}
	}
	return ports
}

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
	for c := range p.open {
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
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, c)
	_ = c.Close()
}

// newConnection registers a new connection's counts; server is the proxy's connection to the
// server for it.
func (p *Proxy) newConnection(server net.Conn) *connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &connection{}
	if addr, ok := server.LocalAddr().(*net.TCPAddr); ok {
		c.serverPort = addr.Port
	}
	p.conns = append(p.conns, c)
	return c
}

// ended records that c's connection has ended.
func (p *Proxy) ended(c *connection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.serverPort = 0
}

// named records the application_name of c's startup message.
func (p *Proxy) named(c *connection, app string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.app = app
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

	c := p.newConnection(server)
	defer p.ended(c)
	// The client's untyped packets, as relayed, so that the server's side knows which of its
	// answers are single bytes (to SSLRequest, GSSENCRequest) and where typed messages begin.
	untyped := make(chan uint32, 4)
	var g errgroup.Group
	g.Go(func() error {
		defer client.Close() // the server hung up: end the other direction too
		return relayServer(server, client, untyped, &c.counters)
	})
	g.Go(func() error {
		defer server.Close()
		return relayClient(client, server, untyped, &c.counters, func(app string) { p.named(c, app) })
	})
	_ = g.Wait() // either side closing is the normal end of a connection
}
