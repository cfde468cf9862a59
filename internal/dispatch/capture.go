package dispatch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A stopped capture looks like a quiet site: the connector's status can say RUNNING while it
// captures nothing (a replication slot Postgres invalidated, a worker waiting for a rebalance),
// no change event arrives, and every dispatcher alert stays silent. A heartbeat tells the two
// apart: every heartbeat.interval.ms (10 s in deploy/local and k8s) the connector's
// heartbeat.action.query writes a message with the database's time into the WAL, quiet site or
// not, and it reaches Kafka (topic postgres.message) once capture has streamed that far. The
// CaptureWatch reads that topic's newest record and exports the time it holds
// (debezium.CapturedAt; a record of Debezium's own heartbeat topic, by its time of writing,
// which says only that capture runs), which the CaptureStalled alert compares with the clock.

// CaptureEvery is how often a CaptureWatch reads the heartbeat topic.
const CaptureEvery = 10 * time.Second

// CaptureStalledAfter is how old the newest heartbeat may be before a CaptureWatch logs that
// capture may have stopped: many heartbeat intervals, and what the CaptureStalled alert allows.
const CaptureStalledAfter = 3 * time.Minute

// CaptureWatch follows Debezium's heartbeat topic for the dispatcher_capture_heartbeat_timestamp_seconds
// gauge and the log.
type CaptureWatch struct {
	topic string
	// read returns the time of the topic's newest record, zero when it has none.
	read         func(ctx context.Context, topic string) (time.Time, error)
	every        time.Duration
	stalledAfter time.Duration
	newest       prometheus.Gauge
	started      time.Time
	// newestRead is the newest heartbeat's time as Newest says it: Unix nanoseconds, 0 for none.
	newestRead atomic.Int64
}

// Newest returns the time of the newest heartbeat read, as far as change capture was last seen
// to have got; zero before the first (see WatchIncomplete).
func (w *CaptureWatch) Newest() time.Time {
	if n := w.newestRead.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// NewCaptureWatch registers the gauge with reg and returns a watch of topic that reads it with
// read, every CaptureEvery. Until it has read a heartbeat, the gauge holds the watch's start:
// a connector that never wrote one (not registered, or without heartbeat.interval.ms) ages
// from there like one that stopped.
func NewCaptureWatch(reg prometheus.Registerer, topic string, read func(ctx context.Context, topic string) (time.Time, error)) *CaptureWatch {
	w := &CaptureWatch{
		topic: topic, read: read, every: CaptureEvery, stalledAfter: CaptureStalledAfter, started: time.Now(),
		newest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dispatcher_capture_heartbeat_timestamp_seconds",
			Help: "Unix time of Debezium's newest heartbeat (CAPTURE_HEARTBEAT_TOPIC): the database's time its message holds, as far as capture has streamed, as this dispatcher last read it; the dispatcher's start while it has read none. Far behind the clock: Debezium captures nothing, or is far behind.",
		}),
	}
	w.newest.Set(float64(w.started.UnixNano()) / 1e9)
	reg.MustRegister(w.newest)
	return w
}

// Run reads the heartbeat topic every interval until ctx is done. It logs once when the newest
// heartbeat grows older than CaptureStalledAfter and once when a recent one comes again, and
// once when the topic cannot be read and once when it can again.
func (w *CaptureWatch) Run(ctx context.Context, log *slog.Logger) {
	log = log.With("topic", w.topic)
	stalled, failing := false, false
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		readCtx, cancel := context.WithTimeout(ctx, w.every)
		at, err := w.read(readCtx, w.topic)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			log.Warn("cannot read Debezium's heartbeat topic; dispatcher_capture_heartbeat_timestamp_seconds keeps its last value", "error", err)
			failing = true
		case err == nil && failing:
			log.Info("read Debezium's heartbeat topic again")
			failing = false
		}
		if err == nil && at.After(w.Newest()) {
			w.newest.Set(float64(at.UnixNano()) / 1e9)
			w.newestRead.Store(at.UnixNano())
		}
		newest := w.Newest()
		since := newest
		if since.IsZero() {
			since = w.started
		}
		switch age := time.Since(since); {
		case age > w.stalledAfter && !stalled:
			args := []any{"for", age.Round(time.Second), "runbook", "docs/operations.md#capturestalled"}
			if newest.IsZero() {
				args = append(args, "last_heartbeat", "none since the dispatcher started",
					"check", "the topic is the connector's heartbeat topic (CAPTURE_HEARTBEAT_TOPIC), and the connector has heartbeat.interval.ms, and for <topic.prefix>.message a heartbeat.action.query and message.prefix.include.list as deploy/local/debezium-connector.json's")
			} else {
				args = append(args, "last_heartbeat", newest)
			}
			args = append(args, "meanwhile", "recordings are reported incomplete only by partitions applied past them, not by those caught up with Kafka")
			log.Warn("no recent Debezium heartbeat: change capture may have stopped", args...)
			stalled = true
		case age <= w.stalledAfter && stalled:
			log.Info("Debezium heartbeats again: change capture runs", "last_heartbeat", newest)
			stalled = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
