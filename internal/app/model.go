package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/internal/llm"
)

// newModel returns what answers jobs: the offline ELIZA responder unless OPENAI_API_KEY or
// OPENAI_BASE_URL is set, behind the policy chain (retries, breaker, rate limit, timeout),
// built once so that every worker of the process shares one limiter and one breaker.
func (s *System) newModel(ctx context.Context, m Model) (llm.Call, error) {
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
		go s.checkModel(ctx, api)
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

// checkModelTimeout bounds checkModel's one request.
const checkModelTimeout = 10 * time.Second

// checkModel says in the log, once at start, whether the model API takes this process's
// settings (llm.CheckModel: its list of models, no completion): a key it refuses, or a model
// it does not list, is then there before the first sentence fails for it. It never stops the
// process, whose calls go on being made, retried and broken off as the policies say: the API
// may only be down for now, or serve models it does not list.
func (s *System) checkModel(ctx context.Context, api llm.OpenAIConfig) {
	ctx, cancel := context.WithTimeout(ctx, checkModelTimeout)
	defer cancel()
	c := llm.CheckModel(ctx, api)
	base, model := cmp.Or(api.BaseURL, llm.DefaultBaseURL), cmp.Or(api.Model, llm.DefaultModel)
	switch {
	case c.Err == nil && c.Served:
		s.Log.Info("the model API lists OPENAI_MODEL", "model", model)
	case c.Err == nil:
		s.Log.Warn("the model API does not list OPENAI_MODEL: its calls will fail unless the API serves models it does not list",
			"model", model, "listed", clipped(c.Listed, 10))
	case llm.NoList(c.Err):
		s.Log.Info("the model API gives no list of models, so OPENAI_MODEL is not checked (should its calls answer 404 too, OPENAI_BASE_URL is not the API's root, such as …/v1)",
			"base_url", base, "error", c.Err)
	case llm.KeyRefused(c.Err):
		s.Log.Error("the model API refuses this process's key (OPENAI_API_KEY): every sentence for the model will be answered with an error until it is mended",
			"base_url", base, "error", c.Err)
	case llm.Misconfigured(c.Err):
		s.Log.Warn("the model API refuses this process's key (OPENAI_API_KEY) its list of models: unless the key may call models without listing them (a restricted key), every sentence for the model will be answered with an error until it is mended",
			"base_url", base, "error", c.Err)
	case ctx.Err() != nil && errors.Is(c.Err, context.Canceled):
		// Stopped before it could say: nothing to say.
	default:
		s.Log.Warn("cannot check the model API now (its calls retry, and its breaker opens, as for any failure)", "base_url", base, "error", c.Err)
	}
}

// clipped returns the first n of ids, and how many more there were.
func clipped(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:n], ", "), len(ids)-n)
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
