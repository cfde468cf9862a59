package debezium

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fixture returns the bytes of a file under testdata.
func fixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureNames lists the files of one testdata/events directory by base name.
func fixtureNames(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "events", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (err %v)", dir, err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

// decodeFixture decodes testdata/events/<path> and fails the test on error.
func decodeFixture(t testing.TB, path string) Change {
	t.Helper()
	ch, err := DecodeSignalChange(fixture(t, filepath.Join("events", path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ch
}

// payloadOf returns the "payload" of a schemas-enabled value, byte for byte: the same event
// as the schemas-disabled converter would write it.
func payloadOf(t testing.TB, value []byte) []byte {
	t.Helper()
	var m struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(value, &m); err != nil || m.Payload == nil {
		t.Fatalf("no payload (err %v)", err)
	}
	return m.Payload
}

// assertChange fails the test unless got equals want, showing both rows in full.
func assertChange(t testing.TB, name string, got, want Change) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, describe(got), describe(want))
	}
}

func describe(c Change) string {
	row := func(s *Signal) string {
		if s == nil {
			return "nil"
		}
		return fmt.Sprintf("%+v (data %#v, channels %#v)", *s, s.Data, s.Channels)
	}
	return fmt.Sprintf("op %q source %+v ts %d\n  before %s\n  after  %s", c.Op, c.Source, c.TsMs, row(c.Before), row(c.After))
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Spans the captured rows carry.
var (
	firstMinute  = Span{Lower: 0, Upper: 60_000_000_000, LowerInclusive: true}
	secondMinute = Span{Lower: 60_000_000_000, Upper: 120_000_000_000, LowerInclusive: true}
)

// eegRow is the EEG row the fixtures insert: five bipolar channels of float32 at 250 Hz.
func eegRow(id, recording, insertedAt string, span Span, rate float64) *Signal {
	return &Signal{
		ID: mustUUID(id), Recording: mustUUID(recording),
		Data:        mustHex("0000803f000000400000404000008040"),
		Span:        &span,
		SensorLabel: "eeg", SensorType: "eeg",
		Channels:   []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"},
		SampleUnit: "microvolt", SampleResolutionInUnit: 1, SampleOffsetInUnit: 0,
		SampleType: "float32", SampleRate: rate,
		InsertedAt: mustTime(insertedAt),
	}
}

// accelerometerRow is the accelerometer row the fixtures insert: three axes of int16 at 50 Hz.
func accelerometerRow(id, recording, insertedAt string) *Signal {
	span := firstMinute
	return &Signal{
		ID: mustUUID(id), Recording: mustUUID(recording),
		Data:        mustHex("0100ffff0200"),
		Span:        &span,
		SensorLabel: "accelerometer", SensorType: "accelerometer",
		Channels:   []string{"x", "y", "z"},
		SampleUnit: "milli_g", SampleResolutionInUnit: 0.061, SampleOffsetInUnit: -2.5,
		SampleType: "int16", SampleRate: 50,
		InsertedAt: mustTime(insertedAt),
	}
}

// placeholderRow is what a delete's before decodes to under REPLICA IDENTITY DEFAULT: the real
// id, and Debezium's placeholders for every other column.
func placeholderRow(id string) *Signal {
	return &Signal{
		ID:         mustUUID(id),
		Data:       []byte{},
		Channels:   []string{},
		InsertedAt: time.Unix(0, 0).UTC(),
	}
}
