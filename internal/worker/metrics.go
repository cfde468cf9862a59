package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/access"
)

// Metrics are the worker pool's instruments.
type Metrics struct {
	jobs         *prometheus.CounterVec
	duration     prometheus.Histogram
	busy         prometheus.Gauge
	deadLettered prometheus.Counter
	tiers        *prometheus.CounterVec
}

// NewMetrics registers the pool's instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_jobs_total",
			Help: "Jobs ended, by outcome: answered, failed, already_answered (redone after its outcome was stored: no model call, no second reply), refused (the front door could not confirm it and said so: no model call, no outcome), expired (its conversation was gone: no outcome), unstorable (the transcript store refused one of its values: no outcome, copied to the dead-letter topic), or lost (no worker had answered it LOST_JOB_AFTER after its enqueueing: the sweep recorded an error for it).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "worker_model_duration_seconds",
			Help:    "Time a job spent with the model, retries and waits included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		tiers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "worker_answers_by_tier_total",
			Help: "Jobs put to what answers their tier: premium (and jobs without a tier) to the model, free to the offline ELIZA responder.",
		}, []string{"tier"}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "worker_busy",
			Help: "Workers holding a job for the model: calling it, or waiting to (a retry's wait, the rate limit, an open breaker); at most WORKERS.",
		}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "worker_dead_lettered_total",
			Help: "Jobs copied to the jobs dead-letter topic (failed or undecodable).",
		}),
	}
	reg.MustRegister(m.jobs, m.duration, m.busy, m.deadLettered, m.tiers)
	// Every outcome listed from the start, at zero: a rate or an increase over a series that
	// appears with its first job misses that job (JobsAnsweredWithErrors, on failed).
	for _, outcome := range []string{"answered", "failed", "already_answered", "refused", "expired", "unstorable", "lost"} {
		m.jobs.WithLabelValues(outcome)
	}
	for _, tier := range []access.Tier{access.Free, access.Premium} {
		m.tiers.WithLabelValues(string(tier))
	}
	return m
}

// DeadLettered counts jobs copied to the jobs dead-letter topic.
func (m *Metrics) DeadLettered() prometheus.Counter { return m.deadLettered }
