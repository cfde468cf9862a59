package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestBanner_SaysWhenTheHeadbandStartsRecordings(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for _, c := range []struct {
		b    banner
		want string
	}{
		{banner{interval: time.Second, maxPause: 500 * time.Millisecond}, "starts a recording every 1s (pauses up to 500ms)"},
		{banner{interval: time.Second, maxPause: 500 * time.Millisecond, fast: true}, "starts recordings back to back, without pauses (HEADBAND_FAST)"},
	} {
		c.b.rpc, c.b.admin, c.b.kafka = addr, addr, addr
		var out strings.Builder
		c.b.print(&out)
		if !strings.Contains(out.String(), "The simulated headband "+c.want) {
			t.Errorf("fast=%t: the banner does not say %q:\n%s", c.b.fast, c.want, out.String())
		}
	}
}
