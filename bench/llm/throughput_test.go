package main

import (
	"testing"
	"time"
)

func TestIdeal_IsTheSmallerOfWorkersAndConversationsOverLatencyCappedByTheRequestLimit(t *testing.T) {
	for _, c := range []struct {
		n, conversations, rpm int
		r                     time.Duration
		want                  float64
	}{
		{64, 256, 0, 100 * time.Millisecond, 640},
		{64, 16, 0, 100 * time.Millisecond, 160},
		{64, 256, 12000, 100 * time.Millisecond, 200},
		{64, 256, 60000, 100 * time.Millisecond, 640},
	} {
		if got := ideal(c.n, c.conversations, c.r, c.rpm); got != c.want {
			t.Errorf("ideal(%d, %d, %s, %d) = %g, want %g", c.n, c.conversations, c.r, c.rpm, got, c.want)
		}
	}
}
