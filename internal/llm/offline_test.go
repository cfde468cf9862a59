package llm

import (
	"context"
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/eliza"
)

func TestOffline_AnswersWithNonEmptyElizaReplies(t *testing.T) {
	call := NewOffline(42)
	for _, s := range []string{"I feel sad", "My mother hates me", "", "bye", "?!"} {
		resp, err := call(context.Background(), Request{ConversationID: "c1", Sentence: s})
		if err != nil || strings.TrimSpace(resp.Text) == "" {
			t.Errorf("Reply(%q) = %q, %v", s, resp.Text, err)
		}
	}
}

func TestOffline_AnswersAsOneEngineFollowingTheConversation(t *testing.T) {
	const seed, conv = 7, "conversation-1"
	sentences := []string{"I am worried about my exams", "My father never listens", "I dream about flying", "Why do I feel this way"}

	// One engine that followed the whole conversation...
	e := eliza.New(seed ^ conversationSeed(conv))
	var want []string
	for _, s := range sentences {
		r, _ := e.Reply(s)
		want = append(want, r)
	}
	// ...answers as the stateless responder does when each job carries the turns before it.
	call := NewOffline(seed)
	var history []Turn
	for i, s := range sentences {
		resp, err := call(context.Background(), Request{ConversationID: conv, Sentence: s, History: history})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != want[i] {
			t.Errorf("turn %d: %q, want %q", i, resp.Text, want[i])
		}
		history = append(history, Turn{RoleUser, s}, Turn{RoleAssistant, resp.Text})
	}
}

func TestOffline_StopsWhenTheCallerHasGoneAway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewOffline(1)(ctx, Request{Sentence: "hello"}); err == nil {
		t.Error("answered a canceled call")
	}
}
