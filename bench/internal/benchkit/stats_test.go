package benchkit

import (
	"testing"
	"time"
)

func TestSummarise_NearestRankPercentiles(t *testing.T) {
	ms := time.Millisecond
	thousand := make([]time.Duration, 0, 1000)
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		thousand = append(thousand, time.Duration(i)*ms)
	}
	for _, c := range []struct {
		name   string
		sample []time.Duration
		want   Distribution
	}{
		{"empty", nil, Distribution{}},
		{"one value", []time.Duration{7 * ms}, Distribution{N: 1, Min: 7 * ms, P50: 7 * ms, P90: 7 * ms, P99: 7 * ms, P999: 7 * ms, Max: 7 * ms}},
		{"two values", []time.Duration{2 * ms, 1 * ms}, Distribution{N: 2, Min: 1 * ms, P50: 1 * ms, P90: 2 * ms, P99: 2 * ms, P999: 2 * ms, Max: 2 * ms}},
		{"ten values", []time.Duration{10 * ms, 9 * ms, 8 * ms, 7 * ms, 6 * ms, 5 * ms, 4 * ms, 3 * ms, 2 * ms, 1 * ms},
			Distribution{N: 10, Min: 1 * ms, P50: 5 * ms, P90: 9 * ms, P99: 10 * ms, P999: 10 * ms, Max: 10 * ms}},
		{"a thousand values", thousand, Distribution{N: 1000, Min: ms, P50: 500 * ms, P90: 900 * ms, P99: 990 * ms, P999: 999 * ms, Max: time.Second}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Summarise(c.sample); got != c.want {
				t.Errorf("Summarise = %+v, want %+v", got, c.want)
			}
		})
	}
	if thousand[0] != time.Second {
		t.Error("Summarise reordered its input")
	}
}
