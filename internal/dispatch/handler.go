package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/debezium"
	"github.com/beacon/eventdispatch/internal/recording"
)

// Store is the dispatcher's durable state (internal/pgstore in production).
type Store interface {
	// Apply applies changes in order, atomically, running process_record for recordings
	// that become complete.
	Apply(ctx context.Context, changes []recording.Change) (recording.Applied, error)
	// Truncate forgets every signal changed before version.
	Truncate(ctx context.Context, version int64) error
}

// DeadLetters receives messages that cannot be decoded. A kafka.Writer with RequiredAcks
// set to all is the production implementation.
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Headers set on dead-lettered messages, beside the original key, value and headers.
const (
	HeaderError     = "dlq.error"
	HeaderTopic     = "dlq.original.topic"
	HeaderPartition = "dlq.original.partition"
	HeaderOffset    = "dlq.original.offset"
)

// Handler handles batches of the signal topic.
type Handler struct {
	store   Store
	dead    DeadLetters
	metrics *Metrics
	log     *slog.Logger
}

// NewHandler returns a Handler applying changes to store and dead-lettering to dead.
func NewHandler(store Store, dead DeadLetters, metrics *Metrics, log *slog.Logger) *Handler {
	return &Handler{store: store, dead: dead, metrics: metrics, log: log}
}

// HandleBatch decodes msgs, dead-letters the undecodable ones and applies the rest.
func (h *Handler) HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error {
	var dead []kafka.Message
	var changes []recording.Change
	var counts []string // ops, counted only once the batch is durable
	for _, m := range msgs {
		ch, err := debezium.DecodeSignalChange(m.Value)
		switch {
		case errors.Is(err, debezium.ErrTombstone):
			counts = append(counts, "tombstone")
			continue
		case err != nil:
			dead = append(dead, deadLetter(m, err))
			continue
		}
		counts = append(counts, string(ch.Op))
		if ch.Op == debezium.OpTruncate {
			// Everything before the truncate must be applied before it.
			if err := h.apply(ctx, changes); err != nil {
				return err
			}
			changes = nil
			if err := h.store.Truncate(ctx, ch.Source.LSN); err != nil {
				return err
			}
			h.log.Warn("datastore.signal was truncated: pending signals forgotten", "lsn", ch.Source.LSN)
			continue
		}
		changes = append(changes, toChange(ch))
	}
	if len(dead) > 0 {
		if err := h.dead.WriteMessages(ctx, dead...); err != nil {
			return fmt.Errorf("write %d messages to the dead-letter topic: %w", len(dead), err)
		}
	}
	if err := h.apply(ctx, changes); err != nil {
		return err
	}
	for _, m := range dead {
		h.metrics.deadLettered.Inc()
		h.log.Error("undecodable message sent to the dead-letter topic", "partition", partition,
			"offset", header(m, HeaderOffset), "error", header(m, HeaderError))
	}
	for _, op := range counts {
		h.metrics.events.WithLabelValues(op).Inc()
	}
	return nil
}

func (h *Handler) apply(ctx context.Context, changes []recording.Change) error {
	if len(changes) == 0 {
		return nil
	}
	start := time.Now()
	res, err := h.store.Apply(ctx, changes)
	if err != nil {
		return err
	}
	h.metrics.batchDuration.Observe(time.Since(start).Seconds())
	h.metrics.ignored.Add(float64(res.Ignored))
	for _, inv := range res.Invalid {
		h.log.Warn("signal has invalid values and will never qualify",
			"signal", inv.Signal.ID, "recording", inv.Signal.Recording, "sensor_type", inv.Signal.SensorType, "error", inv.Err)
	}
	for _, c := range res.Completed {
		h.metrics.completed.Inc()
		h.log.Info("processing recording "+c.Recording.String(),
			"recording", c.Recording, "eeg_signal", c.EEGSignal, "accelerometer_signal", c.AccelerometerSignal)
	}
	return nil
}

func toChange(ch debezium.Change) recording.Change {
	at := time.UnixMilli(ch.Source.TsMs)
	if ch.Op == debezium.OpDelete {
		return recording.Change{Delete: true, At: at, Signal: recording.Signal{ID: ch.Before.ID, Version: ch.Source.LSN}}
	}
	s := ch.After
	return recording.Change{At: at, Signal: recording.Signal{
		ID: s.ID, Recording: s.Recording, SensorType: s.SensorType, Channels: s.Channels,
		SampleType: s.SampleType, Version: ch.Source.LSN,
	}}
}

func deadLetter(m kafka.Message, cause error) kafka.Message {
	headers := append([]kafka.Header{}, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderError, Value: []byte(cause.Error())},
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
