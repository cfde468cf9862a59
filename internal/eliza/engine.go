package eliza

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
)

// maxMemory bounds how many earlier topics an Engine keeps for later.
const maxMemory = 4

// Engine produces ELIZA replies. Safe for concurrent use.
//
// An Engine carries a little conversational state (its random generator
// and a short memory of earlier topics), so each conversation should use
// its own Engine. The zero value is usable and behaves like New(0).
type Engine struct {
	mu     sync.Mutex
	rng    *rand.Rand
	memory []string
}

// New returns an Engine whose random choices come from seed: the same seed and the same
// sentences give the same conversation.
func New(seed uint64) *Engine {
	return &Engine{rng: newRand(seed)}
}

func newRand(seed uint64) *rand.Rand {
	// The second PCG word is derived from the seed so that nearby seeds
	// still produce unrelated streams.
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Reply answers one sentence. end reports that the conversation is over: "bye", "goodbye",
// "exit" and "quit", in any case, with surrounding whitespace and trailing punctuation ignored
// ("Bye!", "  QUIT.", "goodbye..."), are answered with a goodbye line and end it.
//
// Only a sentence that consists of nothing but one of those words ends
// the conversation. A longer sentence that merely contains one, such as
// "bye-bye from me" or "I want to quit my job", gets an ordinary reply
// and end is false. The reply is never empty.
func (e *Engine) Reply(sentence string) (reply string, end bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.init()

	if isGoodbye(sentence) {
		return e.pick(goodbyeLines), true
	}
	clauses := splitClauses(sentence)
	if len(clauses) == 0 {
		return e.pick(silenceLines), false
	}
	if r, ok := e.applyRules(clauses); ok {
		return r, false
	}
	return e.fallback(), false
}

// Introduce returns a short introduction (a few sentences) addressed to name; a blank name
// is addressed as "friend".
func (e *Engine) Introduce(name string) []string {
	n := cleanName(name)
	e.mu.Lock()
	e.init()
	opener := e.pick(introOpeners)
	e.mu.Unlock()

	lines := []string{strings.ReplaceAll(opener, "{name}", n)}
	return append(lines, introBody...)
}

// init prepares a zero-value Engine. Callers must hold e.mu.
func (e *Engine) init() {
	if e.rng == nil {
		e.rng = newRand(0)
	}
}

// pick returns one entry of choices at random. Callers must hold e.mu.
func (e *Engine) pick(choices []string) string {
	return choices[e.rng.IntN(len(choices))]
}

// applyRules tries the rules from highest to lowest priority against every
// clause and answers with the first decomposition that fits.
func (e *Engine) applyRules(clauses [][]string) (string, bool) {
	for _, r := range rules {
		for _, words := range clauses {
			for _, d := range r.decomps {
				caps, ok := match(d.pattern, words)
				if !ok {
					continue
				}
				frags := make([]string, len(caps))
				for i, c := range caps {
					frags[i] = fragment(c)
				}
				if len(d.remember) > 0 {
					e.remember(fill(e.pick(d.remember), frags))
				}
				return fill(e.pick(d.replies), frags), true
			}
		}
	}
	return "", false
}

// remember stores a follow-up line for later, dropping the oldest one when
// memory is full. Callers must hold e.mu.
func (e *Engine) remember(line string) {
	if len(e.memory) == maxMemory {
		e.memory = e.memory[1:]
	}
	e.memory = append(e.memory, line)
}

// fallback answers a sentence no rule matched, sometimes by returning to
// an earlier topic. Callers must hold e.mu.
func (e *Engine) fallback() string {
	if len(e.memory) > 0 && e.rng.IntN(2) == 0 {
		line := e.memory[0]
		e.memory = e.memory[1:]
		return line
	}
	return e.pick(fallbackLines)
}

// fill substitutes {1}, {2}, ... in template with the given fragments.
func fill(template string, frags []string) string {
	for i, f := range frags {
		template = strings.ReplaceAll(template, "{"+strconv.Itoa(i+1)+"}", f)
	}
	return template
}
