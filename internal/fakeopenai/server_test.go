package fakeopenai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
)

func start(t *testing.T, opts ...fakeopenai.Option) (*fakeopenai.Server, string) {
	t.Helper()
	s := fakeopenai.New(opts...)
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, base
}

const body = `{"model":"m-1","messages":[
	{"role":"system","content":"be kind"},
	{"role":"user","content":[{"type":"text","text":"earlier"}]},
	{"role":"assistant","content":"answer"},
	{"role":"user","content":"I feel tired"}]}`

type result struct {
	status int
	header http.Header
	body   []byte
}

func post(ctx context.Context, t *testing.T, base, payload string) (result, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/chat/completions", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk-test")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return result{res.StatusCode, res.Header, b}, err
}

func mustPost(t *testing.T, base string) result {
	t.Helper()
	r, err := post(context.Background(), t, base, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServer_AnswersAValidChatCompletionEchoingTheLastUserMessage(t *testing.T) {
	_, base := start(t)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/v1") {
		t.Fatalf("base URL %q, want http://127.0.0.1:PORT/v1", base)
	}
	r := mustPost(t, base)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var cc struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.body, &cc); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if cc.ID == "" || cc.Object != "chat.completion" || cc.Created == 0 || cc.Model != "m-1" {
		t.Errorf("envelope = %+v", cc)
	}
	if len(cc.Choices) != 1 || cc.Choices[0].Message.Role != "assistant" ||
		cc.Choices[0].Message.Content != "echo: I feel tired" || cc.Choices[0].FinishReason != "stop" {
		t.Errorf("choices = %+v", cc.Choices)
	}
	if cc.Usage.PromptTokens == 0 || cc.Usage.CompletionTokens == 0 ||
		cc.Usage.TotalTokens != cc.Usage.PromptTokens+cc.Usage.CompletionTokens {
		t.Errorf("usage = %+v", cc.Usage)
	}
}

func TestServer_RecordsWhatItReceived(t *testing.T) {
	s, base := start(t)
	before := time.Now()
	mustPost(t, base)
	got := s.Requests()
	if len(got) != 1 || s.Count() != 1 {
		t.Fatalf("requests = %d, count = %d, want 1", len(got), s.Count())
	}
	r := got[0]
	want := []fakeopenai.Message{
		{Role: "system", Content: "be kind"},
		{Role: "user", Content: "earlier"},
		{Role: "assistant", Content: "answer"},
		{Role: "user", Content: "I feel tired"},
	}
	if r.Call != 1 || r.Model != "m-1" || r.Authorization != "Bearer sk-test" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("received = %+v", r)
	}
	if r.Time.Before(before) || r.Served != fakeopenai.KindOK {
		t.Errorf("time %v (before %v), served %v", r.Time, before, r.Served)
	}
	if len(r.Messages) != len(want) {
		t.Fatalf("messages = %+v", r.Messages)
	}
	for i := range want {
		if r.Messages[i] != want[i] {
			t.Errorf("message %d = %+v, want %+v", i, r.Messages[i], want[i])
		}
	}
}

func TestServer_FollowsItsScriptThenTheDefault(t *testing.T) {
	s, base := start(t, fakeopenai.WithScript(
		fakeopenai.RateLimited(1500*time.Millisecond),
		fakeopenai.Fail(http.StatusInternalServerError),
		fakeopenai.Fail(http.StatusServiceUnavailable),
		fakeopenai.Fail(http.StatusUnauthorized),
		fakeopenai.Malformed(),
		fakeopenai.EmptyChoices(),
		fakeopenai.Reply("scripted"),
	))
	checks := []func(r result) string{
		func(r result) string {
			if r.status != 429 || r.header.Get("Retry-After") != "2" || r.header.Get("x-ratelimit-reset-requests") != "1.5s" ||
				!strings.Contains(string(r.body), "rate_limit_exceeded") {
				return "want 429 with Retry-After 2 and x-ratelimit-reset-requests 1.5s"
			}
			return ""
		},
		wantStatus(500), wantStatus(503), wantStatus(401),
		func(r result) string {
			if r.status != 200 || json.Valid(r.body) {
				return "want 200 with invalid JSON"
			}
			return ""
		},
		func(r result) string {
			if r.status != 200 || !bytes.Contains(r.body, []byte(`"choices":[]`)) {
				return "want 200 with empty choices"
			}
			return ""
		},
		wantContent("scripted"),
		wantContent("echo: I feel tired"),
		wantContent("echo: I feel tired"),
	}
	for i, check := range checks {
		r := mustPost(t, base)
		if msg := check(r); msg != "" {
			t.Errorf("call %d: %s; got %d %v %s", i+1, msg, r.status, r.header, r.body)
		}
	}
	if s.Count() != len(checks) || s.Served(fakeopenai.KindFail) != 3 || s.Served(fakeopenai.KindOK) != 3 {
		t.Errorf("count %d, fail %d, ok %d", s.Count(), s.Served(fakeopenai.KindFail), s.Served(fakeopenai.KindOK))
	}
}

func wantStatus(status int) func(result) string {
	return func(r result) string {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if r.status != status || json.Unmarshal(r.body, &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
			return "want an OpenAI error body with status " + http.StatusText(status)
		}
		return ""
	}
}

func wantContent(text string) func(result) string {
	return func(r result) string {
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"content":"`+text+`"`)) {
			return "want an answer " + text
		}
		return ""
	}
}

func TestServer_HangsUntilTheClientGivesUp(t *testing.T) {
	s, base := start(t, fakeopenai.WithDefault(fakeopenai.Hang()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	startAt := time.Now()
	_, err := post(ctx, t, base, body)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	if took := time.Since(startAt); took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %v", took)
	}
	if s.Served(fakeopenai.KindHang) != 1 {
		t.Errorf("hang served %d times", s.Served(fakeopenai.KindHang))
	}
}

func TestServer_CloseReleasesHangingRequests(t *testing.T) {
	s := fakeopenai.New(fakeopenai.WithDefault(fakeopenai.Hang()))
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := post(context.Background(), t, base, body)
		done <- err
	}()
	deadline := time.Now().Add(2 * time.Second)
	for s.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hanging request got an answer, want the connection dropped")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("request still hanging after Close")
	}
}

// An HTTP client may dial a connection for a request, get an idle one back first and keep the
// dialled one unused; Close must not wait for it to send a request.
func TestServer_CloseDoesNotWaitForConnectionsThatNeverSentARequest(t *testing.T) {
	s := fakeopenai.New()
	base, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(t.Context(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mustPost(t, base) // the server has accepted the silent connection by the time it answers

	startAt := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(startAt); took > 3*time.Second {
		t.Errorf("Close took %v, waiting for a connection that never sent a request", took)
	}
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read from the silent connection after Close: %v, want EOF", err)
	}
}

func TestServer_DelaysAnswersByItsLatency(t *testing.T) {
	s, base := start(t, fakeopenai.WithLatencyFunc(func(call int) time.Duration {
		return time.Duration(call) * 60 * time.Millisecond
	}))
	for _, want := range []time.Duration{60 * time.Millisecond, 120 * time.Millisecond} {
		startAt := time.Now()
		mustPost(t, base)
		if took := time.Since(startAt); took < want {
			t.Errorf("answer after %v, want at least %v", took, want)
		}
	}
	s.SetLatency(0)
	startAt := time.Now()
	mustPost(t, base)
	if took := time.Since(startAt); took > time.Second {
		t.Errorf("answer after %v with no latency", took)
	}
}

func TestServer_ChangesBehaviourSafelyWhileServing(t *testing.T) {
	s, base := start(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := post(context.Background(), t, base, body); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			switch i % 4 {
			case 0:
				s.SetDefault(fakeopenai.Reply("changed"))
			case 1:
				s.SetResponder(strings.ToUpper)
			case 2:
				s.SetScript(fakeopenai.Fail(500))
			default:
				s.SetLatency(time.Millisecond)
			}
			_ = s.Requests()
		})
	}
	wg.Wait()
	if s.Count() != 20 || len(s.Requests()) != 20 {
		t.Errorf("count %d, requests %d, want 20", s.Count(), len(s.Requests()))
	}
	s.Reset()
	if s.Count() != 0 || len(s.Requests()) != 0 {
		t.Errorf("after Reset: count %d", s.Count())
	}
}

func TestServer_UsesTheConfiguredResponder(t *testing.T) {
	_, base := start(t, fakeopenai.WithResponder(func(s string) string { return "you said " + s }))
	if msg := wantContent("you said I feel tired")(mustPost(t, base)); msg != "" {
		t.Error(msg)
	}
}

func TestServer_RejectsInvalidRequestsAndUnknownPaths(t *testing.T) {
	s, base := start(t, fakeopenai.WithScript(fakeopenai.Reply("first valid call")))
	r, err := post(context.Background(), t, base, "{not json")
	if err != nil {
		t.Fatal(err)
	}
	if msg := wantStatus(400)(r); msg != "" {
		t.Error(msg)
	}
	res, err := http.Get(base + "/models")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/models: %d, want 404", res.StatusCode)
	}
	if s.Count() != 1 || s.Served(fakeopenai.KindFail) != 1 {
		t.Errorf("count %d, want 1 (the invalid chat request, failed)", s.Count())
	}
	if msg := wantContent("first valid call")(mustPost(t, base)); msg != "" {
		t.Errorf("an invalid request used up a step of the script: %s", msg)
	}
}
