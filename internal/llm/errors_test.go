package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/openai/openai-go/v3"
)

func TestIsRetryable_SortsErrorsIntoRetryableAndPermanent(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason string // "" means permanent
	}{
		{"nil", nil, ""},
		{"429", status(429), "429"},
		{"500", status(500), "500"},
		{"502 wrapped", fmt.Errorf("call: %w", status(502)), "502"},
		{"503", status(503), "503"},
		{"408", status(408), "408"},
		{"400", status(400), ""},
		{"401", status(401), ""},
		{"403", status(403), ""},
		{"404", status(404), ""},
		{"422", status(422), ""},
		{"per-call timeout", fmt.Errorf("%w after 1s: %w", ErrTimeout, context.DeadlineExceeded), "timeout"},
		{"deadline", context.DeadlineExceeded, "timeout"},
		{"canceled", fmt.Errorf("post: %w", context.Canceled), ""},
		{"malformed", fmt.Errorf("x: %w: no choices", ErrMalformedResponse), "malformed"},
		{"refused", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, "connection"},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), "connection"},
		{"cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), "connection"},
		{"unavailable", ErrUnavailable, ""},
		{"something else", errors.New("cannot build request"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(tt.err); got != tt.reason {
				t.Errorf("reasonOf = %q, want %q", got, tt.reason)
			}
			if got := IsRetryable(tt.err); got != (tt.reason != "") {
				t.Errorf("IsRetryable = %v", got)
			}
		})
	}
}

func TestStatusError_ExposesStatusAndHeadersThroughWrapping(t *testing.T) {
	err := fmt.Errorf("job 7: %w", status(429, "Retry-After", "3"))
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Status != 429 || se.Header.Get("Retry-After") != "3" {
		t.Fatalf("As = %v, %+v", ok, se)
	}
	var api errAPI
	if !errors.As(err, &api) {
		t.Error("the SDK's error is not reachable through StatusError")
	}
}

func TestIsRetryable_TreatsAnAccountOutOfCreditAsPermanent(t *testing.T) {
	quota := &StatusError{Status: 429, Err: &openai.Error{Code: "insufficient_quota", StatusCode: 429}}
	// LiteLLM's rewrite: its own type and code, the upstream's message quoted.
	proxied := &StatusError{Status: 429, Err: &openai.Error{Code: "429", Type: "throttling_error", StatusCode: 429,
		Message: "litellm.RateLimitError: RateLimitError: OpenAIException - You exceeded your current quota, please check your plan and billing details."}}
	limited := &StatusError{Status: 429, Err: &openai.Error{Code: "rate_limit_exceeded", StatusCode: 429}}
	if IsRetryable(quota) || isRateLimited(quota) {
		t.Error("insufficient_quota is retryable")
	}
	if IsRetryable(proxied) || isRateLimited(proxied) {
		t.Error("insufficient_quota through LiteLLM is retryable")
	}
	if !IsRetryable(limited) || !isRateLimited(limited) {
		t.Error("rate_limit_exceeded is not retryable")
	}
}

// A 400 is the request's fault (the sentence too long, a content policy) unless it names the
// process's settings: the client is then told to try again later, not that its sentence cannot
// be answered, and the operator is the one to mend it.
func TestRefusesTheRequest_TellsTheSentencesFaultFromTheSettings(t *testing.T) {
	apiErr := func(status int, e openai.Error) error {
		e.StatusCode = status
		return &StatusError{Status: status, Err: &e}
	}
	for name, err := range map[string]error{
		"LiteLLM, a model it does not serve": apiErr(400, openai.Error{Code: "400", Type: "invalid_request_error",
			Message: "/chat/completions: Invalid model name passed in model=nosuchmodel. Call `/v1/models` to view available models for your key."}),
		"LiteLLM, a key it cannot look up": apiErr(400, openai.Error{Code: "400", Type: "no_db_connection", Message: "No connected db."}),
		"a 400 naming the model":           apiErr(400, openai.Error{Type: "invalid_request_error", Param: "model", Message: "unknown model"}),
		"a 400 model_not_found":            apiErr(400, openai.Error{Code: "model_not_found"}),
		"OpenAI, an unknown model":         apiErr(404, openai.Error{Code: "model_not_found"}),
		"OpenAI, a wrong key":              apiErr(401, openai.Error{Code: "invalid_api_key"}),
		"a key without the permission":     apiErr(403, openai.Error{}),
	} {
		if RefusesTheRequest(err) || !Misconfigured(err) || IsRetryable(err) {
			t.Errorf("%s: RefusesTheRequest %v, Misconfigured %v, IsRetryable %v; want the settings' fault, not retried",
				name, RefusesTheRequest(err), Misconfigured(err), IsRetryable(err))
		}
	}
	for name, err := range map[string]error{
		"too long for the context": apiErr(400, openai.Error{Code: "context_length_exceeded", Param: "messages", Type: "invalid_request_error"}),
		"a content policy":         apiErr(400, openai.Error{Code: "content_policy_violation"}),
		"a 400 of no JSON":         status(400),
		"too large":                apiErr(413, openai.Error{}),
	} {
		if !RefusesTheRequest(err) || Misconfigured(err) {
			t.Errorf("%s: RefusesTheRequest %v, Misconfigured %v; want the request's fault", name, RefusesTheRequest(err), Misconfigured(err))
		}
	}
}
