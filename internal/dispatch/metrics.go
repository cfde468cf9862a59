package dispatch

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/debezium"
)

// Metrics are the dispatcher's instruments for the signal flow.
type Metrics struct {
	events        *prometheus.CounterVec
	completed     prometheus.Counter
	deadLettered  prometheus.Counter
	ignored       prometheus.Counter
	batchDuration prometheus.Histogram
	failed        prometheus.Counter
	pending       prometheus.Gauge
	incomplete    prometheus.Counter
}

// NewMetrics registers the instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatcher_events_total",
			Help: "Change events consumed and made durable, by Debezium op (c, r, u, d, t, or tombstone).",
		}, []string{"op"}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dispatcher_recordings_completed_total",
			Help: "Recordings that became complete and were processed (process_record ran).",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dispatcher_dead_lettered_total",
			Help: "Messages that could not be decoded and went to the dead-letter topic.",
		}),
		ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dispatcher_changes_ignored_total",
			Help: "Changes that could change nothing, skipped: those no newer than the state they met (redeliveries and replays), and those of a signal not known to a recording already processed (one that comes late, say).",
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dispatcher_process_duration_seconds",
			Help:    "Time to apply one batch of changes and run process_record for what completed, in one transaction: batches that succeeded (an attempt that failed is counted in dispatcher_batches_failed_total).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dispatcher_batches_failed_total",
			Help: "Attempts at a batch of signal changes that failed (the dead-letter copy of what could not be decoded, the apply, process_record, or the attempt's timeout): nothing of them was made durable, and the consumer retries the batch.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dispatcher_pending_recordings",
			Help: "Recordings not yet complete with a signal present (all replicas); NaN while the count cannot be read (before the first read, or the database unreachable).",
		}),
		incomplete: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dispatcher_incomplete_recordings_total",
			Help: "Recordings still incomplete INCOMPLETE_AFTER after their first signal (each counted once, by one replica).",
		}),
	}
	// Not a count until one is read: 0 would say "nothing pending" of a dispatcher that cannot
	// tell, and max across replicas skips NaN.
	m.pending.Set(math.NaN())
	reg.MustRegister(m.events, m.completed, m.deadLettered, m.ignored, m.batchDuration, m.failed, m.pending, m.incomplete)
	// Every op a series from the start, at zero, so that a rate over the first deletes (or a
	// truncate) counts them too.
	for _, op := range []string{string(debezium.OpCreate), string(debezium.OpRead), string(debezium.OpUpdate),
		string(debezium.OpDelete), string(debezium.OpTruncate), tombstoneOp} {
		m.events.WithLabelValues(op)
	}
	return m
}

// tombstoneOp is dispatcher_events_total's op for a tombstone, which has no Debezium op.
const tombstoneOp = "tombstone"

// DeadLettered counts the signal topic's messages copied to its dead-letter topic.
func (m *Metrics) DeadLettered() prometheus.Counter { return m.deadLettered }
