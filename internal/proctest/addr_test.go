package proctest

import (
	"net"
	"strconv"
	"testing"
)

// The address is free to listen on, and its port is below the range the kernel gives
// outgoing connections, which could take it before the process that is to listen on it does.
func TestLoopbackAddr_IsFreeAndOutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range to read (not Linux): LoopbackAddr uses port 0")
	}
	if low <= firstPort {
		t.Skipf("the ephemeral range starts at %d, not above %d: LoopbackAddr uses port 0", low, firstPort)
	}
	for range 20 {
		addr, err := LoopbackAddr(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if host != "127.0.0.1" || port < firstPort || port >= low {
			t.Fatalf("address %s, want 127.0.0.1 with a port in [%d, %d)", addr, firstPort, low)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on the address it returned: %v", err)
		}
		_ = ln.Close()
	}
}
