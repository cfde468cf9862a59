package llm

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// RateLimitConfig configures RateLimit. The zero value limits nothing.
type RateLimitConfig struct {
	// RPM is the requests per minute allowed; <= 0 means no request limit. Bursts are one
	// second's worth (at least one request), so calls are spread over the minute rather
	// than spent at its start.
	RPM int
	// TPM is the tokens per minute allowed; <= 0 means no token limit. Each call takes its
	// estimated tokens (Estimate) before it starts; the bucket holds a minute's worth, as
	// the API's own token budget does, and a call estimated above that takes the whole bucket.
	TPM int
	// Estimate returns the tokens a call will use, prompt and answer. nil means
	// OpenAIConfig{}.EstimateTokens (the default prompt and history length); pass the
	// EstimateTokens of the OpenAIConfig in use to count a custom prompt.
	Estimate func(Request) int
	// Metrics records how long calls waited; nil records nothing.
	Metrics *Metrics

	// Test hooks; nil means the real clock and a timer.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// RateLimit holds each call until the request and token budgets allow it. One limiter is
// created per RateLimit call and shared by every Call the returned middleware wraps, and by
// all goroutines using them: create it once per process so that all its workers share it.
// A call waits as long as needed, or until its context ends (then it fails with the
// context's error, and gives back what it had reserved).
func RateLimit(cfg RateLimitConfig) Middleware {
	if cfg.RPM <= 0 && cfg.TPM <= 0 {
		return passThrough
	}
	return newLimiter(cfg).wrap
}

// wrap is the middleware of RateLimit: next is called once l lets the call through.
func (l *limiter) wrap(next Call) Call {
	return func(ctx context.Context, req Request) (Response, error) {
		if err := l.wait(ctx, req); err != nil {
			return Response{}, err
		}
		return next(ctx, req)
	}
}

type limiter struct {
	requests, tokens *rate.Limiter // nil when that limit is off
	estimate         func(Request) int
	metrics          *Metrics
	now              func() time.Time
	sleep            func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	line []chan struct{} // the calls waiting their turn, first in line first; each closed at its turn
}

func newLimiter(cfg RateLimitConfig) *limiter {
	l := &limiter{estimate: cfg.Estimate, metrics: cfg.Metrics, now: cfg.now, sleep: cfg.sleep}
	if cfg.RPM > 0 {
		l.requests = rate.NewLimiter(rate.Limit(float64(cfg.RPM)/60), max(1, cfg.RPM/60))
	}
	if cfg.TPM > 0 {
		l.tokens = rate.NewLimiter(rate.Limit(float64(cfg.TPM)/60), cfg.TPM)
	}
	if l.estimate == nil {
		l.estimate = OpenAIConfig{}.EstimateTokens
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.sleep == nil {
		l.sleep = sleep.For
	}
	return l
}

// wait waits its turn in line, then reserves one request and the call's tokens at once and
// sleeps until both are due. Only the first call in line holds a reservation: a call that
// stops waiting gives back what it reserved whole (x/time/rate gives back whole only the
// last reservation made), and the calls behind it move up. With every waiting call holding
// one, the calls of a partition that stops, which all stop at once, gave back a fraction in
// whatever order they woke, and the calls after them waited for reservations nobody used.
func (l *limiter) wait(ctx context.Context, req Request) error {
	start := l.now()
	if err := l.awaitTurn(ctx); err != nil {
		l.metrics.limited(l.now().Sub(start))
		return fmt.Errorf("waiting for the model rate limit: %w", err)
	}
	defer l.leave()
	// Its turn may come from a call stopped with it (the calls of a partition stop at once):
	// the first gives back its reservation, and this one would then find no wait.
	select {
	case <-stopOf(ctx):
		l.metrics.limited(l.now().Sub(start))
		return fmt.Errorf("waiting for the model rate limit: %w", ErrStopped)
	default:
	}
	now := l.now()
	var reservations []*rate.Reservation
	if l.requests != nil {
		reservations = append(reservations, l.requests.ReserveN(now, 1))
	}
	if l.tokens != nil {
		n := min(max(l.estimate(req), 1), l.tokens.Burst())
		reservations = append(reservations, l.tokens.ReserveN(now, n))
	}
	var delay time.Duration
	for _, r := range reservations {
		delay = max(delay, r.DelayFrom(now))
	}
	if delay == 0 {
		l.metrics.limited(now.Sub(start))
		return nil
	}
	err := pause(ctx, l.sleep, delay)
	// What it waited, not what it was to wait: a wait given up is not counted whole.
	l.metrics.limited(now.Sub(start) + min(l.now().Sub(now), delay))
	if err != nil {
		for _, r := range reservations {
			r.CancelAt(l.now())
		}
		return fmt.Errorf("waiting %s for the model rate limit: %w", delay.Round(time.Millisecond), err)
	}
	return nil
}

// awaitTurn puts the call in line and returns once it is first, or with why it stopped
// waiting (ctx's end, or its stop: WithStop), out of line again.
func (l *limiter) awaitTurn(ctx context.Context) error {
	turn := make(chan struct{})
	l.mu.Lock()
	l.line = append(l.line, turn)
	if len(l.line) == 1 {
		close(turn)
	}
	l.mu.Unlock()
	select {
	case <-turn:
		return nil
	default:
	}
	wait, done := waiting(ctx)
	defer done()
	select {
	case <-turn:
		return nil
	case <-wait.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-turn: // its turn came meanwhile: it is first, and passes it on
		l.passTurn()
	default:
		l.line = slices.DeleteFunc(l.line, func(c chan struct{}) bool { return c == turn })
	}
	return context.Cause(wait)
}

// leave takes the first call out of line, and gives the next its turn.
func (l *limiter) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.passTurn()
}

// passTurn takes the first call out of line and gives the next its turn; l.mu is held.
func (l *limiter) passTurn() {
	l.line = l.line[1:]
	if len(l.line) > 0 {
		close(l.line[0])
	}
}
