package main

import (
	"testing"
	"time"
)

func TestSummarise_NearestRankPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := summarise(d)
	want := distribution{N: 1000, P50: 500 * time.Millisecond, P90: 900 * time.Millisecond,
		P99: 990 * time.Millisecond, P999: 999 * time.Millisecond, Max: time.Second}
	if s != want {
		t.Errorf("summarise = %+v, want %+v", s, want)
	}
	if d[0] != time.Second {
		t.Error("summarise reordered its input")
	}
}

func TestSummarise_EmptySampleIsZero(t *testing.T) {
	if s := summarise(nil); s != (distribution{}) {
		t.Errorf("summarise(nil) = %+v", s)
	}
}

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
