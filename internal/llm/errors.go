package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/openai/openai-go/v3"
)

// StatusError is an error answer of the model API: its HTTP status and headers (Retry-After,
// x-ratelimit-reset-requests, ...) for the retry policy, and the SDK's error (an
// *openai.Error when the body could be read) for the message.
type StatusError struct {
	Status int
	Header http.Header
	Err    error
	// Body is the start of the answer's body, said when it was not an API error of JSON.
	Body string
}

// Error says the status and what the API said: its error's message, type and code when the
// body had them (the SDK's own text says only the status again). Never the request: the
// SDK's error keeps it, with the API key in its headers.
func (e *StatusError) Error() string {
	head := fmt.Sprintf("model API answered %d %s", e.Status, http.StatusText(e.Status))
	ae, ok := errors.AsType[*openai.Error](e.Err)
	if !ok || (ae.Message == "" && ae.Type == "" && ae.Code == "") {
		if e.Body != "" {
			return fmt.Sprintf("%s: %q", head, clip(redactKeys(e.Body), maxAPIMessage))
		}
		return fmt.Sprintf("%s: %v", head, e.Err)
	}
	var detail []string
	if ae.Message != "" {
		detail = append(detail, fmt.Sprintf("%q", clip(redactKeys(ae.Message), maxAPIMessage)))
	}
	if ae.Type != "" {
		detail = append(detail, "type "+clip(ae.Type, maxAPIMessage))
	}
	if ae.Code != "" {
		detail = append(detail, "code "+clip(ae.Code, maxAPIMessage))
	}
	return head + ": " + strings.Join(detail, ", ")
}

// maxAPIMessage bounds how much of the API's own message goes into logs and dead letters.
const maxAPIMessage = 300

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// apiKeyLike matches OpenAI-style secret keys, which some error messages quote (usually
// masked already; this makes sure).
var apiKeyLike = regexp.MustCompile(`sk-[A-Za-z0-9_\-]{8,}`)

func redactKeys(s string) string { return apiKeyLike.ReplaceAllString(s, "sk-[redacted]") }

// apiErrorLabels returns the API error's type and code as bounded metric label values:
// lowercase identifiers of at most 40 characters, "other" for anything else, "" when absent.
func apiErrorLabels(err error) (typ, code string) {
	ae, ok := errors.AsType[*openai.Error](err)
	if !ok {
		return "", ""
	}
	return labelValue(ae.Type), labelValue(ae.Code)
}

var labelLike = regexp.MustCompile(`^[a-z0-9_.]{1,40}$`)

func labelValue(s string) string {
	switch {
	case s == "":
		return ""
	case labelLike.MatchString(s):
		return s
	default:
		return "other"
	}
}

// Unwrap returns the SDK's error.
func (e *StatusError) Unwrap() error { return e.Err }

// ErrMalformedResponse means the API answered 2xx with a body that is not a usable chat
// completion: invalid JSON, no choices, or no text without a reason (see ErrDeclined). It is
// retryable: such answers come from overloaded proxies and truncated connections more often
// than from a steady bug.
var ErrMalformedResponse = errors.New("malformed model response")

// ErrDeclined means the API answered 2xx with no text and said why: its content filter
// stopped the answer (finish_reason "content_filter", as Azure OpenAI and filtering proxies
// answer a flagged prompt), or the token limit ran out before any text ("length", a
// reasoning model's thinking spent it). The same request gets the same answer: it is not
// retried, not a failure of the API for the breaker, and the client is told the sentence
// cannot be answered (RefusesTheRequest). Taken as malformed and retried, two such sentences
// opened the breaker for every conversation, again at each cool-down.
var ErrDeclined = errors.New("the model gave no answer to this request")

// ErrTimeout means one call took longer than its per-call timeout (see Timeout). It is
// retryable; the caller's own deadline ending is not (the caller has given up).
var ErrTimeout = errors.New("model call timed out")

// RefusesTheRequest reports whether err is the API refusing the request itself (400, 413,
// 422: too long for the model's context, a content policy; or ErrDeclined), which asking
// again later does not mend, as against its key, its credit, its configuration (a 404: an
// unknown model or base URL, which the operator mends; see Misconfigured) or its health.
func RefusesTheRequest(err error) bool {
	if errors.Is(err, ErrDeclined) {
		return true
	}
	se, ok := errors.AsType[*StatusError](err)
	if !ok || Misconfigured(err) {
		return false
	}
	switch se.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Misconfigured reports whether err is the API refusing what the process was configured with
// (OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL) rather than anything a request says: a 401
// or 403 (the key), a 404 (the model or the base URL), or a 400 that says so. A proxy answers
// 400 where OpenAI answers 404 or 401: LiteLLM says "Invalid model name passed in model=…"
// for a model it does not serve, and, when it has no database of keys, "No connected db."
// (type no_db_connection) for a key it does not know; others name the model parameter, or
// model_not_found. Taken for the sentence's fault, every client was told that their sentence
// could not be answered, each sentence in turn.
func Misconfigured(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		return false
	}
	switch se.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	case http.StatusBadRequest:
		ae, ok := errors.AsType[*openai.Error](se.Err)
		if !ok {
			return false
		}
		return ae.Param == "model" || ae.Code == "model_not_found" || ae.Type == "model_not_found" ||
			ae.Type == "no_db_connection" || strings.Contains(ae.Message, "Invalid model name")
	}
	return false
}

// KeyRefused reports whether err is the API saying that it does not take the key at all, for
// every call: OpenAI's code invalid_api_key, LiteLLM's auth_error and no_db_connection (a
// proxy without a database of keys knows none). A 401 or 403 that says neither may be a key
// allowed some calls and not others (OpenAI's restricted keys: the list of models refused,
// chat completions answered).
func KeyRefused(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	if !ok {
		return false
	}
	ae, ok := errors.AsType[*openai.Error](se.Err)
	if !ok {
		return false
	}
	return ae.Code == "invalid_api_key" || ae.Type == "auth_error" || ae.Type == "no_db_connection"
}

// IsRetryable reports whether trying the same request again may succeed: 408, 429 and 5xx
// answers, per-call timeouts, connection failures and malformed answers. Everything else —
// other 4xx answers (bad request, bad key, unknown model), a 429 whose code is
// "insufficient_quota" (the account is out of credit), cancellation, ErrUnavailable — is
// permanent.
func IsRetryable(err error) bool {
	return reasonOf(err) != ""
}

// reasonOf names why err is retryable, for the llm_retries_total label: the HTTP status
// ("429", "503"), "timeout", "connection" or "malformed"; "" when it is not retryable.
func reasonOf(err error) string {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return ""
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		if se.Status == http.StatusTooManyRequests && outOfCredit(se) {
			return "" // the account is out of credit: waiting will not help
		}
		if se.Status == http.StatusRequestTimeout || se.Status == http.StatusTooManyRequests || se.Status >= 500 {
			return strconv.Itoa(se.Status)
		}
		return ""
	}
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, ErrRedirected):
		return ""
	case errors.Is(err, ErrMalformedResponse):
		return "malformed"
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "timeout"
	}
	if isConnection(err) {
		return "connection"
	}
	return ""
}

// outOfCredit reports a 429 that says the account is out of credit: OpenAI's code or type
// insufficient_quota, or its message for it, which is all a proxy may pass on (LiteLLM
// answers its own "throttling_error", code 429, quoting the upstream's message).
func outOfCredit(se *StatusError) bool {
	ae, ok := errors.AsType[*openai.Error](se.Err)
	if !ok {
		return false
	}
	return ae.Code == "insufficient_quota" || ae.Type == "insufficient_quota" ||
		strings.Contains(ae.Message, "insufficient_quota") || strings.Contains(ae.Message, "exceeded your current quota")
}

// isRateLimited reports a 429 that asks the client to slow down (rather than one that says
// the account is out of credit).
func isRateLimited(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && se.Status == http.StatusTooManyRequests && reasonOf(err) != ""
}

// isConnection reports transport failures: refused or reset connections, a body cut short,
// and whatever else the HTTP client reports as a *url.Error.
func isConnection(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	_, ok := errors.AsType[*url.Error](err)
	return ok
}
