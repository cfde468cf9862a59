package debezium

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// The schemas-disabled form is the schemas-enabled form's payload, so decoding either must
// give the same Change.
func TestDecodeSignalChange_PayloadAloneDecodesLikeSchemasEnabledValue(t *testing.T) {
	for _, dir := range []string{"datastore-signal", "scratch", "scratch-no-unknown-types"} {
		for _, name := range fixtureNames(t, dir) {
			path := filepath.Join(dir, name)
			t.Run(path, func(t *testing.T) {
				value := fixture(t, filepath.Join("events", path))
				wantCh, wantErr := DecodeSignalChange(value)
				gotCh, gotErr := DecodeSignalChange(payloadOf(t, value))
				if (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("payload alone: error %v, whole value: error %v", gotErr, wantErr)
				}
				assertChange(t, path, gotCh, wantCh)
			})
		}
	}
}

// The same changes captured by two connectors, one with value.converter.schemas.enable=false,
// decode alike. Only what each connector measured for itself differs: when it processed the
// event (TsMs) and, for snapshot reads, the point of its own snapshot (Source LSN, TxID, TsMs).
func TestDecodeSignalChange_SchemasDisabledConnectorDecodesLikeSchemasEnabled(t *testing.T) {
	for _, name := range fixtureNames(t, "scratch-schemaless") {
		t.Run(name, func(t *testing.T) {
			want, wantErr := DecodeSignalChange(fixture(t, "events/scratch/"+name))
			got, gotErr := DecodeSignalChange(fixture(t, "events/scratch-schemaless/"+name))
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("schemas disabled: error %v, schemas enabled: error %v", gotErr, wantErr)
			}
			assertChange(t, name, connectorIndependent(got), connectorIndependent(want))
		})
	}
}

// A connector without include.unknown.datatypes leaves the span out; everything else decodes
// as with it, and Span is nil.
func TestDecodeSignalChange_SpanIsNilWhenConnectorDropsUnknownTypes(t *testing.T) {
	for _, name := range fixtureNames(t, "scratch-no-unknown-types") {
		t.Run(name, func(t *testing.T) {
			got := decodeFixture(t, "scratch-no-unknown-types/"+name)
			for _, s := range []*Signal{got.Before, got.After} {
				if s != nil && s.Span != nil {
					t.Fatalf("span %v, want nil", s.Span)
				}
			}
			want, err := DecodeSignalChange(fixture(t, "events/scratch/"+name))
			if err != nil {
				return // the unbounded span: only decodable without the column
			}
			for _, s := range []*Signal{want.Before, want.After} {
				if s != nil {
					s.Span = nil
				}
			}
			assertChange(t, name, connectorIndependent(got), connectorIndependent(want))
		})
	}
}

// connectorIndependent drops from c what one connector measured for itself.
func connectorIndependent(c Change) Change {
	c.TsMs = 0
	if c.Op == OpRead {
		c.Source.LSN, c.Source.TxID, c.Source.TsMs = 0, 0, 0
	}
	return c
}

func TestDecodeSignalChange_ReturnsErrTombstoneForNullValues(t *testing.T) {
	tests := map[string][]byte{
		"nil":                      nil,
		"empty":                    {},
		"JSON null":                []byte("null"),
		"JSON null with spaces":    []byte(" null\n"),
		"schemas-enabled null":     []byte(`{"schema":null,"payload":null}`),
		"payload null with schema": []byte(`{"schema":{"type":"struct"},"payload":null}`),
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeSignalChange(value); !errors.Is(err, ErrTombstone) {
				t.Fatalf("got %v, want ErrTombstone", err)
			}
		})
	}
}

// Fields this package does not know, anywhere, are skipped: a newer Debezium still decodes.
func TestDecodeSignalChange_ToleratesUnknownFields(t *testing.T) {
	value := string(fixture(t, "events/datastore-signal/create-eeg.json"))
	want, err := DecodeSignalChange([]byte(value))
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range []struct{ old, new string }{
		{`"payload":{`, `"payload":{"future":{"nested":[1,{"x":null}]},`},
		{`"after":{`, `"after":{"new_column":"x","id2":[],`},
		{`"source":{`, `"source":{"lsn_v2":"0/19C8D20","extra":true,`},
		{`{"schema":`, `{"meta":1,"schema":`},
	} {
		got, err := DecodeSignalChange([]byte(replaceOnce(t, value, edit.old, edit.new)))
		if err != nil {
			t.Fatalf("with %s: %v", edit.new, err)
		}
		assertChange(t, edit.new, got, want)
	}
}

// A converter that writes the range as text rather than base64 bytes decodes the same.
func TestDecodeSignalChange_AcceptsSpanAsPlainRangeText(t *testing.T) {
	value := string(fixture(t, "events/datastore-signal/update-eeg.json"))
	want := decodeFixture(t, "datastore-signal/update-eeg.json")
	for _, text := range []string{`"[60000000000,120000000000)"`, `"\u005b60000000000,120000000000)"`} {
		edited := replaceOnce(t, value, `"span":"WzYwMDAwMDAwMDAwLDEyMDAwMDAwMDAwMCk="`, `"span":`+text)
		got, err := DecodeSignalChange([]byte(edited))
		if err != nil {
			t.Fatalf("span %s: %v", text, err)
		}
		assertChange(t, text, got, want)
	}
}

// The empty range as text is not mistaken for base64 (both are strings of letters).
func TestDecodeSignalChange_AcceptsEmptySpanAsPlainText(t *testing.T) {
	value := string(fixture(t, "events/scratch/snapshot-empty-span.json"))
	want := decodeFixture(t, "scratch/snapshot-empty-span.json")
	for _, text := range []string{`"empty"`, `"EMPTY"`} {
		got, err := DecodeSignalChange([]byte(replaceOnce(t, value, `"span":"ZW1wdHk="`, `"span":`+text)))
		if err != nil {
			t.Fatalf("span %s: %v", text, err)
		}
		assertChange(t, text, got, want)
	}
}

// Escapes and non-ASCII in strings decode as encoding/json would decode them.
func TestDecodeSignalChange_UnescapesStrings(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	value = replaceOnce(t, value, `"channels":["f7-o1",`, `"channels":["f7\u002do1", "Fp1–Cz\"", `)
	value = replaceOnce(t, value, `"sensor_label":"eeg"`, `"sensor_label":"e\u0065g\n"`)
	ch, err := DecodeSignalChange([]byte(value))
	if err != nil {
		t.Fatal(err)
	}
	if got := ch.After.Channels[:2]; got[0] != "f7-o1" || got[1] != "Fp1–Cz\"" {
		t.Errorf("channels %q", got)
	}
	if ch.After.SensorLabel != "eeg\n" {
		t.Errorf("sensor_label %q", ch.After.SensorLabel)
	}
}

// An object key is matched on its value, escapes and all: "\u006fp" is op and
// "sensor_typ\u0065" is sensor_type (the later of the two counts), while "sensor_typé" and
// "sensor_type\u0020" are columns of their own.
func TestDecodeSignalChange_UnescapesKeys(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	value = replaceOnce(t, value, `"op":"c"`, `"\u006fp":"c"`)
	value = replaceOnce(t, value, `"sensor_type":"eeg"`,
		`"sensor_type":"eeg","sensor_typ\u0065":"escaped","sensor_typé":"x","sensor_type\u0020":"y"`)
	for _, decode := range []func([]byte) (Change, error){DecodeSignalChange, DecodeRuleChange} {
		ch, err := decode([]byte(value))
		if err != nil {
			t.Fatal(err)
		}
		if ch.Op != OpCreate || ch.After.SensorType != "escaped" {
			t.Errorf("op %q, sensor_type %q; want c and escaped", ch.Op, ch.After.SensorType)
		}
	}
}

// A NULL among a row's channels (a text[] may hold NULLs) is data, not an undecodable event: it
// reads as an empty name, so the signal is invalid and logged, not dead-lettered.
func TestDecodeSignalChange_NullChannelReadsAsAnEmptyName(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	value = replaceOnce(t, value, `"channels":["f7-o1",`, `"channels":["f7-o1",null,`)
	for _, decode := range []func([]byte) (Change, error){DecodeSignalChange, DecodeRuleChange} {
		ch, err := decode([]byte(value))
		if err != nil {
			t.Fatal(err)
		}
		if got := ch.After.Channels[:2]; got[0] != "f7-o1" || got[1] != "" {
			t.Errorf("channels %q, want f7-o1 then an empty name", got)
		}
	}
}

// A delete needs nothing of before but the key: a connector sending only the key decodes.
func TestDecodeSignalChange_DeleteNeedsOnlyTheKey(t *testing.T) {
	value := `{"before":{"id":"f1c7a5e0-0001-4d1e-8b2e-0000000000e1"},"after":null,"source":{"lsn":7},"op":"d"}`
	ch, err := DecodeSignalChange([]byte(value))
	if err != nil {
		t.Fatal(err)
	}
	want := Change{Op: OpDelete, Before: &Signal{ID: mustUUID("f1c7a5e0-0001-4d1e-8b2e-0000000000e1")}, Source: Source{LSN: 7}}
	assertChange(t, "key-only delete", ch, want)
}

func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}
