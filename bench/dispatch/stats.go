package main

import (
	"math"
	"slices"
	"time"
)

// distribution summarises a sample of durations.
type distribution struct {
	N             int
	P50, P99, Max time.Duration
}

// summarise returns the nearest-rank 50th and 99th percentiles and the maximum of d.
func summarise(d []time.Duration) distribution {
	if len(d) == 0 {
		return distribution{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
	}
	return distribution{N: len(s), P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}
