package pgcount

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func untyped(code uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, payload...)
}

func typed(t byte, body string) []byte {
	b := []byte{t}
	b = binary.BigEndian.AppendUint32(b, uint32(4+len(body)))
	return append(b, body...)
}

func TestRelayClient_CountsStatementsAndPassesBytesThrough(t *testing.T) {
	var in bytes.Buffer
	in.Write(untyped(sslRequest, ""))
	in.Write(untyped(196608, "user\x00postgres\x00application_name\x00bench\x00\x00")) // protocol 3.0 startup
	in.Write(typed('p', "secret\x00"))
	in.Write(typed('Q', "begin\x00"))
	// A pipelined batch of two executions of one prepared statement, then one Sync.
	in.Write(typed('P', "stmt\x00INSERT 1\x00\x00\x00"))
	for range 2 {
		in.Write(typed('B', "\x00stmt\x00\x00\x00\x00\x00\x00\x00"))
		in.Write(typed('E', "\x00\x00\x00\x00\x00"))
	}
	in.Write(typed('S', ""))
	in.Write(typed('Q', "commit\x00"))
	in.Write(typed('Q', "-- ping\x00"))
	in.Write(typed('X', ""))
	sent := bytes.Clone(in.Bytes())

	var c counters
	var out bytes.Buffer
	codes := make(chan uint32, 4)
	var app string
	if err := relayClient(&in, &out, codes, &c, func(a string) { app = a }); !errors.Is(err, io.EOF) {
		t.Fatalf("relay ended with %v, want io.EOF at the end of input", err)
	}
	if !bytes.Equal(out.Bytes(), sent) {
		t.Fatal("the server did not receive exactly what the client sent")
	}
	want := Counts{Statements: 4, RoundTrips: 4, Transactions: 1, Prepares: 1, Pings: 1, ClientBytes: int64(len(sent)), Connections: 1}
	if got := c.snapshot(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if app != "bench" {
		t.Errorf("application_name %q, want bench", app)
	}
	var got []uint32
	for code := range codes {
		got = append(got, code)
	}
	if len(got) != 2 || got[0] != sslRequest || got[1] != 196608 {
		t.Errorf("untyped packets %v, want the SSLRequest then the startup message", got)
	}
}

func TestRelayServer_CountsBytesRowsAndNotificationsAfterTheSSLAnswer(t *testing.T) {
	var in bytes.Buffer
	in.WriteByte('N') // no TLS, the answer to the SSLRequest
	in.Write(typed('R', "\x00\x00\x00\x00"))
	in.Write(typed('Z', "I"))
	in.Write(typed('T', "\x00\x01serial\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x14\x00\x08\xff\xff\xff\xff\x00\x00"))
	in.Write(typed('D', "\x00\x01\x00\x00\x00\x011"))
	in.Write(typed('D', "\x00\x01\x00\x00\x00\x012"))
	in.Write(typed('C', "SELECT 2\x00"))
	in.Write(typed('Z', "I"))
	in.Write(typed('A', "\x00\x00\x00\x2atranscript_00\x00\x00"))
	sent := bytes.Clone(in.Bytes())

	codes := make(chan uint32, 2)
	codes <- sslRequest
	codes <- 196608
	close(codes)
	var c counters
	var out bytes.Buffer
	if err := relayServer(&in, &out, codes, &c); !errors.Is(err, io.EOF) {
		t.Fatalf("relay ended with %v, want io.EOF at the end of input", err)
	}
	if !bytes.Equal(out.Bytes(), sent) {
		t.Fatal("the client did not receive exactly what the server sent")
	}
	want := Counts{ServerBytes: int64(len(sent)), Rows: 2, Notifications: 1, Connections: 1}
	if got := c.snapshot(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
}

func TestStartupParam_FindsTheValueOfANameNotAValue(t *testing.T) {
	payload := []byte("user\x00application_name\x00database\x00beacon\x00application_name\x00\x00\x00")
	for _, c := range []struct{ name, want string }{
		{"user", "application_name"},
		{"database", "beacon"},
		{"application_name", ""},
		{"beacon", ""},
	} {
		if got := startupParam(payload, c.name); got != c.want {
			t.Errorf("startupParam(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// A client and a fake server talk through a real Proxy: each side gets the other's bytes,
// the counts are kept per application_name, and an open connection's port at the server is
// the one the server sees.
func TestProxy_CountsEachApplicationsConnectionsApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var lc net.ListenConfig
	serverLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer serverLn.Close()
	reply := append(typed('Z', "I"), typed('A', "\x00\x00\x00\x01ch\x00\x00")...)
	clientPorts := make(chan int, 3) // the ports the server sees its clients connect from
	go func() {
		for {
			conn, err := serverLn.Accept()
			if err != nil {
				return
			}
			clientPorts <- conn.RemoteAddr().(*net.TCPAddr).Port
			go func() {
				defer conn.Close()
				// The startup message (8-byte header and its payload), then one query.
				var header [8]byte
				if _, err := io.ReadFull(conn, header[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(header[:4]))-8); err != nil {
					return
				}
				if _, err := conn.Write(reply); err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()

	p, err := Listen(ctx, serverLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx) }()
	for _, app := range []string{"listener", "", ""} {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		startup := untyped(196608, "user\x00postgres\x00")
		if app != "" {
			startup = untyped(196608, "user\x00postgres\x00application_name\x00"+app+"\x00\x00")
		}
		if _, err := conn.Write(append(startup, typed('Q', "LISTEN ch\x00")...)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(reply))
		if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, reply) {
			t.Fatalf("client read %q, %v; want the server's %q", got, err, reply)
		}
		if app == "listener" {
			seen := <-clientPorts
			if ports := p.ServerPorts("listener"); len(ports) != 1 || ports[0] != seen {
				t.Errorf("ServerPorts(listener) = %v while it is open, want [%d], the port the server saw", ports, seen)
			}
		}
		_ = conn.Close()
	}
	// The client's last bytes may still be on their way through the proxy.
	deadline := time.Now().Add(5 * time.Second)
	for p.Counts().Statements < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for time.Now().Before(deadline) && len(p.ServerPorts("listener")) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if ports := p.ServerPorts("listener"); len(ports) != 0 {
		t.Errorf("ServerPorts(listener) = %v after it closed, want none", ports)
	}
	by := p.ByApplication()
	if got := by["listener"]; got.Connections != 1 || got.Notifications != 1 || got.ServerBytes != int64(len(reply)) || got.Statements != 1 {
		t.Errorf("listener's counts %+v, want 1 connection, 1 notification, %d bytes from the server, 1 statement", got, len(reply))
	}
	if got := by[""]; got.Connections != 2 || got.ServerBytes != 2*int64(len(reply)) {
		t.Errorf("the unnamed connections' counts %+v, want 2 connections and %d bytes from the server", got, 2*len(reply))
	}
	if total := p.Counts(); total != by["listener"].Add(by[""]) {
		t.Errorf("total %+v is not the sum of the applications' %+v", total, by)
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}
