package consumer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a consumer group's instruments, labelled by group so several groups in one
// process share them.
type Metrics struct {
	lag          *prometheus.GaugeVec
	commitErrors *prometheus.CounterVec
	retries      *prometheus.CounterVec
}

// NewMetrics registers the consumer instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kafka_consumer_lag",
			Help: "Messages between the group's committed offset and the partition's end (not fetched yet, in hand, or in a batch that keeps failing), by group, topic and partition, as the partition's owner reads them every second; removed when it loses the partition.",
		}, []string{"group", "topic", "partition"}),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_consumer_commit_errors_total",
			Help: "Offset commits that failed (the batch is then redelivered), by group.",
		}, []string{"group"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kafka_consumer_batch_retries_total",
			Help: "Batches that failed and were retried, by group.",
		}, []string{"group"}),
	}
	reg.MustRegister(m.lag, m.commitErrors, m.retries)
	return m
}

// track exports group's counters from the start, at zero, so that they are listed before the
// first failure; m may be nil.
func (m *Metrics) track(group string) {
	if m != nil {
		m.commitErrors.WithLabelValues(group)
		m.retries.WithLabelValues(group)
	}
}
