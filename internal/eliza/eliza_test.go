package eliza_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/beacon/eventdispatch/internal/eliza"
)

// seeds is a spread of seeds; behaviour that must not depend on random
// choices is checked under all of them.
var seeds = []uint64{0, 1, 2, 3, 7, 42, 99, 1234, 1 << 40, ^uint64(0)}

func TestReply_EndsConversationOnGoodbyeWords(t *testing.T) {
	for _, in := range []string{
		"bye", "goodbye", "exit", "quit",
		"Bye!", "  QUIT.", "goodbye...", "EXIT", "GoodBye?!",
		"\tquit\n", "bye :)", "bye \u2026", "Exit !!!",
	} {
		t.Run(in, func(t *testing.T) {
			reply, end := eliza.New(1).Reply(in)
			if !end {
				t.Errorf("Reply(%q) end = false, want true", in)
			}
			if strings.TrimSpace(reply) == "" {
				t.Errorf("Reply(%q) gave an empty goodbye", in)
			}
		})
	}
}

// A goodbye word only ends the conversation when it is the whole
// sentence; sentences that merely contain one are answered normally.
func TestReply_DoesNotEndWhenGoodbyeWordIsPartOfASentence(t *testing.T) {
	for _, in := range []string{
		"bye-bye from me", "bye bye", "goodbye cruel world",
		"I want to quit my job", "where is the exit", "byebye",
		"quitting", "say bye", "...bye", "bye, Eliza", "exit.quit",
	} {
		t.Run(in, func(t *testing.T) {
			reply, end := eliza.New(1).Reply(in)
			if end {
				t.Errorf("Reply(%q) end = true, want false (reply %q)", in, reply)
			}
			if strings.TrimSpace(reply) == "" {
				t.Errorf("Reply(%q) gave an empty reply", in)
			}
		})
	}
}

func TestReply_ReflectsPronouns(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		notWant string
	}{
		{"I am sad about my job", "your job", "my job"},
		{"I'm worried about my exams.", "worried about your exams", "my exams"},
		{"I feel that you ignore me", "I ignore you", "you ignore me"},
		{"My mother is always busy", "your mother", "my mother"},
		{"You are very patient", "I am very patient", "you are very"},
		{"I can't sleep at night", "sleep at night", "can't"},
		{"I need to quit my job", "quit your job", "my job"},
		{"I wish I was rich", "you were rich", "I was"},
		{"I think you're lying to me", "I am lying to you", "to me"},
		{"I remember my first dog", "your first dog", "my first"},
	}
	for _, tt := range tests {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.in, seed), func(t *testing.T) {
				reply, _ := eliza.New(seed).Reply(tt.in)
				if !strings.Contains(reply, tt.want) {
					t.Errorf("Reply(%q) = %q, want it to contain %q", tt.in, reply, tt.want)
				}
				if strings.Contains(reply, tt.notWant) {
					t.Errorf("Reply(%q) = %q, want it not to contain %q", tt.in, reply, tt.notWant)
				}
			})
		}
	}
}

var script = []string{
	"Hello there", "I am sad about my job", "My mother never calls",
	"Why don't you help me?", "Hmm.", "ok", "I dreamed about robots",
	"You are a machine", "Because I said so", "maybe", "Hmm.", "Well.",
	"I want a holiday", "What should I do?", "yes", "no", "Sorry",
}

func converse(e *eliza.Engine) []string {
	var out []string
	for _, s := range script {
		r, _ := e.Reply(s)
		out = append(out, r)
	}
	return append(out, e.Introduce("Ada")...)
}

func TestReply_SameSeedGivesSameConversation(t *testing.T) {
	for _, seed := range seeds {
		a, b := converse(eliza.New(seed)), converse(eliza.New(seed))
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("seed %d: conversations differ:\n%q\n%q", seed, a, b)
		}
	}
}

func TestReply_DifferentSeedsVaryTheWording(t *testing.T) {
	a, b := converse(eliza.New(1)), converse(eliza.New(2))
	if strings.Join(a, "\n") == strings.Join(b, "\n") {
		t.Errorf("seeds 1 and 2 produced identical conversations: %q", a)
	}
}

func TestReply_ZeroValueEngineBehavesLikeSeedZero(t *testing.T) {
	var zero eliza.Engine
	a, b := converse(&zero), converse(eliza.New(0))
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("zero Engine differs from New(0):\n%q\n%q", a, b)
	}
}

func TestReply_AnswersEverySentenceWithNonEmptyText(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank", "   \t\n "},
		{"only punctuation", "?!?!...,;:"},
		{"apostrophes", "''' ' ''"},
		{"ellipsis", "\u2026"},
		{"chinese", "\u4f60\u597d\u4e16\u754c"},
		{"emoji", "\U0001F600\U0001F600 \U0001F44B"},
		{"accents", "J'ai \u00e9t\u00e9 tr\u00e8s fatigu\u00e9"},
		{"invalid utf8", "\xff\xfe\x00 my \xc3"},
		{"control chars", "\x00\x01\x1b[31m"},
		{"lone I", "I"},
		{"lone my", "my"},
		{"lone you", "you"},
		{"I am", "I am"},
		{"can not", "I can not"},
		{"greeting", "Hi!"},
		{"question", "What is the meaning of life?"},
		{"dream", "I had a strange dream"},
		{"machine", "Are computers smart?"},
		{"always", "People always leave"},
		{"alike", "All people are alike"},
		{"if", "What if I fail?"},
		{"plain", "The weather is nice today"},
		{"long", strings.Repeat("I am tired and my feet hurt, ", 5000)},
		{"long word", strings.Repeat("a", 100000)},
		{"many clauses", strings.Repeat("you me. ", 20000)},
		{"many yous", strings.Repeat("you ", 20000) + "me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, end := eliza.New(5).Reply(tt.in)
			checkReply(t, tt.in, reply)
			if end {
				t.Errorf("Reply(%q) ended the conversation", tt.in)
			}
			if len(reply) > 400 {
				t.Errorf("Reply(%q) is %d bytes long, want a short reply", tt.in, len(reply))
			}
		})
	}
}

func TestReply_ASCIIInputGetsASCIIReply(t *testing.T) {
	e := eliza.New(3)
	for _, s := range append(script, "I am bored", "you hate me", "bye") {
		reply, _ := e.Reply(s)
		for _, r := range reply {
			if r > 0x7e || (r < 0x20) {
				t.Errorf("Reply(%q) = %q contains non-ASCII rune %q", s, reply, r)
			}
		}
	}
}

func TestReply_ReturnsToEarlierTopics(t *testing.T) {
	for _, seed := range seeds {
		e := eliza.New(seed)
		e.Reply("My dog ran away.")
		found := false
		for range 20 {
			if r, _ := e.Reply("Hmm."); strings.Contains(r, "your dog") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("seed %d: never came back to the dog", seed)
		}
	}
}

func TestIntroduce_DefaultsToFriendForBlankName(t *testing.T) {
	for _, name := range []string{"", "   ", "\t\n", "!!!", "\x00"} {
		lines := eliza.New(1).Introduce(name)
		checkIntro(t, name, lines)
		if !strings.Contains(lines[0], "friend") {
			t.Errorf("Introduce(%q)[0] = %q, want it to greet %q", name, lines[0], "friend")
		}
	}
}

func TestIntroduce_AddressesTheGivenName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Ada", "Ada"},
		{"  Grace   Hopper ", "Grace Hopper"},
		{"O'Brien", "O'Brien"},
		{"Jos\u00e9", "Jos\u00e9"},
		{"Bob\x00<script>", "Bobscript"},
	}
	for _, tt := range tests {
		lines := eliza.New(1).Introduce(tt.in)
		checkIntro(t, tt.in, lines)
		if !strings.Contains(lines[0], tt.want) {
			t.Errorf("Introduce(%q)[0] = %q, want it to contain %q", tt.in, lines[0], tt.want)
		}
	}
	if long := eliza.New(1).Introduce(strings.Repeat("x", 10000)); len(long[0]) > 200 {
		t.Errorf("Introduce with a huge name gave a %d-byte line", len(long[0]))
	}
}

func TestReply_IsSafeForConcurrentUse(t *testing.T) {
	e := eliza.New(9)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 200 {
				s := script[(g+i)%len(script)]
				if r, _ := e.Reply(s); r == "" {
					t.Errorf("Reply(%q) empty under concurrency", s)
					return
				}
				if i%50 == 0 {
					e.Introduce("Ada")
				}
			}
		})
	}
	wg.Wait()
}

func FuzzReply(f *testing.F) {
	for _, s := range append(script, "", "bye", "  QUIT.", "\xff", "you + me * |", "{1}", "I am {2}") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := eliza.New(11)
		reply, _ := e.Reply(s)
		checkReply(t, s, reply)
		reply, _ = e.Reply(s) // second call exercises memory and state
		checkReply(t, s, reply)
	})
}

func checkReply(t *testing.T, in, reply string) {
	t.Helper()
	if strings.TrimSpace(reply) == "" {
		t.Fatalf("Reply(%q) is empty", in)
	}
	if !utf8.ValidString(reply) {
		t.Fatalf("Reply(%q) = %q is not valid UTF-8", in, reply)
	}
}

func checkIntro(t *testing.T, name string, lines []string) {
	t.Helper()
	if len(lines) < 3 || len(lines) > 5 {
		t.Fatalf("Introduce(%q) gave %d lines, want 3-5", name, len(lines))
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			t.Errorf("Introduce(%q)[%d] is empty", name, i)
		}
	}
}
