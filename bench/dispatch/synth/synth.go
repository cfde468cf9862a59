// Package synth makes Debezium change events for datastore.signal without a database, to put
// a large backlog on a topic quickly. Events captured from the real datastore-signal connector
// (internal/debezium/testdata) are the templates: only the row's id and recording, the source
// position (lsn, txId, sequence) and the timestamps are replaced, so everything else — the
// schema, field order, number formats — is byte for byte what the connector emitted when they
// were captured, with or without the converter's schema. (It left the samples, the data column
// of 8 to 24 bytes here, out only later: column.exclude.list.) Keys are the connector's keys, by recording
// (message.key.columns).
package synth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Change is what differs between synthetic create events.
type Change struct {
	// Signal is the row's id, Recording its recording.
	Signal, Recording uuid.UUID
	// LSN is source.lsn (also both entries of source.sequence); TxID is source.txId.
	LSN, TxID int64
	// Committed is the commit time in the source: source.ts_ms/ts_us/ts_ns and inserted_at.
	Committed time.Time
	// Emitted is when Debezium handled the change: the envelope's ts_ms/ts_us/ts_ns.
	Emitted time.Time
}

// Factory renders create events of eeg and accelerometer rows.
type Factory struct {
	eeg, accelerometer template
	eegKey, accKey     template
}

// Captured fixtures used as templates, relative to the testdata directory.
const (
	eegEvent = "events/datastore-signal/create-eeg.json"
	accEvent = "events/datastore-signal/create-accelerometer.json"
	eegKey   = "keys/datastore-signal/create-eeg.json"
	accKey   = "keys/datastore-signal/create-accelerometer.json"
)

// Load reads the captured create events and their keys from testdata (the directory
// internal/debezium/testdata of this repository). With schemas, values are the connector's
// messages with JsonConverter's schemas enabled, as captured; without, the captured payload
// alone, which is what the converter writes with value.converter.schemas.enable=false (the
// local stack's and k8s/'s setting). Keys keep their schema either way, as the connector's do.
func Load(testdata string, schemas bool) (*Factory, error) {
	var f Factory
	value := func(src []byte) (template, error) { return compileValue(src, schemas) }
	for _, t := range []struct {
		path  string
		into  *template
		parse func([]byte) (template, error)
	}{
		{eegEvent, &f.eeg, value},
		{accEvent, &f.accelerometer, value},
		{eegKey, &f.eegKey, compileKey},
		{accKey, &f.accKey, compileKey},
	} {
		src, err := os.ReadFile(filepath.Join(testdata, t.path))
		if err != nil {
			return nil, fmt.Errorf("read template: %w", err)
		}
		if *t.into, err = t.parse(src); err != nil {
			return nil, fmt.Errorf("template %s: %w", t.path, err)
		}
	}
	return &f, nil
}

// compileValue compiles a captured value with schemas into a template of it, or without
// schemas of its payload alone.
func compileValue(src []byte, schemas bool) (template, error) {
	fields, err := valueFields(src)
	if err != nil {
		return template{}, err
	}
	if !schemas {
		var env struct {
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(src, &env); err != nil {
			return template{}, err
		}
		src = env.Payload
	}
	return compile(src, fields)
}

// valueFields finds the slots of a captured create event with schemas.
func valueFields(src []byte) ([]field, error) {
	var env struct {
		Payload struct {
			After  map[string]json.RawMessage `json:"after"`
			Source map[string]json.RawMessage `json:"source"`
			TsMs   json.RawMessage            `json:"ts_ms"`
			TsUs   json.RawMessage            `json:"ts_us"`
			TsNs   json.RawMessage            `json:"ts_ns"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(src, &env); err != nil {
		return nil, err
	}
	p := env.Payload
	if p.After == nil || p.Source == nil {
		return nil, errors.New("not a create event with schemas: no payload.after or payload.source")
	}
	return []field{
		{slotID, "id", p.After["id"]},
		{slotRecording, "recording", p.After["recording"]},
		{slotInsertedAt, "inserted_at", p.After["inserted_at"]},
		{slotSourceTsMs, "ts_ms", p.Source["ts_ms"]},
		{slotSourceTsUs, "ts_us", p.Source["ts_us"]},
		{slotSourceTsNs, "ts_ns", p.Source["ts_ns"]},
		{slotSequence, "sequence", p.Source["sequence"]},
		{slotTxID, "txId", p.Source["txId"]},
		{slotLSN, "lsn", p.Source["lsn"]},
		{slotTsMs, "ts_ms", p.TsMs},
		{slotTsUs, "ts_us", p.TsUs},
		{slotTsNs, "ts_ns", p.TsNs},
	}, nil
}

func compileKey(src []byte) (template, error) {
	var key struct {
		Payload map[string]json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(src, &key); err != nil {
		return template{}, err
	}
	return compile(src, []field{{slotRecording, "recording", key.Payload["recording"]}})
}

// EEG returns the key and value of the create event of an eeg row with the five channels.
func (f *Factory) EEG(c Change) (key, value []byte) {
	return f.eegKey.render(nil, c.values), f.eeg.render(nil, c.values)
}

// Accelerometer returns the key and value of the create event of an accelerometer row.
func (f *Factory) Accelerometer(c Change) (key, value []byte) {
	return f.accKey.render(nil, c.values), f.accelerometer.render(nil, c.values)
}

// values appends the JSON value of slot s to dst.
func (c Change) values(dst []byte, s slot) []byte {
	switch s {
	case slotID:
		return strconv.AppendQuote(dst, c.Signal.String())
	case slotRecording:
		return strconv.AppendQuote(dst, c.Recording.String())
	case slotInsertedAt:
		return strconv.AppendQuote(dst, c.Committed.UTC().Format("2006-01-02T15:04:05.000000Z"))
	case slotSourceTsMs:
		return strconv.AppendInt(dst, c.Committed.UnixMilli(), 10)
	case slotSourceTsUs:
		return strconv.AppendInt(dst, c.Committed.UnixMicro(), 10)
	case slotSourceTsNs:
		return strconv.AppendInt(dst, c.Committed.UnixMicro()*1000, 10) // Postgres has microseconds
	case slotSequence:
		lsn := strconv.FormatInt(c.LSN, 10)
		return strconv.AppendQuote(dst, `["`+lsn+`","`+lsn+`"]`)
	case slotTxID:
		return strconv.AppendInt(dst, c.TxID, 10)
	case slotLSN:
		return strconv.AppendInt(dst, c.LSN, 10)
	case slotTsMs:
		return strconv.AppendInt(dst, c.Emitted.UnixMilli(), 10)
	case slotTsUs:
		return strconv.AppendInt(dst, c.Emitted.UnixMicro(), 10)
	case slotTsNs:
		return strconv.AppendInt(dst, c.Emitted.UnixNano(), 10)
	}
	panic(fmt.Sprintf("synth: unknown slot %d", s))
}
