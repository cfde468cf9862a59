package frontdoor

import (
	"fmt"
	"testing"
	"time"
)

// Each host has its own allowance of info lines, whatever the port it calls from: one
// client refused again and again does not put another's refusals at debug.
func TestRefusedLines_OneAllowancePerHost(t *testing.T) {
	var r refusedLines
	at := time.Unix(1000, 0)
	take := func(peer string, after time.Duration) (bool, int) { return r.take(peer, at.Add(after)) }

	if ok, _ := take("10.0.0.1:5000", 0); !ok {
		t.Fatal("a host's first refusal is not at info")
	}
	for i := range 3 {
		if ok, _ := take(fmt.Sprintf("10.0.0.1:%d", 5001+i), 100*time.Millisecond); ok {
			t.Fatalf("refusal %d of the same host within RefusedLogEvery at info", i+2)
		}
	}
	if ok, n := take("10.0.0.2:5000", 200*time.Millisecond); !ok || n != 0 {
		t.Fatalf("another host's first refusal: info %v, counted %d; want info, 0", ok, n)
	}
	if ok, n := take("10.0.0.1:6000", RefusedLogEvery); !ok || n != 3 {
		t.Fatalf("the first host after RefusedLogEvery: info %v, counted %d; want info, 3", ok, n)
	}
}

// Past refusedHosts, the hosts whose lines have nothing to count are forgotten, and when
// none can be, the hosts not followed share one allowance: the memory is bounded.
func TestRefusedLines_BoundsTheHostsFollowed(t *testing.T) {
	var r refusedLines
	at := time.Unix(1000, 0)
	for i := range refusedHosts {
		r.take(fmt.Sprintf("host-%d:1", i), at)
		r.take(fmt.Sprintf("host-%d:1", i), at) // one at debug: not forgettable
	}
	if ok, _ := r.take("new-1:1", at); !ok {
		t.Fatal("the first host past the bound is not at info")
	}
	if ok, _ := r.take("new-2:1", at); ok {
		t.Fatal("a second host past the bound has an allowance of its own: want the shared one")
	}
	if len(r.hosts) > refusedHosts+1 {
		t.Fatalf("%d hosts followed, want at most %d", len(r.hosts), refusedHosts+1)
	}
	// Once their lines have nothing to count, the hosts are forgotten for new ones.
	for i := range refusedHosts {
		r.take(fmt.Sprintf("host-%d:1", i), at.Add(RefusedLogEvery))
	}
	if ok, n := r.take("new-3:1", at.Add(2*RefusedLogEvery)); !ok || n != 0 {
		t.Fatalf("a new host once the others are forgettable: info %v, counted %d; want info, 0", ok, n)
	}
	if _, followed := r.hosts["new-3"]; !followed {
		t.Fatal("the new host was not followed on its own")
	}
}
