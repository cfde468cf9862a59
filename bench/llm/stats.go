package main

import (
	"math"
	"slices"
	"time"
)

// distribution summarises a sample of durations.
type distribution struct {
	N                        int
	P50, P90, P99, P999, Max time.Duration
}

// summarise returns nearest-rank percentiles and the maximum of d.
func summarise(d []time.Duration) distribution {
	if len(d) == 0 {
		return distribution{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
	}
	return distribution{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), P999: rank(0.999), Max: s[len(s)-1]}
}
