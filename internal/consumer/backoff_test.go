package consumer

import (
	"testing"
	"time"
)

func TestBackoff_DoublesWithJitterAndNeverExceedsTheCap(t *testing.T) {
	for _, limit := range []time.Duration{50 * time.Millisecond, time.Second, DefaultMaxBackoff} {
		b := newBackoff(limit)
		for range 3 { // reset starts over
			step := backoffInitial
			for i := range 20 {
				d := min(step, limit)
				wait := b.next()
				if wait < d/2 || wait > d {
					t.Fatalf("cap %s: wait %d is %s, want within [%s, %s]", limit, i+1, wait, d/2, d)
				}
				step *= 2
			}
			b.reset()
		}
	}
	b := newBackoff(time.Second)
	seen := map[time.Duration]bool{}
	for range 10 {
		seen[b.next()] = true
	}
	if len(seen) < 5 {
		t.Errorf("10 waits took %d values, want them spread at random", len(seen))
	}
}
