// Package eliza is a small, self-contained conversation engine in the
// spirit of Joseph Weizenbaum's 1966 ELIZA program.
//
// It is meant for light-hearted, interactive demos: an Engine looks for
// keywords in a sentence, picks the highest-priority rule that matches,
// takes the sentence apart around the keyword, swaps first and second
// person ("I am" becomes "you are", "my" becomes "your") and puts the
// pieces back into a canned question. When nothing matches it falls back
// to a neutral prompt or to something the user mentioned earlier.
//
// All random choices come from a seeded generator, so a given seed and a
// given sequence of sentences always produce the same conversation. The
// rules and wording are original to this package.
package eliza
