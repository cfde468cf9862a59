package debeziumpub

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/headband"
)

// MessageWriter sends messages and returns once they are stored. A writer from
// kafkabus.Bus.Writer is one, and partitions by key with murmur2 as Kafka Connect's producer
// does, so every event of a recording lands on one partition as the connector's would.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Connector-level values the events carry: the connector's topic prefix and the database.
const (
	connectorName = "postgres"
	database      = "beacon"
)

// Writer publishes one create event per signal. It implements the simulator's Writer and is
// safe for concurrent use.
type Writer struct {
	w                     MessageWriter
	valueSchema, keyValue []byte
	now                   func() time.Time

	mu        sync.Mutex
	lsn, txID int64
	published map[uuid.UUID]bool
}

// New returns a Writer sending through w the events of topic (postgres.datastore.signal for
// the dispatcher's default SIGNAL_TOPIC); topic also names the schemas, as the connector's
// do.
func New(w MessageWriter, topic string) *Writer {
	value, key := schemas(topic)
	return &Writer{
		w: w, valueSchema: value, keyValue: key, now: time.Now,
		lsn: time.Now().UnixMicro(), txID: 1000, published: map[uuid.UUID]bool{},
	}
}

// Insert publishes the create event of s. Like the Postgres writer's ON CONFLICT DO NOTHING,
// it reports false, without error, for a signal this Writer has already published.
func (w *Writer) Insert(ctx context.Context, s headband.Signal) (bool, error) {
	w.mu.Lock()
	if w.published[s.ID] {
		w.mu.Unlock()
		return false, nil
	}
	prev := w.lsn
	w.lsn += 8
	w.txID++
	lsn, txID := w.lsn, w.txID
	w.mu.Unlock()

	value, key, err := w.event(s, prev, lsn, txID)
	if err != nil {
		return false, fmt.Errorf("encode change event of signal %s: %w", s.ID, err)
	}
	if err := w.w.WriteMessages(ctx, kafka.Message{Key: key, Value: value}); err != nil {
		return false, fmt.Errorf("publish change event of signal %s: %w", s.ID, err)
	}
	w.mu.Lock()
	w.published[s.ID] = true
	w.mu.Unlock()
	return true, nil
}

// event encodes the message value and key of the insert of s, committed at lsn.
func (w *Writer) event(s headband.Signal, lastCommitLSN, lsn, txID int64) (value, key []byte, err error) {
	committed := w.now().UTC()
	emitted := w.now().UTC()
	env := envelope{
		After: &row{
			ID: s.ID.String(), Recording: s.Recording.String(), Span: []byte(s.Span.String()),
			SensorLabel: s.SensorLabel, SensorType: s.SensorType, Channels: s.Channels, SampleUnit: s.SampleUnit,
			SampleResolutionInUnit: double(s.SampleResolution), SampleOffsetInUnit: double(s.SampleOffset),
			SampleType: string(s.SampleType), SampleRate: double(s.SampleRate),
			InsertedAt: committed.Format("2006-01-02T15:04:05.000000Z"),
		},
		Source: source{
			Version: "simulated", Connector: "postgresql", Name: connectorName,
			TsMs: committed.UnixMilli(), Snapshot: "false", DB: database,
			Sequence: fmt.Sprintf(`["%d","%d"]`, lastCommitLSN, lsn),
			TsUs:     committed.UnixMicro(), TsNs: committed.UnixNano(),
			Schema: "datastore", Table: "signal", TxID: txID, LSN: lsn,
		},
		Op:   "c",
		TsMs: emitted.UnixMilli(), TsUs: emitted.UnixMicro(), TsNs: emitted.UnixNano(),
	}
	if s.Channels == nil {
		env.After.Channels = []string{}
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return nil, nil, err
	}
	value, err = json.Marshal(message{Schema: w.valueSchema, Payload: payload})
	if err != nil {
		return nil, nil, err
	}
	keyPayload, err := json.Marshal(struct {
		Recording string `json:"recording"`
	}{s.Recording.String()})
	if err != nil {
		return nil, nil, err
	}
	key, err = json.Marshal(message{Schema: w.keyValue, Payload: keyPayload})
	return value, key, err
}

// message is JsonConverter's form with schemas enabled.
type message struct {
	Schema  json.RawMessage `json:"schema"`
	Payload json.RawMessage `json:"payload"`
}

// envelope is Debezium's change event, fields in the connector's order.
type envelope struct {
	Before      *row      `json:"before"`
	After       *row      `json:"after"`
	Source      source    `json:"source"`
	Transaction *struct{} `json:"transaction"`
	Op          string    `json:"op"`
	TsMs        int64     `json:"ts_ms"`
	TsUs        int64     `json:"ts_us"`
	TsNs        int64     `json:"ts_ns"`
}

// row is a datastore.signal row as the connector encodes it; []byte becomes base64.
type row struct {
	ID                     string   `json:"id"`
	Recording              string   `json:"recording"`
	Span                   []byte   `json:"span"`
	SensorLabel            string   `json:"sensor_label"`
	SensorType             string   `json:"sensor_type"`
	Channels               []string `json:"channels"`
	SampleUnit             string   `json:"sample_unit"`
	SampleResolutionInUnit double   `json:"sample_resolution_in_unit"`
	SampleOffsetInUnit     double   `json:"sample_offset_in_unit"`
	SampleType             string   `json:"sample_type"`
	SampleRate             double   `json:"sample_rate"`
	InsertedAt             string   `json:"inserted_at"`
}

type source struct {
	Version   string  `json:"version"`
	Connector string  `json:"connector"`
	Name      string  `json:"name"`
	TsMs      int64   `json:"ts_ms"`
	Snapshot  string  `json:"snapshot"`
	DB        string  `json:"db"`
	Sequence  string  `json:"sequence"`
	TsUs      int64   `json:"ts_us"`
	TsNs      int64   `json:"ts_ns"`
	Schema    string  `json:"schema"`
	Table     string  `json:"table"`
	TxID      int64   `json:"txId"`
	LSN       int64   `json:"lsn"`
	Xmin      *int64  `json:"xmin"`
	Origin    *string `json:"origin"`
	OriginLSN *int64  `json:"origin_lsn"`
}

// double is a float64 written as Kafka Connect writes doubles: always with a fraction
// (1.0, not 1).
type double float64

func (d double) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(d), 'g', -1, 64)
	for _, c := range b {
		if c == '.' || c == 'e' || c == 'E' || c == 'N' || c == 'I' {
			return json.Marshal(float64(d)) // fractions, exponents; NaN and Inf fail as in encoding/json
		}
	}
	return append(b, '.', '0'), nil
}
