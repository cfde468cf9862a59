package synth

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/debezium"
)

const testdata = "../../../internal/debezium/testdata"

func TestTemplate_RendersTheCapturedEventBackWithItsOwnValues(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testdata, eegEvent))
	if err != nil {
		t.Fatal(err)
	}
	fields, err := valueFields(src)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := compile(src, fields)
	if err != nil {
		t.Fatal(err)
	}
	orig := map[slot][]byte{}
	for _, f := range fields {
		orig[f.slot] = f.value
	}
	// Cut and joined again with the captured values, the event must be the capture itself.
	got := tpl.render(nil, func(dst []byte, s slot) []byte { return append(dst, orig[s]...) })
	if !bytes.Equal(got, src) {
		t.Fatalf("re-rendered event differs from the capture:\n%s\n%s", got, src)
	}
}

func TestFactory_EventsDecodeAsTheConnectorsOwn(t *testing.T) {
	for _, schemas := range []bool{true, false} {
		f, err := Load(testdata, schemas)
		if err != nil {
			t.Fatal(err)
		}
		checkFactory(t, f, schemas)
	}
}

func checkFactory(t *testing.T, f *Factory, schemas bool) {
	t.Helper()
	committed := time.Date(2026, 11, 29, 8, 0, 0, 123456000, time.UTC)
	c := Change{Signal: uuid.New(), Recording: uuid.New(), LSN: 987654321, TxID: 4242,
		Committed: committed, Emitted: committed.Add(150 * time.Millisecond)}
	for name, render := range map[string]func(Change) ([]byte, []byte){"eeg": f.EEG, "accelerometer": f.Accelerometer} {
		key, value := render(c)
		var top map[string]json.RawMessage
		if err := json.Unmarshal(value, &top); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := top["schema"]; ok != schemas {
			t.Fatalf("%s with schemas %t: top-level keys %v", name, schemas, slices.Collect(maps.Keys(top)))
		}
		ch, err := debezium.DecodeSignalChange(value)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ch.Op != debezium.OpCreate || ch.After.ID != c.Signal || ch.After.Recording != c.Recording ||
			ch.After.SensorType != name || ch.Source.LSN != c.LSN || ch.Source.TxID != c.TxID ||
			ch.Source.TsMs != committed.UnixMilli() || !ch.After.InsertedAt.Equal(committed) {
			t.Fatalf("%s decoded as %+v / %+v", name, ch, *ch.After)
		}
		var k struct {
			Payload struct {
				Recording uuid.UUID `json:"recording"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(key, &k); err != nil || k.Payload.Recording != c.Recording {
			t.Fatalf("%s key %s: %v", name, key, err)
		}
	}
}
