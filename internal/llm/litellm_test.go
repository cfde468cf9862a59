package llm

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// TestOpenAI_ThroughARealProxy puts LiteLLM, a widely deployed OpenAI-compatible proxy, between
// the model call and the fake model: LiteLLM parses what this package sends with its own
// models of the API, asks the fake with requests of its own, and answers in its own
// words. What our fake would let pass and a real peer would not (a request field of the wrong
// shape, an answer we cannot read, an error status a proxy rewrites) fails here.
func TestOpenAI_ThroughARealProxy(t *testing.T) {
	bin := liteLLM(t)
	upstream := fakeopenai.New(fakeopenai.WithScript(
		fakeopenai.Reply("I hear that you feel tired."),
		fakeopenai.Reply("Tell me more."),
		fakeopenai.RateLimited(2*time.Second),
		fakeopenai.Fail(http.StatusInternalServerError),
		fakeopenai.OutOfCredit(),
	))
	base, err := upstream.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upstream.Close() })
	proxy := startLiteLLM(t, bin, base)

	call, err := NewOpenAI(OpenAIConfig{BaseURL: proxy, APIKey: "sk-proxy-key", Model: "counsellor", SystemPrompt: "be kind", MaxCompletionTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	resp, err := call(ctx, Request{Sentence: "I feel tired"})
	if err != nil {
		t.Fatalf("first call through LiteLLM: %v", err)
	}
	if resp.Text != "I hear that you feel tired." || resp.PromptTokens == 0 || resp.CompletionTokens == 0 {
		t.Errorf("first answer %+v: want the upstream's text and its usage", resp)
	}
	history := []Turn{{RoleUser, "I feel tired"}, {RoleAssistant, "I hear that you feel tired."}}
	if resp, err = call(ctx, Request{Sentence: "all the time", History: history}); err != nil || resp.Text != "Tell me more." {
		t.Fatalf("second call: %+v, %v", resp, err)
	}
	got := upstream.Requests()
	want := []fakeopenai.Message{
		{Role: "system", Content: "be kind"},
		{Role: "user", Content: "I feel tired"},
		{Role: "assistant", Content: "I hear that you feel tired."},
		{Role: "user", Content: "all the time"},
	}
	if len(got) != 2 || fmt.Sprint(got[1].Messages) != fmt.Sprint(want) {
		t.Fatalf("the upstream saw %d requests, the second with %+v; want %+v", len(got), got[len(got)-1].Messages, want)
	}
	if got[1].Model != "upstream-model" {
		t.Errorf("the upstream was asked for model %q, want LiteLLM's mapping to upstream-model", got[1].Model)
	}

	// The upstream's 429 and 500 reach us as LiteLLM rewrites them: still status errors, and
	// still retryable.
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
		_, err := call(ctx, Request{Sentence: "hello?"})
		se, ok := errors.AsType[*StatusError](err)
		if !ok || se.Status != status || !IsRetryable(err) {
			t.Errorf("upstream answering %d: err = %v, want a retryable StatusError %d", status, err, status)
		}
	}

	// An account out of credit: LiteLLM rewrites OpenAI's insufficient_quota to a throttling
	// error of its own, which must not be taken for a rate limit and retried.
	_, err = call(ctx, Request{Sentence: "hello?"})
	t.Logf("out of credit through LiteLLM: %#v", err)
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != http.StatusTooManyRequests || IsRetryable(err) {
		t.Errorf("upstream out of credit: err = %v, want a permanent StatusError 429", err)
	}

	// A key the proxy does not know: LiteLLM without a database of keys answers 400 "No
	// connected db." rather than 401. Either way a client error, not to be retried.
	bad, err := NewOpenAI(OpenAIConfig{BaseURL: proxy, APIKey: "sk-wrong", Model: "counsellor"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad(ctx, Request{Sentence: "hi"})
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status < 400 || se.Status >= 500 || se.Status == http.StatusTooManyRequests || IsRetryable(err) {
		t.Errorf("a wrong key: err = %v, want a permanent 4xx", err)
	}
	// Nor is it the sentence's fault, nor one of a model LiteLLM does not serve (400 "Invalid
	// model name"): the process's settings are, which the worker says to the operator and
	// the client hears as "try again later".
	if !Misconfigured(err) || RefusesTheRequest(err) {
		t.Errorf("a wrong key: err = %v, want it taken for the settings' fault, not the request's", err)
	}
	unknown, err := NewOpenAI(OpenAIConfig{BaseURL: proxy, APIKey: "sk-proxy-key", Model: "nosuchmodel"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = unknown(ctx, Request{Sentence: "hi"}); !Misconfigured(err) || RefusesTheRequest(err) || IsRetryable(err) {
		t.Errorf("a model LiteLLM does not serve: err = %v, want the settings' fault, not retried", err)
	}

	// The check at start: LiteLLM lists the names it serves to a key it knows, and refuses
	// one it does not as it refuses its calls.
	if c := CheckModel(ctx, OpenAIConfig{BaseURL: proxy, APIKey: "sk-proxy-key", Model: "counsellor"}); c.Err != nil || !c.Served || !slices.Equal(c.Listed, []string{"counsellor"}) {
		t.Errorf("CheckModel through LiteLLM: %+v, want counsellor listed and served", c)
	}
	if c := CheckModel(ctx, OpenAIConfig{BaseURL: proxy, APIKey: "sk-proxy-key", Model: "nosuchmodel"}); c.Err != nil || c.Served {
		t.Errorf("CheckModel of a model LiteLLM does not serve: %+v, want the list, and it not served", c)
	}
	if c := CheckModel(ctx, OpenAIConfig{BaseURL: proxy, APIKey: "sk-wrong", Model: "counsellor"}); !Misconfigured(c.Err) {
		t.Errorf("CheckModel with a key LiteLLM does not know: %+v, want the settings' fault", c)
	}
	if n := upstream.Count(); n != 5 {
		t.Errorf("the upstream saw %d requests, want 5: LiteLLM must not retry, nor pass on a call it refused", n)
	}
}

// liteLLM finds the litellm command that `make stack-up` installs (deploy/local/stack.sh, in a
// virtual environment under the stack's folder), or one on PATH. Without it the test is
// skipped, or fails when CI=true.
func liteLLM(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs LiteLLM, a real OpenAI-compatible proxy: not run with -short (make test-unit); make test runs it")
	}
	dir := os.Getenv("STACK_DIR")
	if dir == "" {
		dir = ".stack"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // the repository's root, where make runs stack.sh
	}
	bin, err := filepath.Abs(filepath.Join(dir, "litellm", "bin", "litellm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if p, err := exec.LookPath("litellm"); err == nil {
		return p
	}
	stack.Missing(t, "LiteLLM not found in "+bin+" nor on PATH (`make stack-up` installs it)")
	return ""
}

// startLiteLLM runs bin as a proxy in front of upstream (an OpenAI-compatible base URL),
// serving the model "counsellor" as upstream's "upstream-model" to callers with the key
// "sk-proxy-key", with LiteLLM's own retries off. It returns the proxy's base URL once the
// proxy is ready; the proxy is stopped when the test ends, and its output logged if it failed.
func startLiteLLM(t *testing.T, bin, upstream string) string {
	t.Helper()
	config := filepath.Join(t.TempDir(), "litellm.yaml")
	err := os.WriteFile(config, []byte(`model_list:
  - model_name: counsellor
    litellm_params:
      model: openai/upstream-model
      api_base: `+upstream+`
      api_key: sk-upstream-key
litellm_settings:
  num_retries: 0
  request_timeout: 30
  telemetry: false
general_settings:
  master_key: sk-proxy-key
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	// No database: LiteLLM uses DATABASE_URL, set or empty, which a developer's shell holds for
	// the stack; the proxy inherits this process's environment, so it is unset here for the
	// test's length.
	t.Setenv("DATABASE_URL", "")
	if err := os.Unsetenv("DATABASE_URL"); err != nil {
		t.Fatal(err)
	}
	// Nothing from the internet: the model cost map bundled with the package, no telemetry.
	proctest.StartArgs(t, bin, []string{"--config", config, "--host", host, "--port", port, "--num_workers", "1"},
		"LITELLM_LOCAL_MODEL_COST_MAP=True", "LITELLM_TELEMETRY=False", "NO_DOCS=True")
	proctest.WaitHTTP(t, "http://"+addr+"/health/liveliness", 90*time.Second)
	return "http://" + addr + "/v1"
}
