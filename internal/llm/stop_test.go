package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// A call told to stop waiting (WithStop) ends with ErrStopped while it waits for the rate
// limit, an open breaker or a retry's backoff, without calling the model again; and a stopped
// call is not a success to a half-open breaker.
func TestWithStop_EndsAWaitForTheRateLimitTheBreakerOrARetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chain func(model Call) Call
		fail  bool // the model fails
	}{
		{"rate limit", func(m Call) Call { return Chain(m, RateLimit(RateLimitConfig{RPM: 1})) }, false},
		{"breaker", func(m Call) Call { return Chain(m, Breaker(BreakerConfig{Failures: 1, Cooldown: time.Minute})) }, true},
		{"retry", func(m Call) Call {
			return Chain(m, Retry(RetryConfig{MaxAttempts: 3, Base: time.Minute, Cap: time.Minute, jitter: func(d time.Duration) time.Duration { return d }}))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := &scripted{}
			if tc.fail {
				model.setFallback(status(500))
			}
			call := tc.chain(model.call)
			if tc.name != "retry" {
				_, _ = call(context.Background(), Request{}) // spends the limit, or opens the breaker
			}
			stop := make(chan struct{})
			time.AfterFunc(50*time.Millisecond, func() { close(stop) })
			calls := model.count()
			start := time.Now()
			_, err := call(WithStop(context.Background(), stop), Request{Sentence: "hi", EnqueuedAt: time.Now()})
			if !errors.Is(err, ErrStopped) {
				t.Fatalf("err = %v, want ErrStopped", err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("stopped after %v, want soon after stop was closed", took)
			}
			if want := calls + map[bool]int{true: 1, false: 0}[tc.name == "retry"]; model.count() != want {
				t.Errorf("the model was called %d times in all, want %d: a stopped wait called it", model.count(), want)
			}
		})
	}
}

// A probe stopped while it waits for the rate limit says nothing of the model: the breaker
// stays half-open, its probe's place free, and the next call's answer closes it.
func TestWithStop_AProbeStoppedIsNoSuccessToTheBreaker(t *testing.T) {
	model := &scripted{errs: []error{status(500)}}
	m := newTestMetrics(t)
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 1, Cooldown: 20 * time.Millisecond, Probes: 1, Metrics: m}),
		RateLimit(RateLimitConfig{RPM: 60})) // one a second
	_, _ = call(context.Background(), Request{}) // opens it, and spends the limit
	time.Sleep(40 * time.Millisecond)            // half-open
	stop := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(stop) })
	if _, err := call(WithStop(context.Background(), stop), Request{EnqueuedAt: time.Now()}); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if state := testutil.ToFloat64(m.breakerState); state != 1 {
		t.Errorf("llm_breaker_state = %v after a stopped probe, want 1 (half-open)", state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := call(ctx, Request{EnqueuedAt: time.Now()}); err != nil {
		t.Fatalf("the next call: %v, want it let through as the probe", err)
	}
	if state := testutil.ToFloat64(m.breakerState); state != 0 {
		t.Errorf("llm_breaker_state = %v after the next call's answer, want 0 (closed)", state)
	}
}

// The calls of a partition that stops all stop waiting for the rate limit at once: they give
// back what they reserved whatever order they wake in, so the next call waits for the limit
// as if they had never been, not behind their reservations.
func TestWithStop_CallsStoppedTogetherGiveBackTheirPlaceInTheRateLimit(t *testing.T) {
	model := &scripted{}
	l := newLimiter(RateLimitConfig{RPM: 60}) // one a second
	call := Chain(model.call, l.wrap)
	_, _ = call(context.Background(), Request{}) // spends the second's request
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := call(WithStop(context.Background(), stop), Request{}); !errors.Is(err, ErrStopped) {
				t.Errorf("a waiting call: %v, want ErrStopped", err)
			}
		})
	}
	awaitLine(t, l, 20)
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := call(ctx, Request{}); err != nil {
		t.Fatalf("the next call after %v: %v, want it let through within about a second", time.Since(start), err)
	}
}

// The calls in line behind one stopped with them do not go to the model on the tokens it gives
// back: a large call holds the token budget's reservation, twenty small ones wait behind it,
// and the stop ends all of them.
func TestWithStop_TheCallsInLineBehindAStoppedOneDoNotGoOnItsTokens(t *testing.T) {
	model := &scripted{}
	l := newLimiter(RateLimitConfig{TPM: 6000, Estimate: func(req Request) int {
		if req.Sentence == "large" {
			return 6000 // the whole bucket: a minute's tokens
		}
		return 10
	}})
	call := Chain(model.call, l.wrap)
	_, _ = call(context.Background(), Request{Sentence: "large"}) // spends the bucket
	stop := make(chan struct{})
	var wg sync.WaitGroup
	waitInLine := func(sentence string) {
		wg.Go(func() {
			if _, err := call(WithStop(context.Background(), stop), Request{Sentence: sentence}); !errors.Is(err, ErrStopped) {
				t.Errorf("a %s call waiting in line: %v, want ErrStopped", sentence, err)
			}
		})
	}
	waitInLine("large") // first in line, holding the reservation
	awaitLine(t, l, 1)
	for range 20 {
		waitInLine("small")
	}
	awaitLine(t, l, 21)
	close(stop)
	wg.Wait()
	if n := model.count(); n != 1 {
		t.Errorf("the model was called %d times, want once: calls stopped in line went to it", n)
	}
}

// A call whose turn in the rate limit's line comes when its stop is already closed is not let
// through, even with the budget to spare: the turn of a call in line behind one stopped with
// it comes from that call, which has given its reservation back. (The test above races the
// turn against the stop; this one is that race lost.)
func TestWithStop_ACallWhoseTurnComesAfterItsStopIsNotLetThrough(t *testing.T) {
	model := &scripted{}
	l := newLimiter(RateLimitConfig{RPM: 60})
	stop := make(chan struct{})
	close(stop)
	if _, err := Chain(model.call, l.wrap)(WithStop(context.Background(), stop), Request{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if n := model.count(); n != 0 {
		t.Errorf("the model was called %d times, want none", n)
	}
}

// A call stopped after a failed attempt, waiting to be let through again, says what failed:
// the job given back is logged with it. The stop comes as the retry's backoff ends, and the
// breaker, opened by the failure, holds the call.
func TestWithStop_ACallStoppedAfterAFailedAttemptKeepsItsFailure(t *testing.T) {
	model := &scripted{fallback: status(500)}
	stop := make(chan struct{})
	backoffThenStop := func(context.Context, time.Duration) error { close(stop); return nil }
	call := Chain(model.call, Retry(RetryConfig{MaxAttempts: 3, Base: time.Millisecond, Cap: time.Millisecond, sleep: backoffThenStop}),
		Breaker(BreakerConfig{Failures: 1, Cooldown: time.Minute}))
	_, err := call(WithStop(context.Background(), stop), Request{EnqueuedAt: time.Now()})
	if !errors.Is(err, ErrStopped) || !errors.Is(err, errAPI(500)) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %v, want ErrStopped with the first attempt's 500", err)
	}
}

// A call whose stop is closed by the time it would be sent is not sent, whatever wait it came
// out of (a retry's timer and the stop can end together).
func TestWithStop_ACallStoppedBeforeItIsSentIsNotSent(t *testing.T) {
	model := &scripted{}
	call := NewPolicy(model.call, PolicyConfig{Timeout: -1}, nil)
	stop := make(chan struct{})
	close(stop)
	if _, err := call(WithStop(context.Background(), stop), Request{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if n := model.count(); n != 0 {
		t.Errorf("the model was called %d times, want none", n)
	}
}

// awaitLine waits until n calls are in l's line, the first of them holding its reservation.
func awaitLine(t *testing.T, l *limiter, n int) {
	t.Helper()
	inLine := func() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.line) }
	kafkatest.Eventually(t, 5*time.Second, func() bool { return inLine() == n },
		func() string { return fmt.Sprintf("%d calls in the rate limit's line, want %d", inLine(), n) })
}
