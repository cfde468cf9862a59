package llm

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// PolicyConfig configures NewPolicy in one flat struct, one field per setting (the names in
// brackets are the environment variables the binaries are expected to read). Zero values
// take the defaults named on each field.
type PolicyConfig struct {
	// Timeout bounds each attempt (LLM_TIMEOUT): 0 means 30s, negative means none.
	Timeout time.Duration
	// MaxAttempts counts attempts per job, the first included (LLM_MAX_ATTEMPTS): 0 means 4.
	MaxAttempts int
	// BackoffBase and BackoffCap shape the jittered backoff: 0 means 200ms and 10s.
	BackoffBase, BackoffCap time.Duration
	// MaxServerWait is the longest Retry-After or rate-limit reset honoured before a job gives
	// up (LLM_MAX_RETRY_WAIT): 0 means 2m.
	MaxServerWait time.Duration
	// RPM and TPM are the requests and tokens per minute this process may use (LLM_RPM,
	// LLM_TPM): 0 means no limit.
	RPM, TPM int
	// Estimate guesses a call's tokens for TPM: nil means OpenAIConfig{}.EstimateTokens.
	Estimate func(Request) int
	// BreakerFailures opens the breaker after that many retryable failures in a row
	// (LLM_BREAKER_FAILURES): 0 means 5.
	BreakerFailures int
	// BreakerCooldown is how long it stays open (LLM_BREAKER_COOLDOWN): 0 means 30s.
	BreakerCooldown time.Duration
	// BreakerProbes is how many calls it lets through half-open: 0 means 3.
	BreakerProbes int
	// MaxJobAge bounds how long a job waits for an open breaker before it fails with
	// ErrUnavailable (LLM_MAX_JOB_AGE): 0 means 2m.
	MaxJobAge time.Duration
	// Log receives the breaker's changes of state, and each retry at debug; nil logs nothing.
	Log *slog.Logger
}

// Defaults of the policy settings the binaries read (internal/app uses these, so each
// default is written once).
const (
	// DefaultTimeout bounds each attempt when PolicyConfig.Timeout is zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxAttempts counts attempts per job when MaxAttempts is zero.
	DefaultMaxAttempts = 4
	// DefaultBreakerFailures opens the breaker when BreakerFailures is zero.
	DefaultBreakerFailures = 5
	// DefaultBreakerCooldown keeps it open when BreakerCooldown is zero.
	DefaultBreakerCooldown = 30 * time.Second
	// DefaultMaxJobAge bounds a job's wait for an open breaker when MaxJobAge is zero.
	DefaultMaxJobAge = 2 * time.Minute
	// DefaultMaxRetryWait is the longest wait the API may ask for when MaxServerWait is zero.
	DefaultMaxRetryWait = 2 * time.Minute
)

// Validate reports settings that cannot be meant, naming the field.
func (c PolicyConfig) Validate() error {
	for _, f := range []struct {
		name string
		bad  bool
	}{
		{"MaxAttempts", c.MaxAttempts < 0},
		{"BackoffBase", c.BackoffBase < 0},
		{"BackoffCap", c.BackoffCap < 0},
		{"MaxServerWait", c.MaxServerWait < 0},
		{"RPM", c.RPM < 0},
		{"TPM", c.TPM < 0},
		{"BreakerFailures", c.BreakerFailures < 0},
		{"BreakerCooldown", c.BreakerCooldown < 0},
		{"BreakerProbes", c.BreakerProbes < 0},
		{"MaxJobAge", c.MaxJobAge < 0},
	} {
		if f.bad {
			return fmt.Errorf("model policy: %s must not be negative", f.name)
		}
	}
	return nil
}

// NewPolicy wraps model in the recommended chain, outermost first:
//
//	Retry → Breaker → RateLimit → Instrument → Timeout → model
//
// (see the package documentation for why this order). The returned Call holds one breaker
// and one rate limiter: build it once per process and share it among the workers. m may be
// nil.
func NewPolicy(model Call, cfg PolicyConfig, m *Metrics) Call {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return Chain(model,
		stampEnqueued(time.Now),
		Retry(RetryConfig{
			MaxAttempts: cfg.MaxAttempts,
			Base:        cfg.BackoffBase,
			Cap:         cfg.BackoffCap,
			MaxWait:     cfg.MaxServerWait,
			MaxJobAge:   maxJobAge(cfg.MaxJobAge),
			Metrics:     m,
			Log:         cfg.Log,
		}),
		Breaker(BreakerConfig{
			Failures:  cfg.BreakerFailures,
			Cooldown:  cfg.BreakerCooldown,
			Probes:    cfg.BreakerProbes,
			MaxJobAge: cfg.MaxJobAge,
			Metrics:   m,
			Log:       cfg.Log,
		}),
		RateLimit(RateLimitConfig{RPM: cfg.RPM, TPM: cfg.TPM, Estimate: cfg.Estimate, Metrics: m}),
		Instrument(m),
		Timeout(timeout),
	)
}

func maxJobAge(d time.Duration) time.Duration {
	if d == 0 {
		return DefaultMaxJobAge
	}
	return d
}

// stampEnqueued dates a request that does not say when it was enqueued, once for all its
// attempts, so that its age is counted from its first attempt.
func stampEnqueued(now func() time.Time) Middleware {
	return func(next Call) Call {
		return func(ctx context.Context, req Request) (Response, error) {
			if req.EnqueuedAt.IsZero() {
				req.EnqueuedAt = now()
			}
			return next(ctx, req)
		}
	}
}
