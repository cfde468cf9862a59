package main

import (
	"strings"
	"testing"
)

func TestParseConfig_DefaultsAreValid(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, m := range measurements {
		if !c.runs(m) {
			t.Errorf("without -only, %s is not run", m)
		}
	}
}

func TestParseConfig_NamesTheFlagThatIsWrong(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-resume-events", "999"}, "-resume-events"},
		{[]string{"-resume-events", "0"}, "-resume-events"},
		{[]string{"-resumes", "0"}, "-resumes"},
		{[]string{"-fanout-doors", "1"}, "-fanout-doors"},
		{[]string{"-fanout-doors", "4", "-fanout-conversations", "3"}, "-fanout-conversations"},
		{[]string{"-fanout-rate", "0"}, "-fanout-rate"},
		{[]string{"-fanout-duration", "0s"}, "-fanout-duration"},
		{[]string{"-enqueue-cooldown", "-1s"}, "-enqueue-cooldown"},
		{[]string{"-only", "resume,replies"}, `unknown measurement "replies"`},
		{[]string{"-rate", "1000,x"}, `"x" is not a number`},
		{[]string{"-rate", "1000,0"}, "-rate must be positive"},
		{[]string{"-rate", "30000"}, "at most 100 per stream"},
	} {
		_, err := parseConfig(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseConfig(%q) = %v, want an error naming %s", c.args, err, c.want)
		}
	}
}

func TestParseConfig_OnlyRunsTheMeasurementsNamed(t *testing.T) {
	c, err := parseConfig([]string{"-only", "resume, fanout"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range measurements {
		if want := m == "resume" || m == "fanout"; c.runs(m) != want {
			t.Errorf("-only resume,fanout: runs(%s) = %t, want %t", m, c.runs(m), want)
		}
	}
}

func TestParseRates_ReadsACommaSeparatedList(t *testing.T) {
	got, err := parseRates("1000, 300,12.5")
	if err != nil || len(got) != 3 || got[0] != 1000 || got[1] != 300 || got[2] != 12.5 {
		t.Errorf("parseRates = %v, %v; want [1000 300 12.5]", got, err)
	}
	if _, err := parseRates(""); err == nil {
		t.Error("parseRates(\"\"): no error")
	}
}
