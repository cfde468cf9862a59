package kafkaqueue_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// counter returns the value of the counter name in reg, summed over its labels.
func counter(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
