package eliza

import (
	"regexp"
	"strconv"
	"testing"
)

var placeholder = regexp.MustCompile(`\{(\d+)\}`)

func TestRules_TemplatesAreWellFormed(t *testing.T) {
	if n := len(rules); n < 15 || n > 25 {
		t.Errorf("have %d rules, want 15-25", n)
	}
	for _, r := range rules {
		if len(r.decomps) == 0 {
			t.Errorf("rule %q has no decompositions", r.name)
		}
		for _, d := range r.decomps {
			caps := captureCount(d.pattern)
			if len(d.replies) == 0 {
				t.Errorf("rule %q: decomposition without replies", r.name)
			}
			for _, tmpl := range append(append([]string{}, d.replies...), d.remember...) {
				checkASCII(t, r.name, tmpl)
				for _, m := range placeholder.FindAllStringSubmatch(tmpl, -1) {
					if i, _ := strconv.Atoi(m[1]); i < 1 || i > caps {
						t.Errorf("rule %q: %q uses {%d} but the pattern captures %d", r.name, tmpl, i, caps)
					}
				}
			}
		}
	}
	for _, group := range [][]string{goodbyeLines, silenceLines, fallbackLines, introOpeners, introBody} {
		for _, s := range group {
			checkASCII(t, "phrases", s)
		}
	}
}

func TestRules_AreOrderedByPriority(t *testing.T) {
	for i := 1; i < len(rules); i++ {
		if rules[i-1].priority < rules[i].priority {
			t.Errorf("rule %q (priority %d) sorted before %q (priority %d)",
				rules[i-1].name, rules[i-1].priority, rules[i].name, rules[i].priority)
		}
	}
}

func checkASCII(t *testing.T, where, s string) {
	t.Helper()
	if s == "" {
		t.Errorf("%s: empty template", where)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			t.Errorf("%s: %q contains non-ASCII rune %q", where, s, r)
		}
	}
}
