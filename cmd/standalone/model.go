package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/worker"
)

// modelSettings are the dispatcher's model variables, with the same names and defaults.
type modelSettings struct {
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

// offline reports whether no model API is configured, so the ELIZA responder answers.
func (m modelSettings) offline() bool { return m.APIKey == "" && m.BaseURL == "" }

func (m modelSettings) validate() error {
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

// newModel returns the model call wrapped in the policy chain, as the dispatcher builds it:
// the offline ELIZA responder unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
func newModel(m modelSettings, reg prometheus.Registerer) (worker.Model, error) {
	var call llm.Call
	if m.offline() {
		call = llm.NewOffline(rand.Uint64())
	} else {
		var err error
		call, err = llm.NewOpenAI(llm.OpenAIConfig{
			BaseURL: m.BaseURL, APIKey: m.APIKey, Model: m.Model,
			SystemPrompt: m.SystemPrompt, MaxHistory: math.MaxInt32, // jobs carry the history to send
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

// describeModel says in the banner which model answers queued conversations.
func describeModel(m modelSettings, log *slog.Logger) string {
	if m.offline() {
		return "offline ELIZA responder (set OPENAI_API_KEY or OPENAI_BASE_URL for a real model)"
	}
	log.Info("answering queued conversations with an OpenAI-compatible API", "base_url", m.BaseURL, "model", m.Model)
	return "OpenAI-compatible API " + orDefault(m.BaseURL, "(public)")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
