package app

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"

	"github.com/beacon/eventdispatch/internal/llm"
)

// newModel returns what answers jobs: the offline ELIZA responder unless OPENAI_API_KEY or
// OPENAI_BASE_URL is set, behind the policy chain (retries, breaker, rate limit, timeout),
// built once so that every worker of the process shares one limiter and one breaker.
func (s *System) newModel(m Model) (llm.Call, error) {
	var call llm.Call
	var estimate func(llm.Request) int // nil: llm's default, for the offline responder
	if m.Offline() {
		s.Log.Info("no OPENAI_API_KEY or OPENAI_BASE_URL: answering queued conversations with the offline ELIZA responder")
		call = llm.NewOffline(rand.Uint64())
	} else {
		api := llm.OpenAIConfig{
			BaseURL: m.BaseURL, APIKey: m.APIKey, Model: m.Model, Organization: m.Organization, Project: m.Project,
			// The worker reads the history from the transcript, already bounded by
			// CONTEXT_TURNS: send it all.
			SystemPrompt: m.SystemPrompt, MaxHistory: math.MaxInt32,
			HTTPClient: pooledClient(),
		}
		s.Log.Info("answering queued conversations with an OpenAI-compatible API",
			"base_url", cmp.Or(m.BaseURL, llm.DefaultBaseURL), "model", cmp.Or(m.Model, llm.DefaultModel))
		var err error
		if call, err = llm.NewOpenAI(api); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		// LLM_TPM counts what this config sends: its system prompt and all the history the
		// worker gives, not the default prompt and ten turns.
		estimate = api.EstimateTokens
	}
	return llm.NewPolicy(call, llm.PolicyConfig{
		Timeout: m.Timeout, MaxAttempts: m.MaxAttempts, RPM: m.RPM, TPM: m.TPM, Estimate: estimate,
		BreakerFailures: m.BreakerFailures, BreakerCooldown: m.BreakerCooldown, MaxJobAge: m.MaxJobAge,
		MaxServerWait: m.MaxRetryWait, Log: s.Log,
	}, llm.NewMetrics(s.Registry)), nil
}

// Describe says in a phrase which model answers, for people (standalone mode's banner).
func (m Model) Describe() string {
	if m.Offline() {
		return "offline ELIZA responder (set OPENAI_API_KEY or OPENAI_BASE_URL for a real model)"
	}
	if m.BaseURL == "" {
		return "OpenAI-compatible API (public)"
	}
	return "OpenAI-compatible API " + m.BaseURL
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
