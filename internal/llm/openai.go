package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Defaults of OpenAIConfig.
const (
	// DefaultBaseURL is the public OpenAI API.
	DefaultBaseURL = "https://api.openai.com/v1/"
	// DefaultModel, "gpt-5.4-mini", is a current small, fast model: short replies are all
	// this needs.
	DefaultModel = openai.ChatModelGPT5_4Mini
	// DefaultMaxHistory is how many earlier turns are sent with each sentence.
	DefaultMaxHistory = 10
	// DefaultSystemPrompt makes the model the Rogerian therapist ELIZA imitated.
	DefaultSystemPrompt = "You are a warm, patient counsellor in the Rogerian tradition, the one ELIZA imitated. " +
		"Reflect back what the person says and feels, and ask one short, open question at a time. " +
		"Do not diagnose, judge or give advice. Answer in one to three plain sentences. " +
		"If the person may be in danger, gently encourage them to contact local emergency services or a crisis line."
)

// OpenAIConfig configures NewOpenAI. Zero values take the defaults named on each field.
type OpenAIConfig struct {
	// BaseURL is the API's root, such as "http://127.0.0.1:8080/v1" for a compatible server;
	// empty means DefaultBaseURL. No environment variable is consulted (OPENAI_BASE_URL and
	// the OpenAI library's others): the caller decides.
	BaseURL string
	// APIKey is sent as a bearer token. Required for DefaultBaseURL; other servers may not
	// need one.
	APIKey string
	// Model is the chat model; empty means DefaultModel.
	Model string
	// SystemPrompt opens every conversation; empty means DefaultSystemPrompt.
	SystemPrompt string
	// Organization and Project, when set, are sent as the OpenAI-Organization and
	// OpenAI-Project headers (an OpenAI account's organization and project to bill).
	Organization, Project string
	// MaxHistory is how many of the latest earlier turns are sent: 0 means
	// DefaultMaxHistory, negative means none.
	MaxHistory int
	// MaxCompletionTokens bounds each answer; 0 sends no bound (the model's default). Keep
	// it generous for reasoning models, whose hidden reasoning counts against it.
	MaxCompletionTokens int
	// HTTPClient makes the requests; nil means a client with the default transport. Its
	// CheckRedirect is not used: redirects are followed within BaseURL's origin only.
	HTTPClient *http.Client
}

// NewOpenAI returns a Call that asks a chat-completions API once per call: the system
// prompt, the latest MaxHistory turns and the sentence, in that order. The SDK's own retries
// are off: retrying is Retry's job, so that one policy sees every attempt.
//
// An error answer is a *StatusError carrying the status and headers. A 2xx answer with no
// text whose finish_reason says why (content_filter, length) wraps ErrDeclined, with the
// tokens billed; any other 2xx answer that is not a usable completion (invalid JSON, no
// choices, no text) wraps ErrMalformedResponse.
// Transport failures and context errors come back as the HTTP client reported them.
func NewOpenAI(cfg OpenAIConfig) (Call, error) {
	cfg = cfg.withDefaults()
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, req Request) (Response, error) {
		body, err := json.Marshal(cfg.request(req))
		if err != nil {
			return Response{}, fmt.Errorf("chat completion request: %w", err)
		}
		var (
			raw      *http.Response
			contents []byte
		)
		// Into bytes, whatever the Content-Type: a completion is read as JSON if it is JSON,
		// also when a proxy labels it text/plain.
		if err := client.Post(ctx, "chat/completions", body, &contents, option.WithResponseInto(&raw)); err != nil {
			if ctx.Err() != nil && (raw == nil || raw.StatusCode < http.StatusBadRequest) {
				// The call's time (Timeout) or its caller ran out: a body still coming then
				// is not malformed, it is late.
				return Response{}, fmt.Errorf("chat completion: %w", err)
			}
			return Response{}, callError(err, raw)
		}
		var cc completion
		if err := json.Unmarshal(contents, &cc); err != nil {
			return Response{}, fmt.Errorf("chat completion: %w: %w", ErrMalformedResponse, err)
		}
		return cc.answer()
	}, nil
}

// client checks cfg (its defaults taken) and returns the SDK client that asks its API.
func (cfg OpenAIConfig) client() (openai.Client, error) {
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return openai.Client{}, fmt.Errorf("model API base URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" && cfg.BaseURL == DefaultBaseURL {
		return openai.Client{}, errors.New("model API: an API key is required for the public OpenAI API")
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0),
		option.WithMiddleware(limitBody),
	}
	if cfg.Organization != "" {
		opts = append(opts, option.WithOrganization(cfg.Organization))
	}
	if cfg.Project != "" {
		opts = append(opts, option.WithProject(cfg.Project))
	}
	opts = append(opts, option.WithHTTPClient(sameOrigin(cfg.HTTPClient, cfg.BaseURL)))
	// These options alone, not openai.NewClient's: it would first take OPENAI_ORG_ID,
	// OPENAI_PROJECT_ID, OPENAI_CUSTOM_HEADERS and more from the environment, behind the
	// caller's back. Only Post and Get are used, which need nothing else of a Client.
	return openai.Client{Options: opts}, nil
}

// MaxBodyBytes is the most of an answer's body that a call reads, after decompression. An
// answer is kept to 256 KiB (transcript.MaxAnswerBytes) and JSON escapes a character in at
// most six bytes, so a body beyond this is an API gone wrong, or a compressed bomb: read
// whole, one took gigabytes of memory and ran past LLM_TIMEOUT decompressing. It fails the
// call as malformed, at this many bytes.
const MaxBodyBytes = 8 << 20

// errBodyTooLarge is what reading past MaxBodyBytes of a body returns.
var errBodyTooLarge = fmt.Errorf("%w: its body is larger than %d bytes", ErrMalformedResponse, MaxBodyBytes)

// limitBody is a middleware of the SDK that holds each answer's body to MaxBodyBytes.
func limitBody(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err == nil && res.Body != nil {
		res.Body = &limitedBody{ReadCloser: res.Body, left: MaxBodyBytes}
	}
	return res, err
}

// limitedBody reads its body until left bytes are read, then fails with errBodyTooLarge
// should there be more.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than is left shows whether the body goes on
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n, err = int(b.left), errBodyTooLarge
	}
	b.left -= int64(n)
	return n, err
}

// chatRequest is the body of a chat-completions request: the fields this package sends and
// no others. It is marshalled here rather than as the SDK's ChatCompletionNewParams, whose
// reflective encoder of every optional field of the API took a fifth of the dispatcher's CPU
// under load (BENCHMARKS.md, "Nineteenth round"); the SDK still sends it, with its headers,
// authentication and error answers.
type chatRequest struct {
	Model               string        `json:"model"`
	Messages            []chatMessage `json:"messages"`
	MaxCompletionTokens int           `json:"max_completion_tokens,omitempty"`
}

// chatMessage is one message of a chatRequest.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// completion is what this package reads of a chat completion: the first choice's text or
// refusal, and the usage. Decoded with encoding/json for the same reason as chatRequest;
// a field of another type than the API documents fails the decoding, which the caller sees as
// ErrMalformedResponse.
type completion struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// callError gives an SDK error the shape the policies read: the status and headers of an
// error answer, a connection failure for a 2xx body cut short, ErrMalformedResponse for one
// that did not decode.
func callError(err error, raw *http.Response) error {
	switch {
	case raw == nil:
		return fmt.Errorf("chat completion: %w", err)
	case raw.StatusCode >= http.StatusBadRequest:
		return &StatusError{Status: raw.StatusCode, Header: raw.Header, Err: err, Body: bodyStart(raw)}
	case errors.Is(err, ErrRedirected): // with the redirect's answer, whose body was not read
		return fmt.Errorf("chat completion: %w", err)
	case isConnection(err) && !errors.Is(err, ErrMalformedResponse):
		return fmt.Errorf("chat completion: the answer was cut short: %w", err) // retried as a connection failure
	default:
		return fmt.Errorf("chat completion: %w: %w", ErrMalformedResponse, err)
	}
}

// answer takes the text of the first choice, or its refusal: both are for the person.
func (cc *completion) answer() (Response, error) {
	if len(cc.Choices) == 0 {
		return Response{}, fmt.Errorf("chat completion %q: %w: no choices", cc.ID, ErrMalformedResponse)
	}
	c := cc.Choices[0]
	text := strings.TrimSpace(c.Message.Content)
	if text == "" {
		text = strings.TrimSpace(c.Message.Refusal)
	}
	spent := Response{PromptTokens: tokens(cc.Usage.PromptTokens), CompletionTokens: tokens(cc.Usage.CompletionTokens)}
	if text == "" && (c.FinishReason == "content_filter" || c.FinishReason == "length") {
		// Billed all the same: the tokens go with the error, to be counted.
		return spent, fmt.Errorf("chat completion %q: %w: no text (finish_reason %q)", cc.ID, ErrDeclined, c.FinishReason)
	}
	if text == "" {
		return Response{}, fmt.Errorf("chat completion %q: %w: no text (finish_reason %q)", cc.ID, ErrMalformedResponse, c.FinishReason)
	}
	spent.Text = text
	return spent, nil
}

// tokens is a token count as an API gave it, held to what a call can spend. A count below
// zero is no count: it must not lower a client's usage, nor the tokens counter (which cannot
// go down: Prometheus panics). One past 2³¹−1, which the usage columns hold, is that.
func tokens(n int) int { return min(max(n, 0), math.MaxInt32) }

// request lays out a request for the API: system prompt, recent history, sentence. A turn
// whose role is not RoleAssistant is sent as the user's; empty turns are left out.
func (cfg OpenAIConfig) request(req Request) chatRequest {
	history := cfg.recent(req.History)
	msgs := make([]chatMessage, 0, len(history)+2)
	msgs = append(msgs, chatMessage{Role: "system", Content: cfg.SystemPrompt})
	for _, t := range history {
		role := "user"
		if t.Role == RoleAssistant {
			role = "assistant"
		}
		msgs = append(msgs, chatMessage{Role: role, Content: t.Content})
	}
	msgs = append(msgs, chatMessage{Role: "user", Content: req.Sentence})
	return chatRequest{Model: cfg.Model, Messages: msgs, MaxCompletionTokens: max(cfg.MaxCompletionTokens, 0)}
}

// recent returns the non-empty turns among the latest MaxHistory of history.
func (cfg OpenAIConfig) recent(history []Turn) []Turn {
	if cfg.MaxHistory < 0 {
		return nil
	}
	history = history[max(0, len(history)-cfg.MaxHistory):]
	kept := make([]Turn, 0, len(history))
	for _, t := range history {
		if strings.TrimSpace(t.Content) != "" {
			kept = append(kept, t)
		}
	}
	return kept
}

func (cfg OpenAIConfig) withDefaults() OpenAIConfig {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.SystemPrompt == "" {
		cfg.SystemPrompt = DefaultSystemPrompt
	}
	if cfg.MaxHistory == 0 {
		cfg.MaxHistory = DefaultMaxHistory
	}
	return cfg
}

// bodyStart returns the start of an error answer's body, which the SDK has read and put
// back, for the log: what a server that answers in plain text said.
func bodyStart(raw *http.Response) string {
	if raw.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(raw.Body, maxAPIMessage+1))
	return strings.TrimSpace(string(b))
}

// ErrRedirected is the error of a call that the API redirected to another origin (scheme,
// host or port), which is not followed, or redirected ten times: the base URL needs
// correcting (OPENAI_BASE_URL), and trying again would be redirected again. Not retryable.
var ErrRedirected = errors.New("the model API redirected the call; set the base URL to where it points")

// sameOrigin returns a copy of client (nil: a new one) that follows redirects within base's
// origin only, as the SDK, which refuses the others, would too; but its refusal reads as a
// connection failure, retried and counted against the breaker.
func sameOrigin(client *http.Client, base string) *http.Client {
	c := &http.Client{}
	if client != nil {
		*c = *client
	}
	origin, _ := url.Parse(base) // NewOpenAI has checked it
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != origin.Scheme || req.URL.Host != origin.Host {
			return fmt.Errorf("%w: to another origin, %s", ErrRedirected, req.URL.Redacted())
		}
		if len(via) >= 10 {
			return fmt.Errorf("%w: ten times, the last to %s", ErrRedirected, req.URL.Redacted())
		}
		return nil
	}
	return c
}
