package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// The check at start says the key is refused, at ERROR, only when the API says it takes it for
// nothing; a 401 that may be a key allowed chat completions and not the list of models (an
// OpenAI restricted key) is a WARN that says so. Before, both were the ERROR, which told the
// operator of a working key that every sentence would fail.
func TestCheckModel_SaysARefusedListAtWarnUnlessTheKeyIsRefusedForAll(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"a wrong key", `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`,
			`level=ERROR msg="the model API refuses this process's key (OPENAI_API_KEY): every sentence`},
		{"a restricted key", `{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.model.read.","type":"invalid_request_error","param":null,"code":null}}`,
			`level=WARN msg="the model API refuses this process's key (OPENAI_API_KEY) its list of models: unless the key may call models without listing them`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, tt.body)
			}))
			defer api.Close()
			var logged strings.Builder
			sys := &System{Log: slog.New(slog.NewTextHandler(&logged, nil)), Registry: prometheus.NewRegistry()}
			sys.checkModel(t.Context(), llm.OpenAIConfig{BaseURL: api.URL, APIKey: "sk-key"})
			if !strings.Contains(logged.String(), tt.want) {
				t.Errorf("logged %s\nwant %s", logged.String(), tt.want)
			}
		})
	}
}
