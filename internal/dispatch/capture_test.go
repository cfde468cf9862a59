package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// heartbeatGauge returns dispatcher_capture_heartbeat_timestamp_seconds as a time.
func heartbeatGauge(t *testing.T, reg *prometheus.Registry) time.Time {
	t.Helper()
	return time.Unix(0, int64(gauge(t, reg, "dispatcher_capture_heartbeat_timestamp_seconds")*1e9))
}

// near says whether a gauge's time is b's: a float64 of Unix seconds holds a time of today to
// within a microsecond.
func near(a, b time.Time) bool { return a.Sub(b).Abs() < time.Microsecond }

// The watch exports the newest heartbeat's time, the watch's start until it has read one, and
// keeps the last value while the topic cannot be read; it logs a stall once when the newest
// heartbeat grows old, and once when a recent one comes again.
func TestCaptureWatch_ExportsTheNewestHeartbeatAndLogsAStallOnce(t *testing.T) {
	var mu sync.Mutex
	var at time.Time // the topic's newest record, zero: none
	var readErr error
	var reads atomic.Int32
	set := func(t time.Time, err error) { mu.Lock(); at, readErr = t, err; mu.Unlock() }
	read := func(_ context.Context, topic string) (time.Time, error) {
		reads.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if topic != "__debezium-heartbeat.postgres" {
			return time.Time{}, errors.New("wrong topic " + topic)
		}
		return at, readErr
	}
	reg := prometheus.NewRegistry()
	before := time.Now()
	w := dispatch.NewCaptureWatch(reg, "__debezium-heartbeat.postgres", read)
	if got := heartbeatGauge(t, reg); got.Before(before) || got.After(time.Now()) {
		t.Fatalf("before any read: %v, want the watch's start", got)
	}
	w.Quicken(10*time.Millisecond, 300*time.Millisecond)
	var logs proctest.Buffer
	log, err := logging.New(&logs, logging.Config{Format: "text", Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx, log) }()
	defer func() { cancel(); <-done }()
	count := func(s string) int { return strings.Count(logs.String(), s) }
	const stalled, again = "change capture may have stopped", "Debezium heartbeats again"

	// No heartbeat yet: stalled once the watch's start is old.
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count(stalled) == 1 }, logs.String)
	if !strings.Contains(logs.String(), "none since the dispatcher started") {
		t.Errorf("the stall does not say no heartbeat was read: %s", logs.String())
	}
	if n := w.Newest(); !n.IsZero() {
		t.Errorf("Newest before any heartbeat: %v, want zero (the incomplete report then goes by the clock)", n)
	}

	beat := time.Now().Truncate(time.Millisecond)
	set(beat, nil)
	kafkatest.Eventually(t, 5*time.Second, func() bool { return near(heartbeatGauge(t, reg), beat) && count(again) == 1 }, logs.String)
	if n := w.Newest(); !n.Equal(beat) {
		t.Errorf("Newest: %v, want the heartbeat read, %v", n, beat)
	}

	set(time.Time{}, errors.New("broker unreachable"))
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count("cannot read Debezium's heartbeat topic") == 1 }, logs.String)
	if got := heartbeatGauge(t, reg); !near(got, beat) {
		t.Errorf("while the topic cannot be read: %v, want the last heartbeat %v", got, beat)
	}
	// The heartbeat read last grows old while the topic cannot be read: stalled again.
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count(stalled) == 2 }, logs.String)
	// A few more failing reads, each of which might have logged again.
	more := reads.Load() + 3
	kafkatest.Eventually(t, 5*time.Second, func() bool { return reads.Load() >= more }, func() string { return "the watch stopped reading" })
	if n := count("cannot read Debezium's heartbeat topic"); n != 1 {
		t.Errorf("the failing read was logged %d times, want once", n)
	}

	// An older record than one seen (a partition read late) does not move the gauge back.
	set(beat.Add(-time.Hour), nil)
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count("read Debezium's heartbeat topic again") == 1 }, logs.String)
	if got := heartbeatGauge(t, reg); !near(got, beat) {
		t.Errorf("after an older record: %v, want %v", got, beat)
	}
	if n := count(stalled); n != 2 {
		t.Errorf("stall logged %d times, want 2: %s", n, logs.String())
	}
}
