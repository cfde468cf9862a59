package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/lifecycle"
)

// harness runs a Process in the background and lets a test watch its admin port.
type harness struct {
	t       *testing.T
	admin   string
	stop    context.CancelFunc
	again   chan struct{}
	done    chan error
	mu      sync.Mutex
	events  []string
	readyAt map[string]int // task name → /readyz status seen when it was told to stop
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{t: t, again: make(chan struct{}), done: make(chan error, 1), readyAt: map[string]int{}}
}

func (h *harness) note(event string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, event)
}

func (h *harness) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

func (h *harness) start(grace time.Duration, stages ...[]lifecycle.Task) {
	h.t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(h.t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.admin = "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	h.stop = stop
	p := &lifecycle.Process{
		Log:      slog.New(slog.DiscardHandler),
		Grace:    grace,
		Admin:    lifecycle.Admin{Listener: ln, Metrics: prometheus.NewRegistry(), Ready: func(context.Context) error { return nil }},
		Stages:   stages,
		Draining: func() { h.note("draining") },
	}
	go func() { h.done <- p.Run(ctx, h.again) }()
	h.waitStatus("/readyz", http.StatusOK)
}

func (h *harness) status(path string) int {
	res, err := http.Get(h.admin + path)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func (h *harness) waitStatus(path string, want int) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.status(path) != want {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s never answered %d", path, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return within 10s")
		return nil
	}
}

// task stops when told to, noting when, what /readyz answered then, and whether /metrics
// still answers while it drains for hold.
func (h *harness) task(name string, hold time.Duration) lifecycle.Task {
	return lifecycle.Task{Name: name, Run: func(ctx, _ context.Context) error {
		<-ctx.Done()
		h.mu.Lock()
		h.readyAt[name] = h.status("/readyz")
		h.mu.Unlock()
		h.note("stop " + name)
		time.Sleep(hold)
		if h.status("/metrics") != http.StatusOK {
			h.note("admin gone while " + name + " drained")
		}
		h.note("stopped " + name)
		return nil
	}}
}

func TestProcess_StopsStagesInOrderWithReadinessFirstAndAdminLast(t *testing.T) {
	h := newHarness(t)
	h.start(5*time.Second,
		[]lifecycle.Task{h.task("rpc", 100*time.Millisecond), h.task("simulator", 50*time.Millisecond)},
		[]lifecycle.Task{h.task("router", 50*time.Millisecond)},
	)
	h.stop()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := strings.Join(h.log(), " | ")
	// Both first-stage tasks stop before the second stage is told to.
	first, router := strings.Index(got, "stopped rpc"), strings.Index(got, "stop router")
	if !strings.HasPrefix(got, "draining | ") || first < 0 || router < first || !strings.Contains(got, "stopped simulator") ||
		strings.Index(got, "stopped simulator") > router {
		t.Fatalf("order: %s", got)
	}
	if strings.Contains(got, "admin gone") {
		t.Fatalf("the admin port stopped before the tasks: %s", got)
	}
	for name, code := range h.readyAt {
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz answered %d when %s was told to stop, want 503", code, name)
		}
	}
	if h.status("/metrics") != 0 {
		t.Error("the admin port still answers after Run returned")
	}
}

func TestProcess_ATaskEndingOnItsOwnStopsTheRest(t *testing.T) {
	for name, end := range map[string]error{"cleanly": nil, "with an error": errors.New("broker gone")} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			finish := make(chan struct{})
			h.start(5*time.Second,
				[]lifecycle.Task{{Name: "simulator", Run: func(context.Context, context.Context) error { <-finish; return end }}},
				[]lifecycle.Task{h.task("groups", 0)},
			)
			close(finish)
			err := h.wait()
			if !errors.Is(err, end) || (end != nil && !strings.Contains(err.Error(), "simulator")) {
				t.Fatalf("Run: %v, want %v naming the task", err, end)
			}
			if !strings.Contains(strings.Join(h.log(), " | "), "stopped groups") {
				t.Fatalf("the other stage was not stopped: %v", h.log())
			}
		})
	}
}

func TestProcess_GivesUpAfterTheGraceNamingWhatStillRuns(t *testing.T) {
	h := newHarness(t)
	drained := make(chan time.Time, 1)
	stuck := lifecycle.Task{Name: "stuck", Run: func(_, drain context.Context) error {
		<-drain.Done()
		drained <- time.Now()
		select {} // ignores the deadline
	}}
	h.start(300*time.Millisecond, []lifecycle.Task{stuck})
	began := time.Now()
	h.stop()
	err := h.wait()
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_GRACE") || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("Run: %v, want a grace error naming the stuck task", err)
	}
	if at := (<-drained).Sub(began); at < 300*time.Millisecond {
		t.Errorf("drain ended %s after the shutdown began, before the 300ms grace", at)
	}
}

func TestProcess_ATaskThatReturnsWhenTheDrainEndsIsAnOrdinaryStop(t *testing.T) {
	h := newHarness(t)
	cut := lifecycle.Task{Name: "rpc", Run: func(ctx, drain context.Context) error {
		<-ctx.Done()
		<-drain.Done() // a stream that never finishes, cut at the deadline
		return nil
	}}
	h.start(200*time.Millisecond, []lifecycle.Task{cut}, []lifecycle.Task{h.task("router", 0)})
	h.stop()
	if err := h.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestProcess_ASecondSignalStopsAtOnce(t *testing.T) {
	h := newHarness(t)
	slow := lifecycle.Task{Name: "groups", Run: func(ctx, drain context.Context) error {
		<-drain.Done()
		return nil
	}}
	h.start(time.Minute, []lifecycle.Task{slow})
	h.stop()
	h.waitStatus("/readyz", http.StatusServiceUnavailable)
	close(h.again)
	if err := h.wait(); !errors.Is(err, lifecycle.ErrInterrupted) {
		t.Fatalf("Run: %v, want ErrInterrupted", err)
	}
}

func TestInterrupts_TheFirstSignalEndsTheContextAndTheSecondClosesAgain(t *testing.T) {
	ctx, again, stop := lifecycle.Interrupts()
	defer stop()
	wait := func(done <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s within 5s of the signal", what)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wait(ctx.Done(), "the context did not end")
	select {
	case <-again:
		t.Fatal("again closed at the first signal")
	default:
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait(again, "again was not closed")
}
