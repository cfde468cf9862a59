package dispatch_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/memstore"
	"github.com/beacon/eventdispatch/internal/recording"
)

// signalEvent is the fixture's event with its payload edited: an op, a position, a before
// and an after (each the fixture's after with edits; nil for none).
func signalEvent(t *testing.T, file, op string, lsn int64, before, after map[string]any) kafka.Message {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(fixture(t, "datastore-signal/"+file), &ev); err != nil {
		t.Fatal(err)
	}
	payload := ev["payload"].(map[string]any)
	row := payload["after"].(map[string]any)
	edited := func(edits map[string]any) any {
		if edits == nil {
			return nil
		}
		r := maps.Clone(row)
		maps.Copy(r, edits)
		return r
	}
	payload["op"], payload["before"], payload["after"] = op, edited(before), edited(after)
	payload["source"].(map[string]any)["lsn"] = lsn
	value, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Value: value}
}

// A table whose owner dropped NOT NULL from the rule's columns, or an update that leaves a
// row the dispatcher cannot read (its id the nil UUID), must not leave the signal as it was
// counting: before, such an update was dead-lettered, the eeg it had been still counted, and
// the recording was processed once its accelerometer came, its eeg gone. And a row made good
// by an update completes its recording, where the update was dead-lettered too (its before,
// with the NULL, was held to the rules), as does an update undone.
func TestHandle_AnUpdateThatLeavesASignalUnusableStopsItCounting(t *testing.T) {
	var logged bytes.Buffer
	reg := prometheus.NewRegistry()
	h := dispatch.NewHandler(memstore.New(recording.DefaultRule()), dispatch.NewMetrics(reg), slog.New(slog.NewTextHandler(&logged, nil)))
	completed := func() float64 { return counter(t, reg, "dispatcher_recordings_completed_total") }
	eeg, accelerometer := "create-eeg.json", "create-accelerometer.json"
	good := map[string]any{}
	channels := []any{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}

	for _, tt := range []struct {
		name   string
		broken map[string]any
	}{
		{"channels NULL", map[string]any{"channels": nil}},
		{"sensor_type NULL", map[string]any{"sensor_type": nil}},
		{"sample_type NULL", map[string]any{"sample_type": nil}},
		{"the id the nil UUID", map[string]any{"id": "00000000-0000-0000-0000-000000000000"}},
		{"the recording NULL", map[string]any{"recording": nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := map[string]any{"recording": newID(t)}
			withRec := func(m map[string]any) map[string]any { r := maps.Clone(m); maps.Copy(r, rec); return r }
			broken := maps.Clone(rec)
			maps.Copy(broken, tt.broken)
			before := completed()
			if err := grouped(t, h,
				signalEvent(t, eeg, "c", 100, nil, withRec(good)),
				signalEvent(t, eeg, "u", 200, withRec(good), broken),
				signalEvent(t, accelerometer, "c", 300, nil, withRec(good)),
			); err != nil {
				t.Fatal(err)
			}
			if n := completed() - before; n != 0 {
				t.Fatalf("%v recordings processed, want none: the eeg was made unusable before the accelerometer came", n)
			}
			// Undone, the update leaves the eeg as it was: it counts again, and completes the
			// recording (the undo was dead-lettered, its before held to the rules).
			if err := grouped(t, h, signalEvent(t, eeg, "u", 400, broken, withRec(good))); err != nil {
				t.Fatal(err)
			}
			if n := completed() - before; n != 1 {
				t.Fatalf("%v recordings processed once the update was undone, want 1", n)
			}
		})
	}
	for _, msg := range []string{
		`msg="an update left a row of datastore.signal that cannot be read: the signal as it was no longer counts"`,
		`msg="an update made a row of datastore.signal that could not be read readable: the signal counts"`,
	} {
		if !strings.Contains(logged.String(), msg) {
			t.Errorf("no %s:\n%s", msg, logged.String())
		}
	}

	// The eeg inserted with its channels NULL does not count, and the update that fixes it,
	// its before NULL, completes the recording.
	rec := map[string]any{"recording": newID(t)}
	withRec := func(m map[string]any) map[string]any { r := maps.Clone(m); maps.Copy(r, rec); return r }
	before := completed()
	if err := grouped(t, h,
		signalEvent(t, accelerometer, "c", 100, nil, withRec(good)),
		signalEvent(t, eeg, "c", 200, nil, withRec(map[string]any{"channels": nil})),
	); err != nil {
		t.Fatal(err)
	}
	if n := completed() - before; n != 0 {
		t.Fatalf("%v recordings processed with the eeg's channels NULL, want none", n)
	}
	if err := grouped(t, h, signalEvent(t, eeg, "u", 300, withRec(map[string]any{"channels": nil}), withRec(map[string]any{"channels": channels}))); err != nil {
		t.Fatal(err)
	}
	if n := completed() - before; n != 1 {
		t.Fatalf("%v recordings processed once the eeg's channels were set, want 1", n)
	}
}

// grouped hands msgs to h as the signal group does: those Decode refuses are dead-lettered
// (kafkabus.Batches), and the others applied.
func grouped(t *testing.T, h *dispatch.Handler, msgs ...kafka.Message) error {
	t.Helper()
	var events []dispatch.Event
	for _, m := range msgs {
		if ev, err := dispatch.Decode(m); err == nil {
			events = append(events, ev)
		} else {
			t.Logf("dead-lettered: %v", err)
		}
	}
	return h.Handle(t.Context(), 0, events)
}

func newID(t *testing.T) string {
	t.Helper()
	return uuid.NewString()
}
