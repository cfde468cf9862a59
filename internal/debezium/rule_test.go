package debezium

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// ruleColumnsOf is what DecodeRuleChange promises to return for an event that
// DecodeSignalChange decoded as c: the same change with the rows' other columns zero.
func ruleColumnsOf(c Change) Change {
	only := func(s *Signal) *Signal {
		if s == nil {
			return nil
		}
		return &Signal{ID: s.ID, Recording: s.Recording, SensorType: s.SensorType, Channels: s.Channels, SampleType: s.SampleType}
	}
	c.Before, c.After = only(c.Before), only(c.After)
	return c
}

// assertRuleDecodeAgrees checks DecodeRuleChange against DecodeSignalChange on one value:
// where the full decode succeeds the rule decode gives its rule columns, and where the rule
// decode fails the full one fails too.
func assertRuleDecodeAgrees(t *testing.T, name string, value []byte) {
	t.Helper()
	full, fullErr := DecodeSignalChange(value)
	rule, ruleErr := DecodeRuleChange(value)
	switch {
	case fullErr == nil && ruleErr != nil:
		t.Fatalf("%s: DecodeSignalChange decodes it, DecodeRuleChange fails: %v", name, ruleErr)
	case ruleErr != nil && !errors.Is(ruleErr, ErrMalformed) && !errors.Is(ruleErr, ErrTombstone):
		t.Fatalf("%s: error wraps neither ErrMalformed nor ErrTombstone: %v", name, ruleErr)
	case errors.Is(fullErr, ErrTombstone) != errors.Is(ruleErr, ErrTombstone):
		t.Fatalf("%s: tombstone for one decoder and not the other: %v / %v", name, fullErr, ruleErr)
	case fullErr == nil:
		assertChange(t, name, rule, ruleColumnsOf(full))
	}
}

func TestDecodeRuleChange_GivesTheRuleColumnsOfEveryFixture(t *testing.T) {
	n := 0
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) == ".md" {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			assertRuleDecodeAgrees(t, path, b)
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d fixtures found", n)
	}
}

func TestDecodeRuleChange_SkipsColumnsTheRuleDoesNotRead(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	want := ruleColumnsOf(decodeFixture(t, "datastore-signal/create-eeg.json"))
	for _, tt := range []struct{ old, new string }{
		{`"data":"AACAPwAAAEAAAEBAAACAQA=="`, `"data":"AACA PwAA"`},
		{`"span":"WzAsNjAwMDAwMDAwMDAp"`, `"span":12`},
		{`"sensor_label":"eeg"`, `"sensor_label":true`},
		{`"sample_rate":250.0`, `"sample_rate":1e999`},
		{`"inserted_at":"2026-11-29T07:17:48.928928Z"`, `"inserted_at":"yesterday"`},
	} {
		t.Run(tt.new, func(t *testing.T) {
			changed := []byte(replaceOnce(t, value, tt.old, tt.new))
			if _, err := DecodeSignalChange(changed); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeSignalChange: want ErrMalformed, got %v", err)
			}
			got, err := DecodeRuleChange(changed)
			if err != nil {
				t.Fatal(err)
			}
			assertChange(t, tt.new, got, want)
		})
	}
}

func TestDecodeRuleChange_RejectsWhatTheRuleNeedsAndBrokenJSONAnywhere(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	for _, tt := range []struct{ old, new, want string }{
		{`"data":"AACAPwAAAEAAAEBAAACAQA=="`, `"data":"AACA\x01"`, "not JSON: bad escape"},
		{`"sample_rate":250.0`, `"sample_rate":250.`, "not JSON: unexpected"},
		{`"channels":["f7-o1",`, `"channels":["f7-o1",7,`, "after.channels: element 1: want string, got number"},
		{`"recording":"f1c7a5e0-00ec-4d1e-8b2e-0000000000aa"`, `"recording":null`, "after.recording is null"},
		{`"sensor_type":"eeg"`, `"sensor_kind":"eeg"`, "after.sensor_type is missing"},
	} {
		t.Run(tt.new, func(t *testing.T) {
			_, err := DecodeRuleChange([]byte(replaceOnce(t, value, tt.old, tt.new)))
			assertMalformed(t, err, tt.want)
		})
	}
}
