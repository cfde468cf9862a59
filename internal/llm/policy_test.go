package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
)

// fastPolicy keeps backoffs short so that the tests spend their time only where they mean to.
func fastPolicy(cfg PolicyConfig) PolicyConfig {
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffCap == 0 {
		cfg.BackoffCap = 5 * time.Millisecond
	}
	return cfg
}

func TestPolicy_AnswersOverHTTP(t *testing.T) {
	m := newTestMetrics(t)
	_, model := fake(t, OpenAIConfig{})
	resp, err := NewPolicy(model, PolicyConfig{}, m)(context.Background(), Request{Sentence: "hello"})
	if err != nil || resp.Text != "echo: hello" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if got := testutil.ToFloat64(m.calls.WithLabelValues(OutcomeOK)); got != 1 {
		t.Errorf("llm_calls_total{outcome=ok} = %v", got)
	}
	if got := testutil.ToFloat64(m.tokens.WithLabelValues("prompt")); got != float64(resp.PromptTokens) || got == 0 {
		t.Errorf("llm_tokens_total{kind=prompt} = %v, want %d", got, resp.PromptTokens)
	}
}

func TestPolicy_RetriesOnceAfterTheRetryAfterOfA429(t *testing.T) {
	m := newTestMetrics(t)
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.RateLimited(time.Second)))
	start := time.Now()
	resp, err := NewPolicy(model, PolicyConfig{}, m)(context.Background(), Request{Sentence: "hello"})
	if err != nil || resp.Text != "echo: hello" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("answered after %v, want at least the 1s the server asked for", took)
	}
	if s.Count() != 2 {
		t.Errorf("server saw %d requests, want 2 (one retry)", s.Count())
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("429")); got != 1 {
		t.Errorf("llm_retries_total{reason=429} = %v, want 1", got)
	}
}

// Behind a proxy whose model-level limit sends only llm_provider-retry-after, the wait is
// honoured just the same: the header reaches the policy through the OpenAI SDK.
func TestPolicy_HonoursAProxysRetryAfter(t *testing.T) {
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.RateLimitedByProxy(time.Second)))
	start := time.Now()
	resp, err := NewPolicy(model, PolicyConfig{}, nil)(context.Background(), Request{Sentence: "hello"})
	if err != nil || resp.Text != "echo: hello" || s.Count() != 2 {
		t.Fatalf("got %+v, %v after %d requests; want the answer on the second", resp, err, s.Count())
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("answered after %v, want at least the 1s the proxy asked for", took)
	}
}

func TestPolicy_RetriesMalformedAnswers(t *testing.T) {
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.Malformed(), fakeopenai.EmptyChoices()))
	resp, err := NewPolicy(model, fastPolicy(PolicyConfig{}), nil)(context.Background(), Request{Sentence: "hello"})
	if err != nil || resp.Text != "echo: hello" || s.Count() != 3 {
		t.Errorf("got %+v, %v after %d requests; want an answer on the third", resp, err, s.Count())
	}
}

func TestPolicy_TimesOutAHangingCallAndRetries(t *testing.T) {
	m := newTestMetrics(t)
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.Hang()))
	start := time.Now()
	resp, err := NewPolicy(model, fastPolicy(PolicyConfig{Timeout: 200 * time.Millisecond}), m)(context.Background(), Request{Sentence: "hello"})
	if err != nil || resp.Text != "echo: hello" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("answered after %v, want just over the 200ms timeout", took)
	}
	if s.Count() != 2 || s.Served(fakeopenai.KindHang) != 1 {
		t.Errorf("server saw %d requests", s.Count())
	}
	if got := testutil.ToFloat64(m.calls.WithLabelValues(OutcomeTimeout)); got != 1 {
		t.Errorf("llm_calls_total{outcome=timeout} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("timeout")); got != 1 {
		t.Errorf("llm_retries_total{reason=timeout} = %v, want 1", got)
	}
}

func TestPolicy_MakesExactlyMaxAttemptsAgainstAnAPIThatAlwaysFails(t *testing.T) {
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithDefault(fakeopenai.Fail(500)))
	_, err := NewPolicy(model, fastPolicy(PolicyConfig{MaxAttempts: 3}), nil)(context.Background(), Request{Sentence: "hello"})
	if s.Count() != 3 {
		t.Errorf("server saw %d requests, want 3: the SDK's own retries must be off", s.Count())
	}
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("err = %v", err)
	}
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 500 {
		t.Errorf("err = %v, want the last 500 inside", err)
	}
}

func TestPolicy_DoesNotRetryPermanentErrors(t *testing.T) {
	for _, code := range []int{400, 401} {
		s, model := fake(t, OpenAIConfig{}, fakeopenai.WithDefault(fakeopenai.Fail(code)))
		_, err := NewPolicy(model, fastPolicy(PolicyConfig{}), nil)(context.Background(), Request{Sentence: "hello"})
		if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != code || s.Count() != 1 {
			t.Errorf("%d: err = %v after %d requests, want one request", code, err, s.Count())
		}
	}
}

func TestPolicy_JobsWaitForTheBreakerThenGetAnswersOrUnavailable(t *testing.T) {
	m := newTestMetrics(t)
	s, model := fake(t, OpenAIConfig{}, fakeopenai.WithDefault(fakeopenai.Fail(503)))
	call := NewPolicy(model, fastPolicy(PolicyConfig{
		MaxAttempts:     2,
		BreakerFailures: 2,
		BreakerCooldown: 300 * time.Millisecond,
		MaxJobAge:       200 * time.Millisecond,
	}), m)

	// Two failed attempts open the breaker.
	if _, err := call(context.Background(), Request{Sentence: "one"}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v, want exhausted retries", err)
	}
	// A job that cannot wait out the cool-down (it may wait 200ms of the 300ms) is told the
	// assistant is unavailable.
	_, err := call(context.Background(), Request{Sentence: "two", EnqueuedAt: time.Now()})
	var ue interface{ UserMessage() string }
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.UserMessage() != "the assistant is unavailable, please try again later" {
		t.Fatalf("err = %v, want ErrUnavailable, for the client \"the assistant is unavailable, please try again later\"", err)
	}
	// The API recovers; the next job, enqueued 200ms after the breaker opened, can wait
	// until it half-opens at 300ms, and is answered.
	s.SetDefault(fakeopenai.OK())
	resp, err := call(context.Background(), Request{Sentence: "three", EnqueuedAt: time.Now()})
	if err != nil || resp.Text != "echo: three" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	if s.Count() != 3 {
		t.Errorf("server saw %d requests, want 3 (none while the breaker was open)", s.Count())
	}
	if got := testutil.ToFloat64(m.unavailable); got != 1 {
		t.Errorf("llm_jobs_unavailable_total = %v, want 1", got)
	}
}

func TestPolicy_SharesOneLimiterAmongItsCallers(t *testing.T) {
	c := newClock()
	limit := RateLimit(fakeLimit(c, RateLimitConfig{RPM: 60}))
	_, model := fake(t, OpenAIConfig{})
	call := Chain(model, limit)
	for range 3 {
		if _, err := call(context.Background(), Request{Sentence: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.waits()) != 2 {
		t.Errorf("waits = %v, want two (burst of one)", c.waits())
	}
}

func TestPolicyConfig_ValidateNamesTheBadField(t *testing.T) {
	if err := (PolicyConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := PolicyConfig{BreakerCooldown: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "BreakerCooldown") {
		t.Errorf("err = %v, want it to name BreakerCooldown", err)
	}
}

// An error answer carries the API's own message, type and code into the error (and so into
// the log and the dead letter's reason), and its type and code into llm_api_errors_total.
func TestPolicy_KeepsTheAPIsErrorDetail(t *testing.T) {
	m := newTestMetrics(t)
	_, model := fake(t, OpenAIConfig{}, fakeopenai.WithScript(fakeopenai.RateLimited(time.Millisecond), fakeopenai.Fail(400)))
	_, err := NewPolicy(model, fastPolicy(PolicyConfig{}), m)(context.Background(), Request{Sentence: "a secret sentence"})
	msg := fmt.Sprint(err)
	if !strings.Contains(msg, `"The fake server was told to answer 400 Bad Request."`) || !strings.Contains(msg, "type invalid_request_error") ||
		strings.Contains(msg, "a secret sentence") || strings.Contains(msg, "test-key") {
		t.Fatalf("error %q: want the API's message and type, and neither the request nor the key", msg)
	}
	if got := counterValue(t, m.apiErrors.WithLabelValues("429", "requests", "rate_limit_exceeded")); got != 1 {
		t.Errorf(`llm_api_errors_total{status="429",type="requests",code="rate_limit_exceeded"} = %v, want 1`, got)
	}
	if got := counterValue(t, m.apiErrors.WithLabelValues("400", "invalid_request_error", "")); got != 1 {
		t.Errorf(`llm_api_errors_total{status="400",type="invalid_request_error",code=""} = %v, want 1`, got)
	}
	if labelValue("Rate limit: RPM limit=5, current usage=6") != "other" || labelValue("rate_limit_exceeded") != "rate_limit_exceeded" {
		t.Error("label values are not bounded")
	}
	if got := redactKeys("Incorrect API key provided: sk-proj-abcdefghijklmnop."); strings.Contains(got, "abcdefgh") {
		t.Errorf("redactKeys left a key: %q", got)
	}
}

// An answer with no text whose finish_reason says why (the content filter stopped it, or the
// token limit ran out first) is what the same request gets again: it is not retried, the
// client is told the sentence cannot be answered, and however many there are the breaker
// stays closed for everyone else's sentences. Taken as malformed, each was asked four times
// and two of them opened the breaker.
func TestPolicy_AnAnswerDeclinedIsNotRetriedAndDoesNotOpenTheBreaker(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var body struct{ Messages []struct{ Content string } }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) == 0 {
			t.Errorf("request body: %v", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch body.Messages[len(body.Messages)-1].Content {
		case "flagged":
			_, _ = io.WriteString(w, `{"id":"c1","choices":[{"message":{"content":null},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}`)
		case "long":
			_, _ = io.WriteString(w, `{"id":"c2","choices":[{"message":{"content":""},"finish_reason":"length"}]}`)
		default:
			_, _ = io.WriteString(w, `{"id":"c3","choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}`)
		}
	}))
	defer api.Close()
	model, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	m := newTestMetrics(t)
	call := NewPolicy(model, fastPolicy(PolicyConfig{BreakerFailures: 2}), m)
	for _, sentence := range []string{"flagged", "long", "flagged", "long"} {
		resp, err := call(t.Context(), Request{Sentence: sentence})
		if !errors.Is(err, ErrDeclined) || !RefusesTheRequest(err) {
			t.Errorf("%q: %v, want ErrDeclined, a refusal of the request", sentence, err)
		}
		// What the API billed comes with the error, to be counted against the client.
		if sentence == "flagged" && (resp != Response{PromptTokens: 7, CompletionTokens: 3}) {
			t.Errorf("%q: %+v with the error, want the tokens billed and no text", sentence, resp)
		}
	}
	if got := testutil.ToFloat64(m.tokens.WithLabelValues("prompt")); got != 14 {
		t.Errorf("llm_tokens_total{kind=prompt} = %v, want the 14 billed for the two flagged", got)
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("%d requests for 4 sentences, want one each: not retried", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if resp, err := call(ctx, Request{Sentence: "hello"}); err != nil || resp.Text != "fine" {
		t.Fatalf("another sentence after them: %+v, %v; want it answered at once", resp, err)
	}
	if state := testutil.ToFloat64(m.breakerState); state != 0 {
		t.Errorf("llm_breaker_state = %v, want 0: closed", state)
	}
}

// A body that is still coming when the call's time runs out is late, not malformed: the error
// says it timed out, and nothing else.
func TestPolicy_ABodyCutByTheTimeoutIsATimeoutNotMalformed(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","choices":[{"message":{"content":"hel`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer api.Close()
	model, err := NewOpenAI(OpenAIConfig{BaseURL: api.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	m := newTestMetrics(t)
	_, err = NewPolicy(model, fastPolicy(PolicyConfig{Timeout: 100 * time.Millisecond, MaxAttempts: 2}), m)(t.Context(), Request{Sentence: "hello"})
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), "malformed") {
		t.Fatalf("err = %v, want a timeout, not a malformed answer", err)
	}
	if got := testutil.ToFloat64(m.retries.WithLabelValues("timeout")); got != 1 {
		t.Errorf("llm_retries_total{reason=timeout} = %v, want 1", got)
	}
}
