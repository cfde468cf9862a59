package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/queue"
)

// ModelSettings choose the model and the policies between the queue and it, from the
// environment (README, configuration).
type ModelSettings struct {
	APIKey          string        `env:"OPENAI_API_KEY"`
	BaseURL         string        `env:"OPENAI_BASE_URL"`
	Model           string        `env:"OPENAI_MODEL"`
	SystemPrompt    string        `env:"LLM_SYSTEM_PROMPT"`
	Timeout         time.Duration `env:"LLM_TIMEOUT" envDefault:"30s"`
	MaxAttempts     int           `env:"LLM_MAX_ATTEMPTS" envDefault:"4"`
	RPM             int           `env:"LLM_RPM" envDefault:"0"`
	TPM             int           `env:"LLM_TPM" envDefault:"0"`
	BreakerFailures int           `env:"LLM_BREAKER_FAILURES" envDefault:"5"`
	BreakerCooldown time.Duration `env:"LLM_BREAKER_COOLDOWN" envDefault:"30s"`
	MaxJobAge       time.Duration `env:"LLM_MAX_JOB_AGE" envDefault:"2m"`
}

// Offline reports that no model API is configured, so the ELIZA responder answers.
func (m ModelSettings) Offline() bool { return m.APIKey == "" && m.BaseURL == "" }

// Validate checks the values, naming the variable that is wrong.
func (m ModelSettings) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"LLM_TIMEOUT": m.Timeout, "LLM_BREAKER_COOLDOWN": m.BreakerCooldown, "LLM_MAX_JOB_AGE": m.MaxJobAge} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	for name, n := range map[string]int{"LLM_MAX_ATTEMPTS": m.MaxAttempts, "LLM_BREAKER_FAILURES": m.BreakerFailures} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s: must be at least 1, got %d", name, n))
		}
	}
	for name, n := range map[string]int{"LLM_RPM": m.RPM, "LLM_TPM": m.TPM} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", name, n))
		}
	}
	return errors.Join(errs...)
}

// NewModel returns the model call wrapped in the policy chain: the offline ELIZA responder
// unless OPENAI_API_KEY or OPENAI_BASE_URL is set. Build it once per process, so every worker
// shares one rate limiter and one breaker.
func NewModel(m ModelSettings, reg prometheus.Registerer) (Model, error) {
	var call llm.Call
	if m.Offline() {
		call = llm.NewOffline(rand.Uint64())
	} else {
		var err error
		call, err = llm.NewOpenAI(llm.OpenAIConfig{
			BaseURL: m.BaseURL, APIKey: m.APIKey, Model: m.Model,
			// Jobs carry the history the front door chose to send (CONTEXT_TURNS): send it all.
			SystemPrompt: m.SystemPrompt, MaxHistory: math.MaxInt32,
			HTTPClient: pooledClient(),
		})
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	policy := llm.NewPolicy(call, llm.PolicyConfig{
		Timeout: m.Timeout, MaxAttempts: m.MaxAttempts, RPM: m.RPM, TPM: m.TPM,
		BreakerFailures: m.BreakerFailures, BreakerCooldown: m.BreakerCooldown, MaxJobAge: m.MaxJobAge,
	}, llm.NewMetrics(reg))
	return func(ctx context.Context, job queue.Job) (string, error) {
		history := make([]llm.Turn, len(job.History))
		for i, t := range job.History {
			history[i] = llm.Turn{Role: t.Role, Content: t.Content}
		}
		res, err := policy(ctx, llm.Request{
			JobID: job.ID, ConversationID: job.ConversationID, Sentence: job.Sentence,
			History: history, EnqueuedAt: job.EnqueuedAt,
		})
		return res.Text, err
	}, nil
}

// pooledClient keeps enough idle connections for every worker to reuse one: the default
// transport keeps two per host, so with dozens of workers most calls would dial anew
// (bench-llm counted hundreds of closed connections in 20 s).
func pooledClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	return &http.Client{Transport: t}
}
