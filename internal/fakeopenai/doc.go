// Package fakeopenai is a fake OpenAI-compatible chat-completions server for tests and
// benchmarks: a real HTTP server on 127.0.0.1 whose base URL can stand in for
// OPENAI_BASE_URL. It answers POST /v1/chat/completions with well-formed chat.completion
// bodies, or — as scripted, call by call — with the failures a real API produces: 429s
// carrying Retry-After and x-ratelimit-reset-requests, 500s and 503s, answers that never
// come, invalid JSON and completions without choices. Its latency, script, default
// behaviour and answers can be changed while it runs, and it records every request it
// received (time, model, messages, headers) for tests to check.
package fakeopenai
