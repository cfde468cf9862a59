package benchkit

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMachineSpeed_TimesOneDecodeOfTheSameFiveKilobytes(t *testing.T) {
	doc := speedDocument()
	if n := len(doc); n < 4000 || n > 6000 {
		t.Fatalf("the probe's document is %d bytes, want about 5 KB", n)
	}
	if !json.Valid(doc) {
		t.Fatalf("the probe's document is not JSON: %s", doc)
	}
	per := machineSpeed(20 * time.Millisecond)
	if per <= 0 || per > 20*time.Millisecond {
		t.Fatalf("one decode took %s, want more than 0 and less than the whole probe", per)
	}
}
