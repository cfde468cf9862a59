package dispatch_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/dispatch"
)

// Every op is a series from the start, so that the first delete or truncate shows as an
// increase.
func TestMetrics_EveryOpIsListedAtZeroFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	dispatch.NewMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, "dispatcher_events_total"); err != nil || n != 6 {
		t.Fatalf("dispatcher_events_total has %d series (%v), want its 6 ops", n, err)
	}
}
