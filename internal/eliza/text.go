package eliza

import (
	"strings"
	"unicode"
)

const (
	// maxInputRunes caps how much of a sentence is examined, which keeps
	// the cost of a reply bounded for very long input.
	maxInputRunes = 1000
	// maxClauseWords caps the words kept per clause for the same reason.
	maxClauseWords = 40
	// maxNameRunes caps the length of a name used in Introduce.
	maxNameRunes = 40
)

// contractions maps common contracted forms to their expansions so the
// rules only have to deal with one spelling.
var contractions = map[string][]string{
	"i'm":     {"i", "am"},
	"im":      {"i", "am"},
	"i've":    {"i", "have"},
	"i'll":    {"i", "will"},
	"i'd":     {"i", "would"},
	"you're":  {"you", "are"},
	"youre":   {"you", "are"},
	"you've":  {"you", "have"},
	"you'll":  {"you", "will"},
	"you'd":   {"you", "would"},
	"can't":   {"cannot"},
	"cant":    {"cannot"},
	"won't":   {"will", "not"},
	"don't":   {"do", "not"},
	"dont":    {"do", "not"},
	"it's":    {"it", "is"},
	"that's":  {"that", "is"},
	"what's":  {"what", "is"},
	"there's": {"there", "is"},
}

// splitClauses lower-cases sentence and breaks it into clauses (at . , ;
// : ! ? and line breaks) of words. Apostrophes inside words are kept,
// contractions are expanded, and everything that is not a letter or digit
// separates words. Empty clauses are dropped.
func splitClauses(sentence string) [][]string {
	var (
		clauses [][]string
		words   []string
		cur     strings.Builder
	)
	flushWord := func() {
		w := strings.Trim(cur.String(), "'")
		cur.Reset()
		if w == "" || len(words) >= maxClauseWords {
			return
		}
		words = append(words, expand(w)...)
	}
	flushClause := func() {
		flushWord()
		if len(words) > 0 {
			clauses = append(clauses, joinCannot(words))
		}
		words = nil
	}

	n := 0
	for _, r := range sentence {
		if n++; n > maxInputRunes {
			break
		}
		switch {
		case r == '\'' || r == '\u2019' || r == '\u2018':
			cur.WriteByte('\'')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur.WriteRune(unicode.ToLower(r))
		case isClauseBreak(r):
			flushClause()
		default:
			flushWord()
		}
	}
	flushClause()
	return clauses
}

func isClauseBreak(r rune) bool {
	switch r {
	case '.', ',', ';', ':', '!', '?', '\n', '\r', '\u2026':
		return true
	}
	return false
}

// expand turns a contraction into its words; "shouldn't" and friends
// become "should not".
func expand(w string) []string {
	if ws, ok := contractions[w]; ok {
		return ws
	}
	if stem, ok := strings.CutSuffix(w, "n't"); ok && stem != "" {
		return []string{stem, "not"}
	}
	return []string{w}
}

// joinCannot rewrites "can not" as "cannot" so a single rule covers both.
func joinCannot(words []string) []string {
	out := words[:0]
	for i := 0; i < len(words); i++ {
		if words[i] == "can" && i+1 < len(words) && words[i+1] == "not" {
			out = append(out, "cannot")
			i++
			continue
		}
		out = append(out, words[i])
	}
	return out
}

// isGoodbye reports whether sentence is exactly one of the goodbye words,
// ignoring case, surrounding whitespace and trailing punctuation or
// symbols (so "Bye!", "  QUIT." and "goodbye..." all count).
func isGoodbye(sentence string) bool {
	s := strings.TrimLeftFunc(sentence, unicode.IsSpace)
	s = strings.TrimRightFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
	switch strings.ToLower(s) {
	case "bye", "goodbye", "exit", "quit":
		return true
	}
	return false
}

// cleanName tidies a user-supplied name for Introduce: it keeps letters,
// digits and a few name punctuation marks, collapses whitespace and
// truncates overly long names. A name without any letter or digit becomes
// "friend".
func cleanName(name string) string {
	var parts []string
	meaningful := false
	for _, f := range strings.Fields(name) {
		word := strings.Map(func(r rune) rune {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				meaningful = true
				return r
			case r == '-' || r == '\'' || r == '.':
				return r
			}
			return -1
		}, f)
		if word != "" {
			parts = append(parts, word)
		}
	}
	if !meaningful {
		return "friend"
	}
	out := []rune(strings.Join(parts, " "))
	if len(out) > maxNameRunes {
		out = out[:maxNameRunes]
	}
	return strings.TrimSpace(string(out))
}
