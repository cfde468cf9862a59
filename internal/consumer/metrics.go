package consumer

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a consumer group's instruments, labelled by group so several groups in one
// process share them.
type Metrics struct {
	lag          *prometheus.GaugeVec
	commitErrors *prometheus.CounterVec
	retries      *prometheus.CounterVec
	joined       *joinedCollector
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
	m.joined = &joinedCollector{
		desc: prometheus.NewDesc("kafka_consumer_joined",
			"1 while this member is in its consumer group (as readiness counts it: a rebalance shorter than the session timeout included), 0 while it cannot join, by group.",
			[]string{"group"}, nil),
		groups: map[string]func() bool{},
	}
	reg.MustRegister(m.lag, m.commitErrors, m.retries, m.joined)
	return m
}

// joinedCollector reports, at each scrape, whether each group's member is in its group.
type joinedCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	groups map[string]func() bool
}

func (c *joinedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *joinedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for group, joined := range c.groups {
		v := 0.0
		if joined() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, group)
	}
}

// track exports group's counters from the start, at zero, so that they are listed before the
// first failure, and whether its member is joined, as joined says; m may be nil.
func (m *Metrics) track(group string, joined func() bool) {
	if m != nil {
		m.commitErrors.WithLabelValues(group)
		m.retries.WithLabelValues(group)
		m.joined.mu.Lock()
		m.joined.groups[group] = joined
		m.joined.mu.Unlock()
	}
}
