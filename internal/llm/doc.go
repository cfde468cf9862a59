// Package llm asks a chat model to answer a queued conversation sentence, and holds the
// policies that sit between the queue and the model. It knows nothing of Kafka or RPC: a
// job is a Request, an answer a Response, and everything is a Call — a function that asks
// once — wrapped in Middleware, one small policy each.
//
// Models: NewOpenAI asks an OpenAI-compatible chat-completions API through the official SDK,
// with the SDK's own retries off; NewOffline answers with the project's ELIZA engine when
// no API is configured.
//
// Policies, and the order NewPolicy chains them in, outermost first:
//
//	Retry → Breaker → RateLimit → Instrument → Timeout → model
//
// Why this order:
//
//   - Retry is outermost because every attempt must go through all the others: each is let
//     through and counted by the breaker, spaced by the rate limiter, measured and timed out
//     on its own. Its backoff sleeps hold no limiter token and no probe slot.
//   - Breaker comes next so that it counts every attempt (a 5xx, a timeout or a dropped
//     connection is a failure; a 4xx a success, as the API answered; a 429 neither, as it
//     is the rate limit's business), and so that a job that finds it open waits before its
//     attempt starts — the wait uses no attempt, no limiter token and no per-call timeout.
//     The wait is bounded by the job's age (Request.EnqueuedAt plus MaxJobAge), which is
//     absolute, so a job gives up at the same moment whichever attempt it is on: with
//     ErrUnavailable, which Retry passes on untouched.
//   - RateLimit is inside the breaker so that only calls about to be sent spend the budget:
//     jobs parked at an open breaker hold no tokens, and when it closes they leave at the
//     limiter's pace rather than all at once.
//   - Instrument and Timeout are innermost so that the duration measured and bounded is the
//     HTTP call alone, not the waits for the limiter or the breaker.
//
// Errors: the API's error answers are *StatusError (status and headers); IsRetryable sorts
// errors into retryable (408, 429, 5xx, per-call timeouts, connection failures, malformed
// answers) and permanent (other 4xx, answers declined for their content or length
// (ErrDeclined), cancellation, ErrUnavailable). A job that failed ends in
// ErrUnavailable, whose message is the one the client should see, or in a *RetryError that
// says how many attempts were made and wraps the last error (and ErrExhausted when
// retryable failures outlasted the attempts).
package llm
