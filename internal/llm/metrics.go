package llm

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// Call outcomes, the values of llm_calls_total's outcome label.
const (
	OutcomeOK             = "ok"
	OutcomeRetryableError = "retryable_error"
	OutcomePermanentError = "permanent_error"
	OutcomeTimeout        = "timeout"
	OutcomeCanceled       = "canceled"
)

// Metrics are the model side's instruments. A nil *Metrics records nothing, so every policy
// works without them.
type Metrics struct {
	calls              *prometheus.CounterVec
	callDuration       prometheus.Histogram
	retries            *prometheus.CounterVec
	limiterWait        prometheus.Histogram
	breakerState       prometheus.Gauge
	breakerTransitions *prometheus.CounterVec
	unavailable        prometheus.Counter
	tokens             *prometheus.CounterVec
	apiErrors          *prometheus.CounterVec
}

// NewMetrics registers the instruments with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_calls_total",
			Help: "Model calls (each attempt), by outcome: ok, retryable_error, permanent_error, timeout (the per-call timeout), canceled (the caller gave up).",
		}, []string{"outcome"}),
		callDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "llm_call_duration_seconds",
			Help:    "Duration of one model call (one attempt), failures included; waits for the limiter and the breaker excluded.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 15), // 5 ms (an offline or local model) to 82 s
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_retries_total",
			Help: "Model calls retried, by the reason of the failure before: the HTTP status (429, 500, ...), timeout, connection or malformed.",
		}, []string{"reason"}),
		limiterWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "llm_ratelimit_wait_seconds",
			Help:    "Time a model call waited for the shared rate limiter (LLM_RPM, LLM_TPM).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
		}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "llm_breaker_state",
			Help: "State of the model's circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
		breakerTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_breaker_transitions_total",
			Help: "Circuit breaker state changes, by the states left and entered (closed, half-open, open).",
		}, []string{"from", "to"}),
		unavailable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "llm_jobs_unavailable_total",
			Help: "Jobs failed as unavailable: they waited for the open breaker until LLM_MAX_JOB_AGE, or the API asked them to wait past it.",
		}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_api_errors_total",
			Help: "Error answers of the model API (each attempt), by HTTP status and the API error's type and code (empty when the body had none; other for values that are not short identifiers).",
		}, []string{"status", "type", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_tokens_total",
			Help: "Tokens the model API reported used, by kind: prompt or completion.",
		}, []string{"kind"}),
	}
	for _, o := range []string{OutcomeOK, OutcomeRetryableError, OutcomePermanentError, OutcomeTimeout, OutcomeCanceled} {
		m.calls.WithLabelValues(o)
	}
	m.tokens.WithLabelValues("prompt")
	m.tokens.WithLabelValues("completion")
	// Every transition the breaker makes, at zero from the start: an alert's increase() then
	// counts the first one too (ModelBreakerOpen counts re-openings from half-open).
	for _, t := range [][2]gobreaker.State{
		{gobreaker.StateClosed, gobreaker.StateOpen}, {gobreaker.StateOpen, gobreaker.StateHalfOpen},
		{gobreaker.StateHalfOpen, gobreaker.StateOpen}, {gobreaker.StateHalfOpen, gobreaker.StateClosed},
	} {
		m.breakerTransitions.WithLabelValues(t[0].String(), t[1].String())
	}
	reg.MustRegister(m.calls, m.callDuration, m.retries, m.limiterWait, m.breakerState, m.breakerTransitions, m.unavailable, m.tokens, m.apiErrors)
	return m
}

// Instrument counts and times each call it wraps, by outcome, and adds up the tokens the
// API reported. Place it just outside Timeout, so it times the call itself and sees the
// per-call timeout as a timeout. A nil m disables it.
func Instrument(m *Metrics) Middleware {
	if m == nil {
		return passThrough
	}
	return func(next Call) Call {
		return func(ctx context.Context, req Request) (Response, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			m.callDuration.Observe(time.Since(start).Seconds())
			m.calls.WithLabelValues(outcomeOf(ctx, err)).Inc()
			if se, ok := errors.AsType[*StatusError](err); ok {
				typ, code := apiErrorLabels(se.Err)
				m.apiErrors.WithLabelValues(strconv.Itoa(se.Status), typ, code).Inc()
			}
			m.tokens.WithLabelValues("prompt").Add(float64(resp.PromptTokens))
			m.tokens.WithLabelValues("completion").Add(float64(resp.CompletionTokens))
			return resp, err
		}
	}
}

func outcomeOf(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case ctx.Err() != nil:
		return OutcomeCanceled
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	case IsRetryable(err):
		return OutcomeRetryableError
	default:
		return OutcomePermanentError
	}
}

func (m *Metrics) retried(reason string) {
	if m != nil {
		m.retries.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) limited(wait time.Duration) {
	if m != nil {
		m.limiterWait.Observe(wait.Seconds())
	}
}

func (m *Metrics) setBreakerState(s gobreaker.State) {
	if m != nil {
		m.breakerState.Set(float64(s))
	}
}

func (m *Metrics) breakerTransition(from, to gobreaker.State) {
	if m != nil {
		m.breakerTransitions.WithLabelValues(from.String(), to.String()).Inc()
		m.breakerState.Set(float64(to))
	}
}

func (m *Metrics) jobUnavailable() {
	if m != nil {
		m.unavailable.Inc()
	}
}
