package sleep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/sleep"
)

func TestFor_WaitsItsDuration(t *testing.T) {
	start := time.Now()
	if err := sleep.For(t.Context(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("returned after %s, want 20ms at least", took)
	}
}

func TestFor_ReturnsTheCauseOnceTheContextEnds(t *testing.T) {
	stopped := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(10*time.Millisecond, func() { cancel(stopped) })
	start := time.Now()
	if err := sleep.For(ctx, time.Hour); !errors.Is(err, stopped) {
		t.Errorf("For: %v, want %v", err, stopped)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("returned after %s, want soon after the context ended", took)
	}
}

func TestFor_DoesNotWaitForNothing(t *testing.T) {
	if err := sleep.For(t.Context(), 0); err != nil {
		t.Errorf("For(0) on a live context: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sleep.For(ctx, -time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("For(-1s) on an ended context: %v, want %v", err, context.Canceled)
	}
}
