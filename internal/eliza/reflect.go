package eliza

import "strings"

// maxFragmentWords caps how many of the user's words are echoed back in
// one reply, so long rambles do not produce long answers.
const maxFragmentWords = 16

// swaps holds the person swaps that do not depend on context.
var swaps = map[string]string{
	"i":        "you",
	"me":       "you",
	"my":       "your",
	"mine":     "yours",
	"myself":   "yourself",
	"am":       "are",
	"your":     "my",
	"yours":    "mine",
	"yourself": "myself",
	"we":       "you",
	"us":       "you",
	"our":      "your",
	"ours":     "yours",
}

// subjectAfter lists words after which "you" is most likely a subject
// ("because you left") rather than an object ("I miss you").
var subjectAfter = map[string]bool{
	"that": true, "because": true, "if": true, "when": true, "and": true,
	"but": true, "so": true, "then": true, "since": true, "while": true,
	"whether": true, "until": true, "unless": true, "though": true,
}

// subjectBefore lists verbs that, following "you", show it is a subject.
var subjectBefore = map[string]bool{
	"are": true, "were": true, "have": true, "had": true, "do": true,
	"did": true, "will": true, "would": true, "can": true, "cannot": true,
	"could": true, "should": true, "might": true, "must": true, "was": true,
}

// reflect swaps first and second person in words, so that the user's own
// phrasing can be handed back: "i am sad about my job" becomes
// "you are sad about your job", and "you ignore me" becomes
// "I ignore you".
func reflect(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		prev, next := "", ""
		if i > 0 {
			prev = words[i-1]
		}
		if i+1 < len(words) {
			next = words[i+1]
		}
		switch {
		case w == "you":
			if i == 0 || subjectAfter[prev] || subjectBefore[next] {
				out[i] = "I"
			} else {
				out[i] = "me"
			}
		case w == "are" && prev == "you":
			out[i] = "am"
		case w == "were" && prev == "you":
			out[i] = "was"
		case w == "was" && prev == "i":
			out[i] = "were"
		default:
			if s, ok := swaps[w]; ok {
				out[i] = s
			} else {
				out[i] = w
			}
		}
	}
	return out
}

// fragment reflects a captured run of words and joins it for use in a
// reply, keeping at most maxFragmentWords words.
func fragment(words []string) string {
	r := reflect(words)
	if len(r) > maxFragmentWords {
		r = r[:maxFragmentWords]
	}
	return strings.Join(r, " ")
}
