package headband

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	testSeed   = 20240601
	testCount  = 3000
	testPause  = 10 * time.Second
	tolerance  = 0.03 // about 3 standard deviations for p = 1/3 over 3000 draws
	allSensors = 3
)

// corpus is the large sample the statistical tests share; generating it takes most of their
// time under the race detector.
var corpus = sync.OnceValue(func() []Recording { return generate(testSeed, testCount) })

func generate(seed uint64, n int) []Recording {
	return take(NewGenerator(seed, testPause), n)
}

func take(g *Generator, n int) []Recording {
	out := make([]Recording, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func allSignals(recs []Recording) []Signal {
	var out []Signal
	for _, r := range recs {
		out = append(out, r.Signals()...)
	}
	return out
}

func TestGenerator_DropsEachSignalAboutOneTimeInThree(t *testing.T) {
	recs := corpus()
	for _, sensor := range []string{EEG, Accelerometer, Ignore} {
		t.Run(sensor, func(t *testing.T) {
			dropped, kept := 0, 0
			for _, r := range recs {
				dropped += count(r.Dropped, sensor)
				for _, s := range r.Signals() {
					if s.SensorType == sensor {
						kept++
					}
				}
			}
			if dropped+kept != testCount {
				t.Fatalf("%d dropped + %d kept, want %d candidates", dropped, kept, testCount)
			}
			if rate := float64(dropped) / testCount; math.Abs(rate-1.0/3) > tolerance {
				t.Errorf("drop rate %.3f, want 1/3 ± %.2f", rate, tolerance)
			}
		})
	}
}

func TestGenerator_UsesTheValidEEGChannelsAboutFourTimesInSix(t *testing.T) {
	valid, eeg := 0, 0
	for _, s := range allSignals(corpus()) {
		if s.SensorType != EEG {
			continue
		}
		eeg++
		switch {
		case slices.Equal(s.Channels, EEGChannels()):
			valid++
		case !slices.ContainsFunc(InvalidEEGChannels(), func(c []string) bool { return slices.Equal(c, s.Channels) }):
			t.Fatalf("eeg signal with unexpected channels %v", s.Channels)
		}
	}
	if rate := float64(valid) / float64(eeg); math.Abs(rate-4.0/6) > tolerance {
		t.Errorf("valid eeg channel set in %.3f of %d eeg signals, want 4/6 ± %.2f", rate, eeg, tolerance)
	}
}

func TestGenerator_SignalsHaveTheDeclaredShape(t *testing.T) {
	cases := []struct {
		sensor     string
		unit       string
		rate       float64
		sampleType SampleType // "" for any
		channels   []string   // nil for any
	}{
		{EEG, "microvolt", 250, Float32, nil},
		{Accelerometer, "gforce", 50, Int16, AccelerometerChannels()},
		{Ignore, "unknown", 10, "", []string{"ignore"}},
	}
	signals := allSignals(corpus()[:300])
	for _, tc := range cases {
		t.Run(tc.sensor, func(t *testing.T) {
			seen := 0
			for _, s := range signals {
				if s.SensorType != tc.sensor {
					continue
				}
				seen++
				if s.SensorLabel != tc.sensor || s.SampleUnit != tc.unit || s.SampleRate != tc.rate ||
					(tc.sampleType != "" && s.SampleType != tc.sampleType) ||
					(tc.channels != nil && !slices.Equal(s.Channels, tc.channels)) {
					t.Fatalf("unexpected shape: label %q unit %q rate %v type %s channels %v",
						s.SensorLabel, s.SampleUnit, s.SampleRate, s.SampleType, s.Channels)
				}
			}
			if seen == 0 {
				t.Fatal("no signal of this sensor type generated")
			}
		})
	}
}

func TestGenerator_DataIsChannelsTimesSamplesTimesSampleSize(t *testing.T) {
	for _, s := range allSignals(corpus()[:500]) {
		want := len(s.Channels) * s.SampleCount() * s.SampleType.Size()
		if len(s.Data) != want || want == 0 {
			t.Fatalf("%s signal %s: %d bytes, want %d channels × %d samples × %d bytes",
				s.SensorType, s.ID, len(s.Data), len(s.Channels), s.SampleCount(), s.SampleType.Size())
		}
		if ns := int64(s.Span.Duration()) * int64(s.SampleRate); ns%int64(time.Second) != 0 || ns/int64(time.Second) != int64(s.SampleCount()) {
			t.Fatalf("%s signal %s: span %s is not a whole number of samples at %v Hz", s.SensorType, s.ID, s.Span, s.SampleRate)
		}
	}
}

func TestGenerator_DataDecodesLittleEndianToTheSamples(t *testing.T) {
	typesSeen := map[SampleType]bool{}
	for _, s := range allSignals(corpus()[:500]) {
		typesSeen[s.SampleType] = true
		got, err := s.SampleType.Decode(s.Data)
		if err != nil {
			t.Fatalf("%s signal %s: %v", s.SensorType, s.ID, err)
		}
		if !slices.Equal(got, s.Samples) {
			t.Fatalf("%s signal %s (%s): data does not decode to the samples", s.SensorType, s.ID, s.SampleType)
		}
	}
	if len(typesSeen) != len(SampleTypes()) {
		t.Errorf("sample types used: %v, want all %d", typesSeen, len(SampleTypes()))
	}
}

func TestGenerator_ValuesAreRealisticInTheirUnit(t *testing.T) {
	for _, s := range allSignals(corpus()[:300]) {
		n := len(s.Channels)
		for i := 0; i < len(s.Samples); i += n {
			frame := make([]float64, n)
			for c := range frame {
				frame[c] = s.Samples[i+c]*s.SampleResolution + s.SampleOffset
			}
			switch s.SensorType {
			case EEG:
				for _, v := range frame {
					if math.Abs(v) > 150 {
						t.Fatalf("eeg %s: %v µV is not a scalp EEG amplitude", s.ID, v)
					}
				}
			case Accelerometer:
				if g := math.Hypot(math.Hypot(frame[0], frame[1]), frame[2]); g < 0.85 || g > 1.15 {
					t.Fatalf("accelerometer %s: |a| = %.3f g, want about 1 g on a resting head", s.ID, g)
				}
			case Ignore:
				if frame[0] < 0 || frame[0] > 100 {
					t.Fatalf("ignore %s: value %v outside 0..100", s.ID, frame[0])
				}
			}
		}
	}
}

func TestGenerator_SpansAreNonEmptyHalfOpenRangesOfOneToFourSeconds(t *testing.T) {
	for _, r := range corpus()[:500] {
		for _, s := range r.Signals() {
			if s.Span.Start < 0 || s.Span.End <= s.Span.Start {
				t.Fatalf("signal %s: span %s is not a non-empty [start,end)", s.ID, s.Span)
			}
			if d := s.Span.Duration(); d < time.Second || d > 4*time.Second {
				t.Fatalf("signal %s: span of %s, want 1–4 s", s.ID, d)
			}
			if s.Span != r.Inserts[0].Signal.Span {
				t.Fatalf("recording %s: signals cover different spans", r.ID)
			}
			if lit := s.Span.String(); !strings.HasPrefix(lit, "[") || !strings.HasSuffix(lit, ")") || strings.Contains(lit, "_") {
				t.Fatalf("span literal %q is not a PostgreSQL 15 half-open range", lit)
			}
		}
	}
}

func TestGenerator_ShufflesTheInsertOrder(t *testing.T) {
	orders := map[string]int{}
	first := map[string]int{}
	full := 0
	for _, r := range corpus() {
		if len(r.Inserts) != allSensors {
			continue
		}
		full++
		var order []string
		for _, s := range r.Signals() {
			order = append(order, s.SensorType)
		}
		orders[strings.Join(order, ",")]++
		first[order[0]]++
	}
	if len(orders) != 6 {
		t.Errorf("saw %d of the 6 orders of three signals: %v", len(orders), orders)
	}
	for sensor, n := range first {
		if rate := float64(n) / float64(full); math.Abs(rate-1.0/3) > 0.05 {
			t.Errorf("%s is inserted first in %.3f of full recordings, want about 1/3", sensor, rate)
		}
	}
}

func TestGenerator_PausesAreUniformUpToTheMaximum(t *testing.T) {
	var sum time.Duration
	n := 0
	for _, r := range corpus() {
		for _, in := range r.Inserts {
			if in.Pause < 0 || in.Pause >= testPause {
				t.Fatalf("pause %s outside [0, %s)", in.Pause, testPause)
			}
			sum += in.Pause
			n++
		}
	}
	if mean := sum / time.Duration(n); mean < 4500*time.Millisecond || mean > 5500*time.Millisecond {
		t.Errorf("mean pause %s, want about %s", mean, testPause/2)
	}
	for _, in := range NewGenerator(testSeed, 0).Recording(0).Inserts {
		if in.Pause != 0 {
			t.Fatalf("pause %s with a zero maximum", in.Pause)
		}
	}
}

func TestGenerator_IDsAreUniqueVersion4UUIDsAndSignalsPointToTheirRecording(t *testing.T) {
	seen := map[uuid.UUID]bool{}
	for _, r := range corpus()[:1000] {
		ids := []uuid.UUID{r.ID}
		for _, s := range r.Signals() {
			if s.Recording != r.ID {
				t.Fatalf("signal %s names recording %s, want %s", s.ID, s.Recording, r.ID)
			}
			ids = append(ids, s.ID)
		}
		for _, id := range ids {
			if id.Version() != 4 || id.Variant() != uuid.RFC4122 {
				t.Fatalf("%s is not a version 4 RFC 4122 UUID", id)
			}
			if seen[id] {
				t.Fatalf("%s generated twice", id)
			}
			seen[id] = true
		}
	}
}

func TestGenerator_IsDeterministicForASeed(t *testing.T) {
	cases := []struct {
		name string
		a, b []Recording
		same bool
	}{
		{"same seed", generate(7, 50), generate(7, 50), true},
		{"other seed", generate(7, 50), generate(8, 50), false},
		{"other max pause", generate(7, 50), take(NewGenerator(7, time.Hour), 50), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reflect.DeepEqual(stripPauses(tc.a), stripPauses(tc.b)); got != tc.same {
				t.Fatalf("recordings equal = %v, want %v", got, tc.same)
			}
		})
	}
	g := NewGenerator(7, testPause)
	if r := g.Recording(42); !reflect.DeepEqual(r, generate(7, 43)[42]) {
		t.Fatal("Recording(42) differs from the 43rd Next")
	}
}

// stripPauses keeps what is written to the database, so generators that differ only in
// their maximum pause compare equal.
func stripPauses(recs []Recording) []Recording {
	out := make([]Recording, len(recs))
	for i, r := range recs {
		r.Inserts = slices.Clone(r.Inserts)
		for j := range r.Inserts {
			r.Inserts[j].Pause = 0
		}
		out[i] = r
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
