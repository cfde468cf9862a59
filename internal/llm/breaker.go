package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerConfig configures Breaker. Zero values take the defaults named on each field.
type BreakerConfig struct {
	// Failures is how many retryable failures in a row open the breaker: 0 means 5.
	// Permanent errors (a 400, a bad key) count as successes — the API answered. Rate-limit
	// answers (429) count as neither: the API is up and said when to come back, which Retry
	// honours per job; opening the breaker for a whole cool-down would wait far longer. Calls
	// the caller abandoned count as neither too.
	Failures int
	// Cooldown is how long the breaker stays open before it lets probes through: 0 means 30s.
	Cooldown time.Duration
	// Probes is how many calls a half-open breaker lets through at once; that many
	// successes close it, one failure opens it again. 0 means 3.
	Probes int
	// MaxJobAge bounds how long a job may wait for an open breaker, counted from
	// Request.EnqueuedAt: an older job fails with ErrUnavailable. 0 means 2m.
	MaxJobAge time.Duration
	// Metrics records the breaker's state, its transitions and the jobs it failed; nil
	// records nothing.
	Metrics *Metrics
	// Log receives its changes of state (opening with the failure that opened it); nil logs
	// nothing.
	Log *slog.Logger

	// Test hook; nil means the real clock. The breaker's own cool-down runs on real time.
	now func() time.Time
}

// unavailableMessage is what the client is told when the model stays unreachable.
const unavailableMessage = "the assistant is unavailable, please try again later"

type unavailableError struct{}

func (unavailableError) Error() string { return unavailableMessage }

// UserMessage is the text for the client (see worker.UserError).
func (unavailableError) UserMessage() string { return unavailableMessage }

// ErrUnavailable ends a job that waited for an open breaker until it was MaxJobAge old. Its
// message is exactly what the client should see: "the assistant is unavailable, please try
// again later" (also given by its UserMessage method). It is permanent, and Retry returns it
// unwrapped.
var ErrUnavailable error = unavailableError{}

// Breaker stops calling a model that keeps failing. After Failures retryable failures in a
// row it opens; Cooldown later it lets Probes calls through, and closes when they succeed.
//
// While it is open (or half-open with all probe slots taken), a call is not failed: it
// waits — consuming no attempt and no per-call timeout — until the breaker lets it through,
// the caller's context ends, or the job is MaxJobAge old, when it fails with ErrUnavailable.
// A call let through as a probe that fails goes back to waiting the same way: in an outage
// of many cool-downs a job is answered after it, or is unavailable at MaxJobAge, but never
// fails for having been the probe. It then lets the other jobs probe first: it probes again
// only while no other job waits for the breaker or calls the model. A job that the model fails
// whatever the moment (an input a proxy answers with a 5xx) would otherwise take a probe slot
// at every cool-down and, failing, open the breaker again before the jobs waiting behind it
// were let through, holding them until it was MaxJobAge old. Now those jobs go first: in a busy
// process they close the breaker, and its calls then spend its attempts as any job's do; in a
// quiet one it opens it again at each cool-down, after the jobs that came meanwhile.
// One breaker is created per Breaker call and shared by every Call the returned middleware
// wraps. Place it inside Retry, so that each attempt is let through and counted on its own.
func Breaker(cfg BreakerConfig) Middleware {
	cfg = cfg.withDefaults()
	b := &breaker{cfg: cfg, changed: make(chan struct{})}
	b.cb = gobreaker.NewCircuitBreaker[Response](gobreaker.Settings{
		Name:        "llm",
		MaxRequests: uint32(cfg.Probes),
		Timeout:     cfg.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.Failures) },
		IsSuccessful: func(err error) bool {
			return err == nil || !IsRetryable(err)
		},
		IsExcluded: func(err error) bool {
			_, ok := errors.AsType[*abandoned](err)
			return ok || isRateLimited(err) || errors.Is(err, ErrStopped) // no answer either way
		},
		OnStateChange: b.onStateChange,
	})
	cfg.Metrics.setBreakerState(gobreaker.StateClosed)
	return b.wrap
}

type breaker struct {
	cfg BreakerConfig
	cb  *gobreaker.CircuitBreaker[Response]

	// active counts the calls in wrap, waiting or calling the model, but for those letting
	// the others probe first.
	active atomic.Int64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every state change, to wake waiting calls
	opened  time.Time     // when it last opened
	failure error         // the last failure it counted, for the errors of the jobs it fails
}

// abandoned marks the error of a call whose caller gave up, so the breaker does not count it.
type abandoned struct{ err error }

func (a *abandoned) Error() string { return a.err.Error() }

func (b *breaker) wrap(next Call) Call {
	return func(ctx context.Context, req Request) (Response, error) {
		var deadline time.Time
		yielding := false // after a failed probe: the other jobs probe first
		b.active.Add(1)
		defer func() {
			if !yielding {
				b.active.Add(-1)
			}
		}()
		for {
			if yielding {
				// It waits with the others while the breaker is open, and once it half-opens,
				// for as long as another job waits or calls.
				if st := b.cb.State(); st == gobreaker.StateOpen || st == gobreaker.StateHalfOpen && b.active.Load() > 0 {
					now := b.cfg.now()
					if !now.Before(deadline) {
						b.cfg.Metrics.jobUnavailable()
						return Response{}, b.unavailable()
					}
					if err := b.await(ctx, min(b.poll(), deadline.Sub(now))); err != nil {
						return Response{}, fmt.Errorf("waiting for the model's circuit breaker to close: %w", err)
					}
					continue
				}
				yielding = false
				b.active.Add(1)
			}
			probe := false
			resp, err := b.cb.Execute(func() (Response, error) {
				// Let through, a call is a probe unless the breaker is closed. (Asked before
				// Execute, State might still say open where Execute finds the cool-down over.)
				probe = b.cb.State() != gobreaker.StateClosed
				select {
				case <-stopOf(ctx): // a wait (a retry's, or this breaker's) ended as the call was stopped
					return Response{}, ErrStopped
				default:
				}
				resp, err := next(ctx, req)
				if err != nil && ctx.Err() != nil {
					return resp, &abandoned{err}
				}
				if err != nil && IsRetryable(err) && !isRateLimited(err) {
					// Before gobreaker counts it: the failure that opens the breaker is logged.
					b.mu.Lock()
					b.failure = err
					b.mu.Unlock()
				}
				return resp, err
			})
			if a, ok := errors.AsType[*abandoned](err); ok {
				return resp, a.err
			}
			// A failed probe opened the breaker again: its job goes back to waiting, as if it
			// had not been let through, and spends no attempt — only calls made while the
			// breaker lets traffic through count against a job.
			failedProbe := probe && err != nil && IsRetryable(err) && !isRateLimited(err)
			if !failedProbe && !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
				return resp, err
			}
			now := b.cfg.now()
			if deadline.IsZero() {
				deadline = b.jobDeadline(req, now)
			}
			if !now.Before(deadline) {
				b.cfg.Metrics.jobUnavailable()
				return Response{}, b.unavailable()
			}
			if failedProbe {
				yielding = true
				b.active.Add(-1)
			}
			if err := b.await(ctx, min(b.poll(), deadline.Sub(now))); err != nil {
				return Response{}, fmt.Errorf("waiting for the model's circuit breaker to close: %w", err)
			}
		}
	}
}

// jobDeadline is when a job stops waiting: MaxJobAge after it was enqueued, or after now
// when the request does not say.
func (b *breaker) jobDeadline(req Request, now time.Time) time.Time {
	if req.EnqueuedAt.IsZero() {
		return now.Add(b.cfg.MaxJobAge)
	}
	return req.EnqueuedAt.Add(b.cfg.MaxJobAge)
}

// await sleeps for d, or until the breaker changes state, ctx ends or its stop is closed
// (WithStop). gobreaker moves from open to half-open only when asked, so waiting calls poll;
// a state change (a probe closing the breaker) wakes them at once.
func (b *breaker) await(ctx context.Context, d time.Duration) error {
	b.mu.Lock()
	changed := b.changed
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-changed:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-stopOf(ctx):
		return ErrStopped
	}
	return nil
}

// poll is how often a waiting call asks again: a twentieth of the cool-down, within
// [10ms, 1s] — soon enough after half-opening, rare enough to cost nothing.
func (b *breaker) poll() time.Duration {
	return min(max(b.cfg.Cooldown/20, 10*time.Millisecond), time.Second)
}

// unavailable is the error of a job that waited for the breaker until it was MaxJobAge old:
// ErrUnavailable (what the client is told), with why for the log and the dead-letter copy.
func (b *breaker) unavailable() error {
	b.mu.Lock()
	opened, failure := b.opened, b.failure
	b.mu.Unlock()
	return fmt.Errorf("the model's circuit breaker kept the job waiting until it was LLM_MAX_JOB_AGE (%s) old; "+
		"it last opened at %s, and its last failure was: %v: %w",
		b.cfg.MaxJobAge, opened.UTC().Format(time.RFC3339), failure, ErrUnavailable)
}

// onStateChange runs under gobreaker's lock: it must not call the breaker.
func (b *breaker) onStateChange(_ string, from, to gobreaker.State) {
	b.cfg.Metrics.breakerTransition(from, to)
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	if to == gobreaker.StateOpen {
		b.opened = time.Now()
	}
	failure := b.failure
	b.mu.Unlock()
	if log := b.cfg.Log; log != nil {
		switch to {
		case gobreaker.StateOpen:
			log.Warn("model circuit breaker opened: jobs wait for it instead of calling the model",
				"from", from.String(), "cooldown", b.cfg.Cooldown, "last_failure", failure)
		case gobreaker.StateHalfOpen:
			log.Info("model circuit breaker half-open: probing the model", "probes", b.cfg.Probes)
		default:
			log.Info("model circuit breaker closed: the model answers again")
		}
	}
	if to == gobreaker.StateOpen {
		// gobreaker half-opens only when asked for its state, and with no job calling, none
		// asks: the gauge (and the alert on it) would say open for as long as the process is
		// idle, the model long recovered. Ask once the cool-down is over, from a goroutine of
		// its own (gobreaker calls this with its lock held).
		time.AfterFunc(b.cfg.Cooldown, func() { b.cb.State() })
	}
}

func (cfg BreakerConfig) withDefaults() BreakerConfig {
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultBreakerFailures
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultBreakerCooldown
	}
	if cfg.Probes <= 0 {
		cfg.Probes = 3
	}
	if cfg.MaxJobAge <= 0 {
		cfg.MaxJobAge = DefaultMaxJobAge
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg
}
