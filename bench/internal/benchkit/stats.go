package benchkit

import (
	"math"
	"slices"
	"time"
)

// Distribution summarises a sample of durations (latencies): its size, minimum, nearest-rank
// percentiles and maximum. The zero value is an empty sample's.
type Distribution struct {
	N                             int
	Min, P50, P90, P99, P999, Max time.Duration
}

// Summarise returns the distribution of d, which it leaves as it was. A percentile p is the
// nearest-rank one: the smallest value at least p of the sample is not above.
func Summarise(d []time.Duration) Distribution {
	if len(d) == 0 {
		return Distribution{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		return s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
	}
	return Distribution{N: len(s), Min: s[0], P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), P999: rank(0.999), Max: s[len(s)-1]}
}
