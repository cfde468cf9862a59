package fakeopenai

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Message is one chat message as the server received it.
type Message struct {
	Role    string
	Content string
}

// Received is one chat-completions request, as the server saw it.
type Received struct {
	// Call numbers requests from 1 in the order they arrived.
	Call int
	Time time.Time
	// Model and Messages are read from the body; both are empty when it was not valid JSON.
	Model    string
	Messages []Message
	// Header holds the request headers; Authorization repeats the one that matters most.
	Header        http.Header
	Authorization string
	// Served is what the server did with it.
	Served Kind
}

// LastUser returns the content of the last user message, or "".
func (r Received) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// chatRequest is the part of a chat-completions request body the server reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

func (c chatRequest) messages() []Message {
	msgs := make([]Message, 0, len(c.Messages))
	for _, m := range c.Messages {
		msgs = append(msgs, Message{Role: m.Role, Content: contentText(m.Content)})
	}
	return msgs
}

// contentText reads a message's content: a string, or an array of parts whose text parts
// are joined.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}
