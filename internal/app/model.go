package app

import (
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
	if m.Offline() {
		s.Log.Info("no OPENAI_API_KEY or OPENAI_BASE_URL: answering queued conversations with the offline ELIZA responder")
		call = llm.NewOffline(rand.Uint64())
	} else {
		s.Log.Info("answering queued conversations with an OpenAI-compatible API", "base_url", m.BaseURL, "model", m.Model)
		var err error
		call, err = llm.NewOpenAI(llm.OpenAIConfig{
			BaseURL: m.BaseURL, APIKey: m.APIKey, Model: m.Model, Organization: m.Organization, Project: m.Project,
			// The worker reads the history from the transcript, already bounded by
			// CONTEXT_TURNS: send it all.
			SystemPrompt: m.SystemPrompt, MaxHistory: math.MaxInt32,
			HTTPClient: pooledClient(),
		})
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	return llm.NewPolicy(call, llm.PolicyConfig{
		Timeout: m.Timeout, MaxAttempts: m.MaxAttempts, RPM: m.RPM, TPM: m.TPM,
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
