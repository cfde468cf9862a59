package dispatch_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/recording"
)

// counts answers Pending with each of its results in turn, and says when the report after
// each has been asked for.
type counts struct {
	results  []error // nil: 4 recordings pending
	reported chan struct{}
	asked    chan asked // what each report was asked with, when not nil
}

func (c *counts) Pending(context.Context) (int64, error) {
	err := c.results[0]
	c.results = c.results[1:]
	return 4, err
}

type asked struct {
	age      time.Duration
	captured time.Time
}

func (c *counts) ReportIncomplete(_ context.Context, age time.Duration, captured time.Time, _ map[int]bool) ([]recording.Incomplete, error) {
	c.reported <- struct{}{}
	if c.asked != nil {
		c.asked <- asked{age, captured}
	}
	return nil, nil
}

// gauge returns the value of reg's gauge name, which has no labels.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return family(t, reg, name).GetMetric()[0].GetGauge().GetValue()
}

// The pending gauge says NaN, not 0, while the count cannot be read: before the first read,
// and when the database cannot be reached. A dispatcher that could not reach its database
// said "0 pending" on the dashboard.
func TestWatchIncomplete_ThePendingGaugeIsNaNWhileTheCountCannotBeRead(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := dispatch.NewMetrics(reg)
	pending := func() float64 { t.Helper(); return gauge(t, reg, "dispatcher_pending_recordings") }
	if v := pending(); !math.IsNaN(v) {
		t.Fatalf("before the first read: %v, want NaN", v)
	}
	w := &counts{results: []error{nil, errors.New("database unreachable"), nil}, reported: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		dispatch.WatchIncomplete(ctx, w, time.Millisecond, func() map[int]bool { return nil }, func() time.Time { return time.Time{} }, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	for i, want := range []float64{4, math.NaN(), 4} {
		<-w.reported
		if v := pending(); v != want && !(math.IsNaN(v) && math.IsNaN(want)) {
			t.Fatalf("after read %d: %v, want %v", i+1, v, want)
		}
	}
	cancel()
	<-done
}

// A partition caught up with Kafka is not caught up with the table while change capture stands
// still (a connector paused, its changes waiting in the replication slot): the report is asked
// with how far capture was last seen (the heartbeat's database time, not this clock's), so
// that the stores hold the recordings judged by their partition being caught up until capture
// was seen INCOMPLETE_AFTER past their first signal (storetest). Before, a recording whose
// last signal was written while the connector was paused was reported incomplete, though
// complete in the table. Without a heartbeat read (no capture watch, or none yet), zero: the
// report goes by INCOMPLETE_AFTER alone.
func TestWatchIncomplete_AsksWithHowFarCaptureWasSeen(t *testing.T) {
	const age = time.Minute
	for _, captured := range []time.Time{{}, time.Now().Add(-80 * time.Second)} {
		w := &counts{results: []error{nil, nil}, reported: make(chan struct{}, 2), asked: make(chan asked, 2)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			dispatch.WatchIncomplete(ctx, w, age, func() map[int]bool { return nil }, func() time.Time { return captured },
				dispatch.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
		}()
		if got := <-w.asked; got.age != age || !got.captured.Equal(captured) {
			t.Errorf("reported with %v, %v; want %v, %v", got.age, got.captured, age, captured)
		}
		cancel()
		<-done
	}
}
