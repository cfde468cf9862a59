package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// RetryConfig configures Retry. The zero value is the recommended policy.
type RetryConfig struct {
	// MaxAttempts counts every call, the first included: 0 means 4; 1 means no retries.
	MaxAttempts int
	// Base and Cap shape the backoff before retry n (n = 0, 1, ...): a random duration in
	// [0, min(Cap, Base·2^n)) — "full jitter", so workers that failed together do not retry
	// together. 0 means 200ms and 10s.
	Base, Cap time.Duration
	// MaxWait bounds the wait the API may ask for (Retry-After, x-ratelimit-reset-*): when
	// it asks for longer, Retry gives up at once rather than hold a worker. 0 means 2m.
	MaxWait time.Duration
	// MaxJobAge, when set, is a job's age budget from Request.EnqueuedAt: a wait the API asks
	// for that would end past it ends the job at once with ErrUnavailable, whose message
	// tells the client to come back later, rather than fail it after the wait. Only a wait
	// longer than the retry's own would be (the backoff's bound, or after a 429 the rate
	// limit's): a job already past its budget (from a backlog) is retried after a short wait
	// the API asks for as after a failure that asks for none.
	MaxJobAge time.Duration
	// Metrics counts retries by reason; nil counts nothing.
	Metrics *Metrics
	// Log receives a line at debug for each retry (the job, the attempt, the wait and the
	// failure before it); nil logs nothing.
	Log *slog.Logger

	// Test hooks; nil means the real clock, a timer and math/rand.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(limit time.Duration) time.Duration
}

// ErrExhausted is wrapped by the error of a call that was still failing with a retryable
// error when Retry stopped: its attempts were used up, or the API asked for a wait longer
// than RetryConfig.MaxWait or than the caller's deadline allows.
var ErrExhausted = errors.New("retries exhausted")

// RetryError is the final error of a call that Retry gave up on. errors.Is and errors.As
// see through it to the last attempt's error (and to the caller's context error when the
// caller stopped the retries).
type RetryError struct {
	// Attempts is how many calls were made.
	Attempts int
	// Exhausted reports that the last error was retryable but Retry stopped retrying.
	Exhausted bool
	// Err is the last attempt's error.
	Err error

	why  string // why Retry stopped, for the message
	stop error  // the caller's context error, when the caller stopped the retries
}

// Error says how many attempts were made, why Retry stopped, and the last error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("model call failed after %d attempt%s (%s): %v", e.Attempts, plural(e.Attempts), e.why, e.Err)
}

// Unwrap returns the last attempt's error and, when the caller stopped the retries, the
// caller's context error.
func (e *RetryError) Unwrap() []error {
	if e.stop != nil {
		return []error{e.Err, e.stop}
	}
	return []error{e.Err}
}

// Is makes errors.Is(err, ErrExhausted) true when the retries were exhausted.
func (e *RetryError) Is(target error) bool { return target == ErrExhausted && e.Exhausted }

// Retry calls again on retryable errors (see IsRetryable), up to MaxAttempts calls, with
// full-jitter exponential backoff between them; when the API said how long to wait, it
// waits at least that long. Permanent errors end the call at once; so does the caller's
// context, also while waiting. ErrUnavailable (from a breaker inside Retry) is returned as
// it is: it ends the job and its message is for the client. Every other failure is a
// *RetryError.
func Retry(cfg RetryConfig) Middleware {
	cfg = cfg.withDefaults()
	return func(next Call) Call {
		return func(ctx context.Context, req Request) (Response, error) {
			var last error // the attempt before's error
			for attempt := 1; ; attempt++ {
				resp, err := next(ctx, req)
				if err == nil {
					return resp, nil
				}
				if errors.Is(err, ErrStopped) && last != nil {
					// Stopped before it was let through again: with the failure before.
					return Response{}, &RetryError{Attempts: attempt - 1, Err: last, why: ErrStopped.Error(), stop: err}
				}
				if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrStopped) {
					return Response{}, err
				}
				last = err
				if ctx.Err() != nil {
					return Response{}, &RetryError{Attempts: attempt, Err: err, why: "caller stopped", stop: context.Cause(ctx)}
				}
				reason := reasonOf(err)
				if reason == "" {
					// With what the API billed for it, if anything (ErrDeclined).
					return resp, &RetryError{Attempts: attempt, Err: err, why: "not retryable"}
				}
				if attempt >= cfg.MaxAttempts {
					return Response{}, &RetryError{Attempts: attempt, Exhausted: true, Err: err, why: "attempts exhausted"}
				}
				wait, gaveUp := cfg.wait(ctx, attempt-1, err, req)
				if errors.Is(gaveUp, ErrUnavailable) {
					cfg.Metrics.jobUnavailable()
					return Response{}, gaveUp
				}
				if gaveUp != nil {
					return Response{}, &RetryError{Attempts: attempt, Exhausted: true, Err: err, why: gaveUp.Error()}
				}
				if cfg.Log != nil {
					cfg.Log.DebugContext(ctx, "model call failed; retrying", "job", req.JobID, "conversation", req.ConversationID,
						"attempt", attempt, "of", cfg.MaxAttempts, "wait", wait, "error", err)
				}
				if serr := pause(ctx, cfg.sleep, wait); serr != nil {
					why := "caller stopped while waiting to retry"
					if errors.Is(serr, ErrStopped) {
						why = ErrStopped.Error()
					}
					return Response{}, &RetryError{Attempts: attempt, Err: err, why: why, stop: serr}
				}
				cfg.Metrics.retried(reason)
			}
		}
	}
}

// wait returns how long to wait before retry n (n = 0 before the second attempt), or why
// there is no point in waiting: an error wrapping ErrUnavailable when the API's wait would
// end past the job's age budget, another when it is longer than MaxWait or would pass the
// caller's deadline.
func (cfg RetryConfig) wait(ctx context.Context, n int, err error, req Request) (time.Duration, error) {
	now := cfg.now()
	// A wait of 0 ("Retry-After: 0", a date past) asks for none. After a 429 the rate
	// limit's floor applies whatever the API asked: a wait of a few milliseconds (OpenAI's
	// x-ratelimit-reset-tokens) spent a job's attempts as fast as no wait did.
	hint, asked := serverWait(err, now)
	asked = asked && hint > 0
	own := doubled(cfg.Base, n, cfg.Cap) // the bound of the wait the retry chooses by itself
	wait := cfg.jitter(own)
	if isRateLimited(err) {
		own = doubled(rateLimitBase, n, cfg.Cap)
		// Half the bound at least: a rate limit's window is a second or a minute.
		wait = own/2 + cfg.jitter(own/2)
	}
	if asked {
		if budget := req.EnqueuedAt.Add(cfg.MaxJobAge); hint > own && cfg.MaxJobAge > 0 && !req.EnqueuedAt.IsZero() && now.Add(hint).After(budget) {
			return 0, fmt.Errorf("the API asked to wait %s, past the job's age budget (%s left of %s): %w",
				hint, max(budget.Sub(now), 0).Round(time.Millisecond), cfg.MaxJobAge, ErrUnavailable)
		}
		if hint > cfg.MaxWait {
			return 0, fmt.Errorf("the API asked to wait %s, longer than %s", hint, cfg.MaxWait)
		}
		wait = max(wait, hint)
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(wait).After(deadline) {
		return 0, fmt.Errorf("waiting %s would pass the caller's deadline", wait.Round(time.Millisecond))
	}
	return wait, nil
}

// rateLimitBase bounds the first wait after a 429, doubling with each retry up to Cap; the
// wait is at least half its bound, or what the API asked if longer. With the backoff of other failures (200 ms, full jitter), a proxy's 429s spent every
// attempt of a job in under a second, against a limit that had not moved.
const rateLimitBase = time.Second

// doubled is min(limit, base·2^n), without overflow for any n (LLM_MAX_ATTEMPTS has no upper
// bound).
func doubled(base time.Duration, n int, limit time.Duration) time.Duration {
	d := base
	for range n {
		if d >= limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

func (cfg RetryConfig) withDefaults() RetryConfig {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Base <= 0 {
		cfg.Base = 200 * time.Millisecond
	}
	if cfg.Cap <= 0 {
		cfg.Cap = 10 * time.Second
	}
	cfg.Cap = max(cfg.Cap, cfg.Base)
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxRetryWait
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.sleep == nil {
		cfg.sleep = sleep.For
	}
	if cfg.jitter == nil {
		cfg.jitter = fullJitter
	}
	return cfg
}

// fullJitter returns a uniformly random duration in [0, limit).
func fullJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return rand.N(limit)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
