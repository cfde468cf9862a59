package llm

import (
	"context"
	"time"
)

// Roles of a Turn, as the chat-completions API names them.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Turn is one earlier sentence (RoleUser) or answer (RoleAssistant) of a conversation.
type Turn struct {
	Role    string
	Content string
}

// Request is one job for the model: a sentence and the conversation so far.
type Request struct {
	JobID          string
	ConversationID string
	// Sentence is what the person just said; it is answered.
	Sentence string
	// History holds the earlier turns, oldest first. The model sees only the most recent
	// OpenAIConfig.MaxHistory of them.
	History []Turn
	// EnqueuedAt is when the job entered the queue. It bounds how long the job may wait for
	// an open breaker (BreakerConfig.MaxJobAge); zero means "now" (see NewPolicy).
	EnqueuedAt time.Time
}

// Response is the model's answer to a Request.
type Response struct {
	Text string
	// Token counts as the API reported them; zero when it did not (the offline responder).
	PromptTokens, CompletionTokens int
}

// Call asks the model once, or — once wrapped in middleware — applies a policy around asking.
// With an error, the Response has no Text, and has the tokens only of an answer the API
// billed and that cannot be used (ErrDeclined), so that they are counted all the same.
type Call func(ctx context.Context, req Request) (Response, error)

// Middleware wraps a Call in one policy (timeout, retries, rate limit, breaker, metrics).
type Middleware func(Call) Call

// Chain wraps c in mws. The first middleware is the outermost: Chain(c, a, b) runs a, then b,
// then c. Nil middlewares are skipped, so a disabled policy can simply be left out.
func Chain(c Call, mws ...Middleware) Call {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			c = mws[i](c)
		}
	}
	return c
}

// passThrough is the middleware of a disabled policy.
func passThrough(next Call) Call { return next }
