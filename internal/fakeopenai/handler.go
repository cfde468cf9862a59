package fakeopenai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	rec := Received{Time: time.Now(), Header: r.Header.Clone(), Authorization: r.Header.Get("Authorization")}
	body, err := io.ReadAll(r.Body)
	var req chatRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err == nil {
		rec.Model, rec.Messages = req.Model, req.messages()
	}
	b, call, latency, responder := s.next(rec, err == nil)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request.")
		return
	}
	wait := latency(call)
	if b.Kind == KindHang {
		wait = -1
	}
	if !s.wait(r.Context(), wait) {
		// The client left or the server is closing: drop the connection without an answer,
		// as a server that gave up would.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range b.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	switch b.Kind {
	case KindOK:
		text := b.Text
		if text == "" {
			text = responder(rec.LastUser())
		}
		writeJSON(w, http.StatusOK, completion(call, rec, []choice{{Message: message{Role: "assistant", Content: text}, FinishReason: "stop"}}, text))
	case KindEmptyChoices:
		writeJSON(w, http.StatusOK, completion(call, rec, []choice{}, ""))
	case KindMalformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"id": "chatcmpl-fake", "object": "chat.completion", "choices": [{"message": `)
	case KindRateLimited:
		writeError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later.")
	case KindOutOfCredit:
		writeError(w, http.StatusTooManyRequests, "insufficient_quota", "insufficient_quota",
			"You exceeded your current quota, please check your plan and billing details.")
	default:
		status := b.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, errorType(status), "", fmt.Sprintf("The fake server was told to answer %d %s.", status, http.StatusText(status)))
	}
}

// wait sleeps for d (forever when d < 0); false means the client left or the server closed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d == 0 {
		return true
	}
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type choice struct {
	Index        int     `json:"index"`
	Message      message `json:"message"`
	Logprobs     any     `json:"logprobs"`
	FinishReason string  `json:"finish_reason"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   usage    `json:"usage"`
}

// completion builds a chat.completion body; token counts are one per four bytes, at least one.
func completion(call int, rec Received, choices []choice, answer string) chatCompletion {
	model := rec.Model
	if model == "" {
		model = "fake-model"
	}
	prompt := 0
	for _, m := range rec.Messages {
		prompt += len(m.Content)
	}
	u := usage{PromptTokens: max(1, prompt/4), CompletionTokens: len(answer) / 4}
	if answer != "" {
		u.CompletionTokens = max(1, u.CompletionTokens)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return chatCompletion{
		ID:      fmt.Sprintf("chatcmpl-fake-%d", call),
		Object:  "chat.completion",
		Created: rec.Time.Unix(),
		Model:   model,
		Choices: choices,
		Usage:   u,
	}
}

func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_authentication"
	case status < 500:
		return "invalid_request_error"
	default:
		return "server_error"
	}
}

// writeError answers status with an OpenAI-style error body.
func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	body := map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nilIfEmpty(code)}}
	writeJSON(w, status, body)
}

func nilIfEmpty(s string) any {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
