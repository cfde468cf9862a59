package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/headband"
)

// fakeWriter records inserts in memory; fail decides an attempt's error.
type fakeWriter struct {
	mu          sync.Mutex
	rows        []headband.Signal
	attempts    map[uuid.UUID]int
	inFlight    int
	maxInFlight int
	fail        func(ctx context.Context, s headband.Signal, attempt int) error
	delay       time.Duration
}

func (w *fakeWriter) Insert(ctx context.Context, s headband.Signal) (bool, error) {
	w.mu.Lock()
	if w.attempts == nil {
		w.attempts = map[uuid.UUID]int{}
	}
	w.attempts[s.ID]++
	attempt := w.attempts[s.ID]
	w.inFlight++
	w.maxInFlight = max(w.maxInFlight, w.inFlight)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inFlight--
		w.mu.Unlock()
	}()

	if w.delay > 0 {
		select {
		case <-time.After(w.delay):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if w.fail != nil {
		if err := w.fail(ctx, s, attempt); err != nil {
			return false, err
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.rows {
		if r.ID == s.ID {
			return false, nil
		}
	}
	w.rows = append(w.rows, s)
	return true, nil
}

func (w *fakeWriter) inserted() []headband.Signal {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.rows)
}

type permanentErr struct{}

func (permanentErr) Error() string   { return "check constraint violated" }
func (permanentErr) Permanent() bool { return true }

const seed = 99

func fastConfig(n int) Config {
	return Config{Fast: true, Recordings: n, MaxInFlight: 4, RetryFor: 5 * time.Second, Grace: 5 * time.Second}
}

func newSim(t *testing.T, cfg Config, maxPause time.Duration, w Writer) (*Simulator, *Metrics) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	return New(cfg, headband.NewGenerator(seed, maxPause), w, slog.New(slog.DiscardHandler), m), m
}

// runWithin runs sim and fails the test if Run has not returned by the deadline, or gave up
// on a signal.
func runWithin(ctx context.Context, t *testing.T, sim *Simulator, d time.Duration) time.Duration {
	t.Helper()
	took, err := runFor(ctx, t, sim, d)
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	return took
}

// runFor is runWithin returning Run's error.
func runFor(ctx context.Context, t *testing.T, sim *Simulator, d time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(d):
		t.Fatalf("Run still running after %s", d)
		return 0, nil
	}
}

// gaveUp checks that Run's err says it gave up on n signals.
func gaveUp(t *testing.T, err error, n int) {
	t.Helper()
	if !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), fmt.Sprintf(": %d of them", n)) {
		t.Errorf("Run: %v, want ErrGaveUp for %d signals", err, n)
	}
}

func expected(n int) (signals []headband.Signal, dropped map[string]int) {
	g := headband.NewGenerator(seed, 0)
	dropped = map[string]int{}
	for range n {
		r := g.Next()
		signals = append(signals, r.Signals()...)
		for _, d := range r.Dropped {
			dropped[d]++
		}
	}
	return signals, dropped
}

func TestSimulator_FastRunInsertsEveryKeptSignalOnceThenReturns(t *testing.T) {
	w := &fakeWriter{}
	sim, m := newSim(t, fastConfig(40), time.Hour, w) // fast ignores the hour-long pauses
	runWithin(t.Context(), t, sim, 10*time.Second)

	want, dropped := expected(40)
	got := w.inserted()
	if len(got) != len(want) {
		t.Fatalf("%d rows inserted, want %d", len(got), len(want))
	}
	for _, s := range want {
		if !slices.ContainsFunc(got, func(g headband.Signal) bool { return g.ID == s.ID }) {
			t.Fatalf("signal %s of recording %s was not inserted", s.ID, s.Recording)
		}
	}
	if n := testutil.ToFloat64(m.recordingsStarted); n != 40 {
		t.Errorf("recordings started = %v, want 40", n)
	}
	for _, sensor := range []string{headband.EEG, headband.Accelerometer, headband.Ignore} {
		if n := testutil.ToFloat64(m.dropped.WithLabelValues(sensor)); int(n) != dropped[sensor] {
			t.Errorf("%s dropped = %v, want %d", sensor, n, dropped[sensor])
		}
	}
	if n := testutil.ToFloat64(m.recordingsInFlight); n != 0 {
		t.Errorf("recordings in flight after Run = %v, want 0", n)
	}
}

func TestSimulator_InsertsEachRecordingsRowsInItsShuffledOrder(t *testing.T) {
	w := &fakeWriter{}
	sim, _ := newSim(t, fastConfig(40), 0, w)
	runWithin(t.Context(), t, sim, 10*time.Second)

	g := headband.NewGenerator(seed, 0)
	got := w.inserted()
	for range 40 {
		r := g.Next()
		var order []uuid.UUID
		for _, s := range got {
			if s.Recording == r.ID {
				order = append(order, s.ID)
			}
		}
		var want []uuid.UUID
		for _, s := range r.Signals() {
			want = append(want, s.ID)
		}
		if !slices.Equal(order, want) {
			t.Fatalf("recording %s inserted in order %v, want %v", r.ID, order, want)
		}
	}
}

func TestSimulator_BoundsTheRecordingsInFlight(t *testing.T) {
	w := &fakeWriter{delay: 5 * time.Millisecond}
	cfg := fastConfig(30)
	cfg.MaxInFlight = 3
	sim, _ := newSim(t, cfg, 0, w)
	runWithin(t.Context(), t, sim, 10*time.Second)
	if w.maxInFlight > 3 {
		t.Fatalf("%d inserts at once, want at most 3 (one per recording in flight)", w.maxInFlight)
	}
	if w.maxInFlight < 2 {
		t.Errorf("recordings never overlapped (max %d insert at once)", w.maxInFlight)
	}
}

func TestSimulator_StartsARecordingEveryInterval(t *testing.T) {
	cfg := Config{Interval: 50 * time.Millisecond, Recordings: 5, MaxInFlight: 4, RetryFor: time.Second, Grace: time.Second}
	sim, m := newSim(t, cfg, 0, &fakeWriter{})
	if took := runWithin(t.Context(), t, sim, 10*time.Second); took < 4*cfg.Interval {
		t.Fatalf("5 recordings started within %s, want at least 4 intervals", took)
	}
	if n := testutil.ToFloat64(m.recordingsStarted); n != 5 {
		t.Fatalf("recordings started = %v, want 5", n)
	}
}

func TestSimulator_RetriesTransientErrorsThenInserts(t *testing.T) {
	w := &fakeWriter{fail: func(_ context.Context, _ headband.Signal, attempt int) error {
		if attempt <= 2 {
			return errors.New("connection refused")
		}
		return nil
	}}
	sim, m := newSim(t, fastConfig(3), 0, w)
	runWithin(t.Context(), t, sim, 30*time.Second)

	want, _ := expected(3)
	if got := len(w.inserted()); got != len(want) {
		t.Fatalf("%d rows inserted, want %d", got, len(want))
	}
	if n := testutil.ToFloat64(m.insertErrors); int(n) != 2*len(want) {
		t.Errorf("insert errors = %v, want %d (two failed attempts per row)", n, 2*len(want))
	}
}

func TestSimulator_SkipsASignalWithoutRetryOnAPermanentError(t *testing.T) {
	w := &fakeWriter{fail: func(context.Context, headband.Signal, int) error { return permanentErr{} }}
	sim, m := newSim(t, fastConfig(5), 0, w)
	_, err := runFor(t.Context(), t, sim, 10*time.Second)

	want, _ := expected(5)
	gaveUp(t, err, len(want))
	for _, s := range want {
		if n := w.attempts[s.ID]; n != 1 {
			t.Fatalf("signal %s tried %d times, want once", s.ID, n)
		}
	}
	if n := skipped(m, SkipError); int(n) != len(want) {
		t.Errorf("skipped with reason error = %v, want %d", n, len(want))
	}
}

func TestSimulator_GivesUpOnASignalAfterRetryForAndGoesOn(t *testing.T) {
	w := &fakeWriter{fail: func(context.Context, headband.Signal, int) error { return errors.New("connection refused") }}
	cfg := fastConfig(2)
	cfg.RetryFor = 600 * time.Millisecond
	sim, m := newSim(t, cfg, 0, w)
	_, err := runFor(t.Context(), t, sim, 20*time.Second)

	want, _ := expected(2)
	gaveUp(t, err, len(want))
	for _, s := range want {
		if n := w.attempts[s.ID]; n < 2 {
			t.Fatalf("signal %s tried %d times, want retries", s.ID, n)
		}
	}
	if n := skipped(m, SkipError); int(n) != len(want) {
		t.Errorf("skipped with reason error = %v, want %d (every row attempted, none inserted)", n, len(want))
	}
}

func TestSimulator_SkipsASignalThatIsAlreadyPresent(t *testing.T) {
	w := &fakeWriter{}
	sim, _ := newSim(t, fastConfig(3), 0, w)
	runWithin(t.Context(), t, sim, 10*time.Second)

	again, m := newSim(t, fastConfig(3), 0, w) // same seed: same IDs
	runWithin(t.Context(), t, again, 10*time.Second)
	want, _ := expected(3)
	if n := skipped(m, SkipExists); int(n) != len(want) {
		t.Errorf("skipped as existing = %v, want %d", n, len(want))
	}
	if got := len(w.inserted()); got != len(want) {
		t.Errorf("%d rows after the rerun, want %d", got, len(want))
	}
}

func TestSimulator_StopsStartingRecordingsAndCutsPausesShortWhenCancelled(t *testing.T) {
	cfg := Config{Interval: 20 * time.Millisecond, MaxInFlight: 8, RetryFor: time.Second, Grace: 5 * time.Second}
	sim, m := newSim(t, cfg, time.Hour, &fakeWriter{}) // every row waits up to an hour
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for testutil.ToFloat64(m.recordingsStarted) < 3 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	runWithin(ctx, t, sim, 10*time.Second)

	started := testutil.ToFloat64(m.recordingsStarted)
	inserted := testutil.ToFloat64(m.inserted.WithLabelValues(headband.EEG)) +
		testutil.ToFloat64(m.inserted.WithLabelValues(headband.Accelerometer)) +
		testutil.ToFloat64(m.inserted.WithLabelValues(headband.Ignore))
	if started < 3 || started > 4 || inserted > 0 {
		t.Fatalf("started %v recordings and inserted %v rows, want 3 or 4 and none", started, inserted)
	}
	if skipped(m, SkipShutdown) == 0 {
		t.Error("no row counted as skipped by shutdown")
	}
}

func TestSimulator_LetsAnInsertInFlightFinishWithinTheGrace(t *testing.T) {
	entered := make(chan struct{}, 1)
	w := &fakeWriter{fail: func(ctx context.Context, _ headband.Signal, _ int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		time.Sleep(300 * time.Millisecond) // a slow statement that ignores nothing but finishes
		return ctx.Err()
	}}
	cfg := fastConfig(1)
	cfg.Grace = 10 * time.Second
	sim, m := newSim(t, cfg, 0, w)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-entered
		cancel()
	}()
	runWithin(ctx, t, sim, 10*time.Second)
	if got := len(w.inserted()); got != 1 {
		t.Fatalf("%d rows inserted, want the one in flight at shutdown", got)
	}
	if n := testutil.ToFloat64(m.insertErrors); n != 0 {
		t.Errorf("insert errors = %v, want 0", n)
	}
}

func TestSimulator_CancelsAHungInsertWhenTheGraceRunsOut(t *testing.T) {
	entered := make(chan struct{}, 1)
	w := &fakeWriter{fail: func(ctx context.Context, _ headband.Signal, _ int) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done() // the database never answers
		return ctx.Err()
	}}
	cfg := fastConfig(1)
	cfg.Grace = 200 * time.Millisecond
	cfg.AttemptTimeout = time.Hour
	sim, m := newSim(t, cfg, 0, w)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-entered
		cancel()
	}()
	if took := runWithin(ctx, t, sim, 10*time.Second); took > 5*time.Second {
		t.Fatalf("Run took %s with a 200ms grace", took)
	}
	if skipped(m, SkipShutdown) == 0 {
		t.Error("the cancelled insert was not counted as skipped by shutdown")
	}
}

func skipped(m *Metrics, reason string) float64 {
	var n float64
	for _, sensor := range []string{headband.EEG, headband.Accelerometer, headband.Ignore} {
		n += testutil.ToFloat64(m.skipped.WithLabelValues(sensor, reason))
	}
	return n
}

// A run stopped through its context is no failure, whatever it gave up on before: an unbounded
// headband stopped by SIGTERM exits 0. (Each signal given up was logged and counted.)
func TestSimulator_ARunStoppedAfterGivingUpHasNoError(t *testing.T) {
	w := &fakeWriter{fail: func(context.Context, headband.Signal, int) error { return permanentErr{} }}
	cfg := fastConfig(0) // until the context is done
	sim, m := newSim(t, cfg, 0, w)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for skipped(m, SkipError) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := runFor(ctx, t, sim, 10*time.Second); err != nil {
		t.Fatalf("Run stopped through its context: %v, want no error", err)
	}
}
