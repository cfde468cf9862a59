package consumer

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// An operator looking at /metrics, or an alert on a rate, finds a group's failure counters
// before the first failure.
func TestMetrics_AGroupsCountersAreListedAtZeroFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	New(Config{GroupID: "signals", Metrics: m}, nil)
	NewPipelined(Config{GroupID: "jobs", Metrics: m}, nil)
	New(Config{GroupID: "unmeasured"}, nil) // no metrics: nothing to list
	want := `
# HELP kafka_consumer_batch_retries_total Batches that failed and were retried, by group.
# TYPE kafka_consumer_batch_retries_total counter
kafka_consumer_batch_retries_total{group="jobs"} 0
kafka_consumer_batch_retries_total{group="signals"} 0
# HELP kafka_consumer_commit_errors_total Offset commits that failed (the batch is then redelivered), by group.
# TYPE kafka_consumer_commit_errors_total counter
kafka_consumer_commit_errors_total{group="jobs"} 0
kafka_consumer_commit_errors_total{group="signals"} 0
# HELP kafka_consumer_joined 1 while this member is in its consumer group (as readiness counts it: a rebalance shorter than the session timeout included), 0 while it cannot join, by group.
# TYPE kafka_consumer_joined gauge
kafka_consumer_joined{group="jobs"} 0
kafka_consumer_joined{group="signals"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"kafka_consumer_batch_retries_total", "kafka_consumer_commit_errors_total", "kafka_consumer_joined"); err != nil {
		t.Fatal(err)
	}
}
