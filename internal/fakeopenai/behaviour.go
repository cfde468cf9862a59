package fakeopenai

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Kind is what the server does with one call.
type Kind int

// The kinds of behaviour.
const (
	// KindOK answers with a chat completion.
	KindOK Kind = iota
	// KindRateLimited answers 429 with an OpenAI rate-limit error body.
	KindRateLimited
	// KindFail answers Behaviour.Status (500 when unset) with an OpenAI error body.
	KindFail
	// KindHang never answers: it holds the request until the client gives up or the server
	// closes.
	KindHang
	// KindMalformed answers 200 with a body that is not JSON.
	KindMalformed
	// KindEmptyChoices answers 200 with a valid chat completion that has no choices.
	KindEmptyChoices
	// KindOutOfCredit answers 429 with OpenAI's insufficient_quota error body: the account is
	// out of credit, which waiting does not mend.
	KindOutOfCredit
)

// String names the kind, as in test names and logs.
func (k Kind) String() string {
	switch k {
	case KindOK:
		return "ok"
	case KindRateLimited:
		return "rate_limited"
	case KindFail:
		return "fail"
	case KindHang:
		return "hang"
	case KindMalformed:
		return "malformed"
	case KindEmptyChoices:
		return "empty_choices"
	case KindOutOfCredit:
		return "out_of_credit"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Behaviour is what the server does with one call. Build one with the functions below, or
// as a literal.
type Behaviour struct {
	Kind Kind
	// Status is the answer's status for KindFail; 0 means 500.
	Status int
	// Header is added to the answer, whatever its kind.
	Header http.Header
	// Text is the answer of a KindOK call; empty means the server's responder decides.
	Text string
}

// OK answers with the responder's text (see WithResponder).
func OK() Behaviour { return Behaviour{Kind: KindOK} }

// Reply answers with text.
func Reply(text string) Behaviour { return Behaviour{Kind: KindOK, Text: text} }

// RateLimited answers 429 asking the client to wait d: Retry-After in whole seconds
// (rounded up) and x-ratelimit-reset-requests as a Go duration ("1s", "1.5s"), with
// x-ratelimit-remaining-requests 0 — the headers OpenAI sends.
func RateLimited(d time.Duration) Behaviour {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	h.Set("x-ratelimit-reset-requests", d.String())
	h.Set("x-ratelimit-remaining-requests", "0")
	return Behaviour{Kind: KindRateLimited, Status: http.StatusTooManyRequests, Header: h}
}

// RateLimitedByProxy answers 429 as an OpenAI-compatible proxy (LiteLLM) does for a limit of
// its own: the wait only in llm_provider-retry-after (whole seconds, rounded up), with no
// Retry-After and no x-ratelimit-* headers.
func RateLimitedByProxy(d time.Duration) Behaviour {
	h := http.Header{}
	h.Set("llm_provider-retry-after", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	return Behaviour{Kind: KindRateLimited, Status: http.StatusTooManyRequests, Header: h}
}

// OutOfCredit answers 429 insufficient_quota, as OpenAI does for an account out of credit.
func OutOfCredit() Behaviour {
	return Behaviour{Kind: KindOutOfCredit, Status: http.StatusTooManyRequests}
}

// Fail answers status (such as 500, 503, 400 or 401) with an OpenAI error body.
func Fail(status int) Behaviour { return Behaviour{Kind: KindFail, Status: status} }

// Hang never answers.
func Hang() Behaviour { return Behaviour{Kind: KindHang} }

// Malformed answers 200 with invalid JSON.
func Malformed() Behaviour { return Behaviour{Kind: KindMalformed} }

// EmptyChoices answers 200 with a chat completion without choices.
func EmptyChoices() Behaviour { return Behaviour{Kind: KindEmptyChoices} }
