package llm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
)

// fake starts a fake API for one test and returns it and a Call talking to it.
func fake(t *testing.T, cfg OpenAIConfig, opts ...fakeopenai.Option) (*fakeopenai.Server, Call) {
	t.Helper()
	s := fakeopenai.New(opts...)
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cfg.BaseURL = base
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-test"
	}
	call, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, call
}

func TestOpenAI_AnswersThroughTheSDK(t *testing.T) {
	s, call := fake(t, OpenAIConfig{Model: "small-model"})
	resp, err := call(context.Background(), Request{Sentence: "I feel tired"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "echo: I feel tired" || resp.PromptTokens == 0 || resp.CompletionTokens == 0 {
		t.Errorf("resp = %+v", resp)
	}
	got := s.Requests()[0]
	if got.Model != "small-model" || got.Authorization != "Bearer sk-test" {
		t.Errorf("server saw model %q, authorization %q", got.Model, got.Authorization)
	}
}

func TestOpenAI_SendsSystemPromptRecentHistoryAndSentenceInOrder(t *testing.T) {
	s, call := fake(t, OpenAIConfig{SystemPrompt: "be brief", MaxHistory: 3})
	history := []Turn{
		{RoleUser, "one"}, {RoleAssistant, "two"}, {RoleUser, "three"}, {RoleAssistant, "four"}, {RoleUser, "five"},
	}
	if _, err := call(context.Background(), Request{Sentence: "six", History: history}); err != nil {
		t.Fatal(err)
	}
	want := []fakeopenai.Message{
		{Role: "system", Content: "be brief"},
		{Role: "user", Content: "three"},
		{Role: "assistant", Content: "four"},
		{Role: "user", Content: "five"},
		{Role: "user", Content: "six"},
	}
	got := s.Requests()[0].Messages
	if len(got) != len(want) {
		t.Fatalf("messages = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOpenAI_UsesDefaultsForPromptModelAndHistory(t *testing.T) {
	s, call := fake(t, OpenAIConfig{})
	var history []Turn
	for range 15 {
		history = append(history, Turn{RoleUser, "again"})
	}
	if _, err := call(context.Background(), Request{Sentence: "hi", History: history}); err != nil {
		t.Fatal(err)
	}
	got := s.Requests()[0]
	if got.Model != DefaultModel || got.Messages[0].Content != DefaultSystemPrompt || len(got.Messages) != 1+DefaultMaxHistory+1 {
		t.Errorf("model %q, %d messages, system %q", got.Model, len(got.Messages), got.Messages[0].Content)
	}
}

func TestOpenAI_ErrorAnswersCarryStatusAndHeaders(t *testing.T) {
	s, call := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.RateLimited(2*time.Second), fakeopenai.Fail(401)))
	_, err := call(context.Background(), Request{Sentence: "hi"})
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Status != 429 || se.Header.Get("Retry-After") != "2" || se.Header.Get("x-ratelimit-reset-requests") != "2s" {
		t.Fatalf("err = %v, want a 429 StatusError with its headers", err)
	}
	if !IsRetryable(err) {
		t.Error("429 not retryable")
	}
	_, err = call(context.Background(), Request{Sentence: "hi"})
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 401 || IsRetryable(err) {
		t.Errorf("err = %v, want a permanent 401", err)
	}
	if s.Count() != 2 {
		t.Errorf("server saw %d requests, want 2: the SDK must not retry", s.Count())
	}
}

func TestOpenAI_MalformedAnswersAreRetryable(t *testing.T) {
	for name, b := range map[string]fakeopenai.Behaviour{
		"invalid JSON":  fakeopenai.Malformed(),
		"no choices":    fakeopenai.EmptyChoices(),
		"blank content": fakeopenai.Reply("   "),
	} {
		t.Run(name, func(t *testing.T) {
			_, call := fake(t, OpenAIConfig{}, fakeopenai.WithDefault(b))
			_, err := call(context.Background(), Request{Sentence: "hi"})
			if !errors.Is(err, ErrMalformedResponse) || !IsRetryable(err) {
				t.Errorf("err = %v, want retryable ErrMalformedResponse", err)
			}
		})
	}
}

func TestOpenAI_KeepsTheStatusOfAnErrorAnswerThatIsNotJSON(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>502 Bad Gateway</html>"))
	}))
	defer proxy.Close()
	call, err := NewOpenAI(OpenAIConfig{BaseURL: proxy.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(context.Background(), Request{Sentence: "hi"})
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 502 || se.Header.Get("Retry-After") != "3" {
		t.Errorf("err = %v, want a 502 StatusError", err)
	}
}

func TestOpenAI_ConnectionFailuresAreRetryable(t *testing.T) {
	s := fakeopenai.New()
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	call, err := NewOpenAI(OpenAIConfig{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(context.Background(), Request{Sentence: "hi"})
	if reasonOf(err) != "connection" {
		t.Errorf("err = %v (reason %q), want a retryable connection error", err, reasonOf(err))
	}
}

func TestNewOpenAI_RejectsUnusableConfigurations(t *testing.T) {
	for name, cfg := range map[string]OpenAIConfig{
		"public API without key": {},
		"relative URL":           {BaseURL: "/v1", APIKey: "k"},
		"no scheme":              {BaseURL: "127.0.0.1:8080/v1", APIKey: "k"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewOpenAI(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := NewOpenAI(OpenAIConfig{APIKey: "k"}); err != nil {
		t.Errorf("public API with a key: %v", err)
	}
	if _, err := NewOpenAI(OpenAIConfig{BaseURL: "http://127.0.0.1:1/v1"}); err != nil {
		t.Errorf("a local server without a key: %v", err)
	}
}

func TestOpenAI_SendsNoAuthorizationWorthTheNameWithoutAKey(t *testing.T) {
	s := fakeopenai.New()
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	call, err := NewOpenAI(OpenAIConfig{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(context.Background(), Request{Sentence: "hi"}); err != nil {
		t.Fatalf("a keyless local server: %v", err)
	}
	if a := s.Requests()[0].Authorization; strings.TrimSpace(strings.TrimPrefix(a, "Bearer")) != "" {
		t.Errorf("authorization %q without a key", a)
	}
}

func TestOpenAI_SendsTheBoundOnAnswerTokensOnlyWhenSet(t *testing.T) {
	var bodies []map[string]any
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("body %v, content type %q", err, r.Header.Get("Content-Type"))
		}
		bodies = append(bodies, b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c1","choices":[{"message":{"content":null,"refusal":"I cannot help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":5}}`))
	}))
	defer api.Close()
	for _, bound := range []int{0, 64} {
		call, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1", MaxCompletionTokens: bound})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := call(context.Background(), Request{Sentence: "hi"})
		if err != nil || resp != (Response{Text: "I cannot help with that.", PromptTokens: 7, CompletionTokens: 5}) {
			t.Errorf("bound %d: resp %+v, err %v; want the refusal and the usage", bound, resp, err)
		}
	}
	if len(bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(bodies))
	}
	if _, ok := bodies[0]["max_completion_tokens"]; ok {
		t.Errorf("unbounded request sent max_completion_tokens: %v", bodies[0])
	}
	if got := bodies[1]["max_completion_tokens"]; got != 64.0 {
		t.Errorf("max_completion_tokens = %v, want 64", got)
	}
}

// An API that answers a negative token count (a proxy's placeholder for "unknown") has its
// answer taken and that count taken as none; one past what the usage columns hold, as the
// most they hold. Before, the count reached the tokens counter,
// whose Add panics below zero, and took the dispatcher down with every redo of the job.
func TestOpenAI_ANegativeTokenCountIsNoCount(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-1,"completion_tokens":9223372036854775807}}`))
	}))
	defer api.Close()
	call, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Instrument(NewMetrics(prometheus.NewRegistry()))(call)(context.Background(), Request{Sentence: "hi"})
	if err != nil || resp != (Response{Text: "hello", CompletionTokens: math.MaxInt32}) {
		t.Fatalf("resp %+v, err %v; want the answer with no prompt tokens and the most completion tokens counted", resp, err)
	}
}

// answering starts an API that answers every call with write, and returns a Call to it.
func answering(t *testing.T, write func(w http.ResponseWriter)) Call {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { write(w) }))
	t.Cleanup(api.Close)
	call, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	return call
}

// A body past MaxBodyBytes, plain or a compressed bomb, fails the call as malformed at that
// size. Before, it was read whole: a gigabyte of zeros in a megabyte of gzip took gigabytes of
// memory, and ran past LLM_TIMEOUT decompressing.
func TestOpenAI_ABodyTooLargeIsMalformedAndNotReadWhole(t *testing.T) {
	padding := strings.Repeat("0", MaxBodyBytes)
	doc := `{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}],"padding":"` + padding + `"}`
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	for range 16 { // 16 × 8 MiB of zeros, in about 130 kB
		_, _ = zw.Write([]byte(padding))
	}
	_ = zw.Close()
	for name, write := range map[string]func(w http.ResponseWriter){
		"plain": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, doc)
		},
		"gzip": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb.Bytes())
		},
	} {
		_, err := answering(t, write)(context.Background(), Request{Sentence: "hi"})
		if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: %v, want malformed for its size", name, err)
		}
	}
}

// A completion labelled text/plain (as some proxies do) is read as the JSON it is.
func TestOpenAI_ACompletionIsReadWhateverItsContentType(t *testing.T) {
	call := answering(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, `{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}]}`)
	})
	if resp, err := call(context.Background(), Request{Sentence: "hi"}); err != nil || resp.Text != "hello" {
		t.Fatalf("resp %+v, err %v; want the answer", resp, err)
	}
}

// An answer whose body is cut short is a connection failure (retried as one, and counted so),
// not a malformed answer.
func TestOpenAI_ABodyCutShortIsAConnectionFailure(t *testing.T) {
	call := answering(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, `{"id":"c1","choices":[`)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	_, err := call(context.Background(), Request{Sentence: "hi"})
	if errors.Is(err, ErrMalformedResponse) || reasonOf(err) != "connection" {
		t.Fatalf("%v (reason %q), want a connection failure", err, reasonOf(err))
	}
}

// An error answer in plain text is quoted in the error, for the log.
func TestOpenAI_AnErrorAnswerInPlainTextIsQuoted(t *testing.T) {
	call := answering(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "upstream something broke\n")
	})
	_, err := call(context.Background(), Request{Sentence: "hi"})
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 500 || !strings.Contains(err.Error(), `"upstream something broke"`) {
		t.Fatalf("%v, want the 500 with its body quoted", err)
	}
}

// A redirect within the API's origin is followed; one to another origin is not, nor a loop
// of them, and the call fails for good, saying so: before, it read as a connection failure, retried and counted
// against the breaker.
func TestOpenAI_ARedirectToAnotherOriginIsNotFollowedNorRetried(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the call went to another origin")
	}))
	defer elsewhere.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/loop/"):
			http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
		case strings.HasPrefix(r.URL.Path, "/elsewhere/"):
			http.Redirect(w, r, elsewhere.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			http.Redirect(w, r, "/v2/chat/completions", http.StatusTemporaryRedirect)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}]}`)
		}
	}))
	defer api.Close()
	call, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := call(context.Background(), Request{Sentence: "hi"}); err != nil || resp.Text != "hello" {
		t.Fatalf("a redirect within the origin: %+v, %v", resp, err)
	}
	call, err = NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/elsewhere/v1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = call(context.Background(), Request{Sentence: "hi"})
	if !errors.Is(err, ErrRedirected) || IsRetryable(err) || strings.Contains(err.Error(), "cut short") {
		t.Fatalf("a redirect to another origin: %v (retryable %v), want ErrRedirected, not retryable", err, IsRetryable(err))
	}
	// A loop of redirects within the origin is the base URL's to correct too.
	call, err = NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/loop/v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = call(context.Background(), Request{Sentence: "hi"}); !errors.Is(err, ErrRedirected) || IsRetryable(err) {
		t.Fatalf("a loop of redirects: %v (retryable %v), want ErrRedirected, not retryable", err, IsRetryable(err))
	}
}

// The OpenAI library reads OPENAI_ORG_ID, OPENAI_PROJECT_ID, OPENAI_CUSTOM_HEADERS and others
// from the environment when its client is made the usual way. A Call sends only what its
// configuration says, so that the settings the README lists are all there is.
func TestOpenAI_SendsWhatItsConfigurationSaysAndNothingFromTheEnvironment(t *testing.T) {
	t.Setenv("OPENAI_ORG_ID", "org-from-env")
	t.Setenv("OPENAI_PROJECT_ID", "proj-from-env")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Surprise: 1")
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	headers := make(chan http.Header, 2)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hello"}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	}))
	defer api.Close()
	for _, c := range []struct {
		cfg           OpenAIConfig
		org, project  string
		authorization string
	}{
		{OpenAIConfig{BaseURL: api.URL}, "", "", ""},
		{OpenAIConfig{BaseURL: api.URL, APIKey: "sk-given", Organization: "org-given", Project: "proj-given"}, "org-given", "proj-given", "Bearer sk-given"},
	} {
		call, err := NewOpenAI(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(context.Background(), Request{Sentence: "hi"}); err != nil {
			t.Fatal(err)
		}
		h := <-headers
		if got := h.Get("OpenAI-Organization"); got != c.org {
			t.Errorf("%+v: OpenAI-Organization %q, want %q", c.cfg, got, c.org)
		}
		if got := h.Get("OpenAI-Project"); got != c.project {
			t.Errorf("%+v: OpenAI-Project %q, want %q", c.cfg, got, c.project)
		}
		if got := h.Get("X-Surprise"); got != "" {
			t.Errorf("%+v: X-Surprise %q from OPENAI_CUSTOM_HEADERS, want none", c.cfg, got)
		}
		if a := h.Get("Authorization"); strings.Contains(a, "from-env") || c.authorization != "" && a != c.authorization {
			t.Errorf("%+v: Authorization %q, want %q", c.cfg, a, c.authorization)
		}
	}
}
