package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// tapEvent is what the latency split needs of one change event on the topic.
type tapEvent struct {
	Signal, Recording uuid.UUID
	LSN               int64
	// Committed is source.ts_us, the commit time in Postgres; Emitted is the envelope's ts_us,
	// when Debezium handled the change; Kafka is the record's timestamp (CreateTime, set by
	// Kafka Connect's producer, in milliseconds); Fetched is when the tap's reader had it.
	Committed, Emitted, Kafka, Fetched time.Time
}

// tap reads a topic without a consumer group, from given offsets, and keeps the events of the
// recordings it is told to watch. It decodes only the few fields it needs.
type tap struct {
	brokers []string
	topic   string
	watch   func(uuid.UUID) bool

	mu     sync.Mutex
	events map[uuid.UUID]tapEvent // by signal
}

func newTap(brokers []string, topic string, watch func(uuid.UUID) bool) *tap {
	return &tap{brokers: brokers, topic: topic, watch: watch, events: map[uuid.UUID]tapEvent{}}
}

// Run reads every partition in from from its offset until ctx is done, then returns nil.
func (t *tap) Run(ctx context.Context, from map[int]int64) error {
	g, ctx := errgroup.WithContext(ctx)
	for partition, offset := range from {
		g.Go(func() error { return t.read(ctx, partition, offset) })
	}
	return g.Wait()
}

func (t *tap) read(ctx context.Context, partition int, offset int64) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: t.brokers, Topic: t.topic, Partition: partition,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return fmt.Errorf("tap %s/%d: seek to %d: %w", t.topic, partition, offset, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tap %s/%d: %w", t.topic, partition, err)
		}
		fetched := time.Now() // before decoding, which is the tap's cost, not Kafka's
		ev, ok := decodeTapEvent(m.Value)
		if !ok || !t.watch(ev.Recording) {
			continue
		}
		ev.Kafka, ev.Fetched = m.Time, fetched
		t.mu.Lock()
		t.events[ev.Signal] = ev
		t.mu.Unlock()
	}
}

// tapEnvelope is the part of a Debezium envelope the tap reads.
type tapEnvelope struct {
	After *struct {
		ID        uuid.UUID `json:"id"`
		Recording uuid.UUID `json:"recording"`
	} `json:"after"`
	Source struct {
		TsUs int64 `json:"ts_us"`
		LSN  int64 `json:"lsn"`
	} `json:"source"`
	TsUs int64 `json:"ts_us"`
}

// decodeTapEvent reads a create, read or update event, with the converter's schema (the
// envelope under "payload") or without (the envelope itself); anything else (deletes,
// truncates, other tests' poison messages) is skipped.
func decodeTapEvent(value []byte) (tapEvent, bool) {
	var msg struct {
		tapEnvelope
		Payload *tapEnvelope `json:"payload"`
	}
	if err := json.Unmarshal(value, &msg); err != nil {
		return tapEvent{}, false
	}
	p := &msg.tapEnvelope
	if msg.Payload != nil {
		p = msg.Payload
	}
	if p.After == nil {
		return tapEvent{}, false
	}
	return tapEvent{
		Signal: p.After.ID, Recording: p.After.Recording, LSN: p.Source.LSN,
		Committed: time.UnixMicro(p.Source.TsUs), Emitted: time.UnixMicro(p.TsUs),
	}, true
}

// Event returns the event of signal, if seen.
func (t *tap) Event(signal uuid.UUID) (tapEvent, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev, ok := t.events[signal]
	return ev, ok
}

// WaitFor waits until the events of all signals have been seen, or timeout passes.
func (t *tap) WaitFor(ctx context.Context, signals []uuid.UUID, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		missing := 0
		t.mu.Lock()
		for _, s := range signals {
			if _, ok := t.events[s]; !ok {
				missing++
			}
		}
		t.mu.Unlock()
		if missing == 0 {
			return nil
		}
		if sleep.For(ctx, 50*time.Millisecond) != nil {
			return errors.Join(fmt.Errorf("tap: %d of %d events not seen on %s", missing, len(signals), t.topic), ctx.Err())
		}
	}
}
