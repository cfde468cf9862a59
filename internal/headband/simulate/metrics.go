package simulate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/headband"
)

// Reasons a signal that was meant to be inserted was not.
const (
	SkipError    = "error"    // a permanent error, or retries ran out
	SkipShutdown = "shutdown" // the process was stopping
	SkipExists   = "exists"   // a row with the signal's ID was already there
)

// Metrics are the simulator's Prometheus metrics.
type Metrics struct {
	recordingsStarted  prometheus.Counter
	recordingsInFlight prometheus.Gauge
	inserted           *prometheus.CounterVec
	dropped            *prometheus.CounterVec
	skipped            *prometheus.CounterVec
	insertErrors       prometheus.Counter
}

// NewMetrics registers the simulator's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		recordingsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "headband_recordings_started_total",
			Help: "Recordings started.",
		}),
		recordingsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "headband_recordings_in_flight",
			Help: "Recordings started whose inserts have not all ended.",
		}),
		inserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headband_signals_inserted_total",
			Help: "Signal rows inserted, by sensor type.",
		}, []string{"sensor_type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headband_signals_dropped_total",
			Help: "Signals the simulation dropped on purpose (never inserted), by sensor type.",
		}, []string{"sensor_type"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headband_signals_skipped_total",
			Help: "Signals meant to be inserted that were not, by sensor type and reason (error, shutdown, exists).",
		}, []string{"sensor_type", "reason"}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "headband_insert_errors_total",
			Help: "Failed insert attempts, retried or not.",
		}),
	}
	reg.MustRegister(m.recordingsStarted, m.recordingsInFlight, m.inserted, m.dropped, m.skipped, m.insertErrors)
	// Every series exists from the start, so rate() and alerts see zeros rather than gaps.
	for _, sensor := range []string{headband.EEG, headband.Accelerometer, headband.Ignore} {
		m.inserted.WithLabelValues(sensor)
		m.dropped.WithLabelValues(sensor)
		for _, reason := range []string{SkipError, SkipShutdown, SkipExists} {
			m.skipped.WithLabelValues(sensor, reason)
		}
	}
	return m
}
