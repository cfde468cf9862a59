package proctest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address with a port that is free now, for a process the test
// starts to listen on (LoopbackAddr).
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := LoopbackAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// LoopbackAddr returns a loopback address whose port is free now and is not one the kernel
// hands out to outgoing connections, for a process started a moment later to listen on. A
// port from the ephemeral range (what port 0 gives) can be taken meanwhile by any connection
// made on the machine: the bench harness, with thousands of connections to Postgres, Kafka
// and its front doors, saw a front door fail to start with "address already in use". Below
// that range only another listener that chooses the same port in that moment can take it, so
// ports are tried at random there, and port 0 only when none is free.
func LoopbackAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	if low := ephemeralLow(); low > firstPort {
		for range 100 {
			ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(firstPort+rand.IntN(low-firstPort))))
			if err != nil {
				if ctx.Err() != nil {
					return "", fmt.Errorf("find a free port: %w", ctx.Err())
				}
				continue // taken
			}
			defer ln.Close()
			return ln.Addr().String(), nil
		}
	}
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// firstPort is the lowest port LoopbackAddr chooses: above the fixed ports of the services,
// the stack and the tools (Postgres 5432, Kafka 9092, the binaries' 8080 and 9090, ...).
const firstPort = 10000

// ephemeralLow is the first port of Linux's ephemeral range, or 0 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return low
}

// SilentAddr returns the address of a listener that accepts connections and never answers,
// as a server does that is stopped or swamped: a client's wait on it ends only by its own
// timeout or context. The listener and what it accepted are closed when the test ends.
func SilentAddr(t testing.TB) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64) // accepted, never answered; more are closed at once
	t.Cleanup(func() {
		_ = ln.Close()
		for len(held) > 0 {
			_ = (<-held).Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c:
			default:
				_ = c.Close()
			}
		}
	}()
	return ln.Addr().String()
}
