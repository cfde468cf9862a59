package eliza

import "strings"

// tokenKind says how one element of a decomposition pattern matches.
type tokenKind int

const (
	// anyWords ("*") matches zero or more words and captures nothing.
	anyWords tokenKind = iota
	// someWords ("+") matches one or more words and captures them.
	someWords
	// oneWord ("word" or "a|b|c") matches exactly one listed word; it
	// captures that word when there is more than one alternative.
	oneWord
)

// token is one parsed element of a decomposition pattern.
type token struct {
	kind tokenKind
	alts []string
}

func (t token) captures() bool {
	return t.kind == someWords || (t.kind == oneWord && len(t.alts) > 1)
}

func (t token) accepts(w string) bool {
	for _, a := range t.alts {
		if a == w {
			return true
		}
	}
	return false
}

// parsePattern parses a decomposition pattern such as "* i am +" or
// "* my mother|father *". Words are separated by spaces.
func parsePattern(p string) []token {
	fields := strings.Fields(p)
	toks := make([]token, 0, len(fields))
	for _, f := range fields {
		switch f {
		case "*":
			toks = append(toks, token{kind: anyWords})
		case "+":
			toks = append(toks, token{kind: someWords})
		default:
			toks = append(toks, token{kind: oneWord, alts: strings.Split(f, "|")})
		}
	}
	return toks
}

// captureCount reports how many fragments a successful match of pat yields.
func captureCount(pat []token) int {
	n := 0
	for _, t := range pat {
		if t.captures() {
			n++
		}
	}
	return n
}

// match reports whether pat matches all of words and, if so, returns the
// captured fragments in pattern order. Wildcards prefer the shortest
// match, so a leading "*" finds the earliest occurrence of a keyword.
func match(pat []token, words []string) ([][]string, bool) {
	return matchFrom(pat, words, nil)
}

func matchFrom(pat []token, words []string, caps [][]string) ([][]string, bool) {
	if len(pat) == 0 {
		return caps, len(words) == 0
	}
	t, rest := pat[0], pat[1:]
	switch t.kind {
	case anyWords, someWords:
		start := 0
		if t.kind == someWords {
			start = 1
		}
		for i := start; i <= len(words); i++ {
			next := caps
			if t.kind == someWords {
				next = appendCap(caps, words[:i])
			}
			if out, ok := matchFrom(rest, words[i:], next); ok {
				return out, true
			}
		}
		return nil, false
	default:
		if len(words) == 0 || !t.accepts(words[0]) {
			return nil, false
		}
		next := caps
		if t.captures() {
			next = appendCap(caps, words[:1])
		}
		return matchFrom(rest, words[1:], next)
	}
}

// appendCap appends without sharing backing storage between the branches
// the matcher explores.
func appendCap(caps [][]string, c []string) [][]string {
	out := make([][]string, len(caps), len(caps)+1)
	copy(out, caps)
	return append(out, c)
}
