package worker_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/worker"
)

// Every outcome is a series from the start, so that the first failed job shows as an increase.
func TestMetrics_EveryOutcomeIsListedAtZeroFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	worker.NewMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, "worker_jobs_total"); err != nil || n != 7 {
		t.Fatalf("worker_jobs_total has %d series (%v), want its 7 outcomes", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "worker_answers_by_tier_total"); err != nil || n != 2 {
		t.Fatalf("worker_answers_by_tier_total has %d series (%v), want its 2 tiers", n, err)
	}
}
