package llm

import (
	"context"
	"errors"
	"fmt"
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
	// empty means DefaultBaseURL. The OPENAI_BASE_URL environment variable is not consulted:
	// the caller decides.
	BaseURL string
	// APIKey is sent as a bearer token. Required for DefaultBaseURL; other servers may not
	// need one.
	APIKey string
	// Model is the chat model; empty means DefaultModel.
	Model string
	// SystemPrompt opens every conversation; empty means DefaultSystemPrompt.
	SystemPrompt string
	// MaxHistory is how many of the latest earlier turns are sent: 0 means
	// DefaultMaxHistory, negative means none.
	MaxHistory int
	// MaxCompletionTokens bounds each answer; 0 sends no bound (the model's default). Keep
	// it generous for reasoning models, whose hidden reasoning counts against it.
	MaxCompletionTokens int
	// HTTPClient makes the requests; nil means the SDK's default client.
	HTTPClient *http.Client
}

// NewOpenAI returns a Call that asks a chat-completions API once per call: the system
// prompt, the latest MaxHistory turns and the sentence, in that order. The SDK's own retries
// are off: retrying is Retry's job, so that one policy sees every attempt.
//
// An error answer is a *StatusError carrying the status and headers. A 2xx answer that is
// not a usable completion (invalid JSON, no choices, no text) wraps ErrMalformedResponse.
// Transport failures and context errors come back as the HTTP client reported them.
func NewOpenAI(cfg OpenAIConfig) (Call, error) {
	cfg = cfg.withDefaults()
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("model API base URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" && cfg.BaseURL == DefaultBaseURL {
		return nil, errors.New("model API: an API key is required for the public OpenAI API")
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	client := openai.NewClient(opts...)

	return func(ctx context.Context, req Request) (Response, error) {
		params := openai.ChatCompletionNewParams{Model: cfg.Model, Messages: cfg.messages(req)}
		if cfg.MaxCompletionTokens > 0 {
			params.MaxCompletionTokens = openai.Int(int64(cfg.MaxCompletionTokens))
		}
		var raw *http.Response
		cc, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&raw))
		if err != nil {
			return Response{}, callError(err, raw)
		}
		return answer(cc)
	}, nil
}

// callError gives an SDK error the shape the policies read: the status and headers of an
// error answer, ErrMalformedResponse for a 2xx body that did not decode.
func callError(err error, raw *http.Response) error {
	switch {
	case raw == nil:
		return fmt.Errorf("chat completion: %w", err)
	case raw.StatusCode >= http.StatusBadRequest:
		return &StatusError{Status: raw.StatusCode, Header: raw.Header, Err: err}
	default:
		return fmt.Errorf("chat completion: %w: %w", ErrMalformedResponse, err)
	}
}

// answer takes the text of the first choice, or its refusal: both are for the person.
func answer(cc *openai.ChatCompletion) (Response, error) {
	if len(cc.Choices) == 0 {
		return Response{}, fmt.Errorf("chat completion %q: %w: no choices", cc.ID, ErrMalformedResponse)
	}
	c := cc.Choices[0]
	text := strings.TrimSpace(c.Message.Content)
	if text == "" {
		text = strings.TrimSpace(c.Message.Refusal)
	}
	if text == "" {
		return Response{}, fmt.Errorf("chat completion %q: %w: no text (finish_reason %q)", cc.ID, ErrMalformedResponse, c.FinishReason)
	}
	return Response{Text: text, PromptTokens: int(cc.Usage.PromptTokens), CompletionTokens: int(cc.Usage.CompletionTokens)}, nil
}

// messages lays out a request for the API: system prompt, recent history, sentence. A turn
// whose role is not RoleAssistant is sent as the user's; empty turns are left out.
func (cfg OpenAIConfig) messages(req Request) []openai.ChatCompletionMessageParamUnion {
	history := cfg.recent(req.History)
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(history)+2)
	msgs = append(msgs, openai.SystemMessage(cfg.SystemPrompt))
	for _, t := range history {
		if t.Role == RoleAssistant {
			msgs = append(msgs, openai.AssistantMessage(t.Content))
		} else {
			msgs = append(msgs, openai.UserMessage(t.Content))
		}
	}
	return append(msgs, openai.UserMessage(req.Sentence))
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
