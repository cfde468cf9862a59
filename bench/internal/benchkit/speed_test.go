package benchkit

import (
	"strings"
	"testing"
	"time"
)

func TestMeasureSpeed_TimesTheCalibration(t *testing.T) {
	s := MeasureSpeed()
	t.Logf("this machine, now: %s", s)
	if s <= 0 || time.Duration(s) > 10*time.Second {
		t.Fatalf("MeasureSpeed() = %s, want a positive time under 10 s", time.Duration(s))
	}
	if d := s.Describe(); !strings.Contains(d, s.String()) || !strings.HasPrefix(d, "Machine speed just before the run: ") {
		t.Errorf("Describe() = %q, want the speed %s in the report's sentence", d, s)
	}
}

func TestSpeed_FormatsInMillisecondsWithTwoDecimals(t *testing.T) {
	if got := Speed(2314 * time.Microsecond).String(); got != "2.31 ms" {
		t.Errorf("String() = %q, want 2.31 ms", got)
	}
	if got := Speed(0).Describe(); got != "Machine speed not measured" {
		t.Errorf("Describe() of an unmeasured speed = %q", got)
	}
}
