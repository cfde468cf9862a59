package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/llm"
)

// LLM_TPM counts the calls as they are sent: with the system prompt configured
// (LLM_SYSTEM_PROMPT) and all the history the worker gives. Before, it counted the default
// prompt and ten turns whatever was configured, and a prompt of 5,000 tokens went out 14
// times in half a second under a budget of 3,000 a minute.
func TestNewModel_TheTokenBudgetCountsTheSystemPromptConfigured(t *testing.T) {
	srv := fakeopenai.New()
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	m := defaultConversations().Model
	m.BaseURL, m.APIKey, m.TPM = url, "test-key", 3000
	m.SystemPrompt = strings.Repeat("You are kind. ", 1500) // 21,000 bytes: about 5,250 tokens
	sys := &System{Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}
	call, err := sys.newModel(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(t.Context(), llm.Request{JobID: "j1", Sentence: "I feel sad"}); err != nil {
		t.Fatalf("the first call, within a full bucket: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := call(ctx, llm.Request{JobID: "j2", Sentence: "I feel sad"}); err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("the second call: %v; want it held by the token budget, which the first spent", err)
	}
}
