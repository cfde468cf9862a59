package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/debezium"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/recording"
)

// Store is the dispatcher's durable state (internal/pgstore in production).
type Store interface {
	// Apply applies changes read from partition in order, atomically, running process_record
	// for recordings that become complete. The store remembers which partition each pending
	// recording's changes come through, for Snapshot.
	Apply(ctx context.Context, partition int, changes []recording.Change) (recording.Applied, error)
	// Snapshot records that a snapshot of the whole table at version begins on partition
	// (debezium.Change.ReadsTheWholeTable), before its first row there is applied: every
	// signal set before version, of the pending recordings whose changes come through
	// partition, counts as absent from then on, unless the snapshot reads it again
	// (recording.Ledger.Sweep). The recordings stay pending, their first signal's time kept,
	// for the snapshot's rows that bring their signals back; one left with no signal present
	// is neither counted nor reported (Watcher) until SnapshotRead. It reports whether the
	// snapshot's start on partition is new to the store: one read again (a batch redelivered,
	// a new consumer group), or an older one, changes nothing, so that what came after it is
	// not swept away. It also forgets, as SnapshotRead does, what an earlier snapshot left on
	// partition whose end was not said (a dispatcher stopped in between).
	Snapshot(ctx context.Context, partition int, version int64) (recorded bool, err error)
	// SnapshotRead says that no snapshot's rows are left to apply on partition (its next
	// change is not one): the pending recordings of partition still without a signal present
	// were not read again, and wait for nothing. The handler says it at a partition's first
	// change after a snapshot's rows, and at its first change in a process, in case the
	// process before stopped in between. Saying it again does nothing more.
	SnapshotRead(ctx context.Context, partition int) error
	// Truncate records a truncate of the source table at version: every signal set before it
	// counts as absent for changes after it. It reports whether the truncate is new to the
	// store: one read again (a batch redelivered, a new consumer group reading the topic from
	// its start) changes nothing.
	Truncate(ctx context.Context, version int64) (recorded bool, err error)
}

// Event is one decoded message of the signal topic: a change, or a tombstone (the connector's
// empty follow-up to a delete, with nothing to apply).
type Event struct {
	Change    debezium.Change
	Tombstone bool
}

// Decode decodes a message of the signal topic, reading only the columns completeness
// depends on (debezium.DecodeRuleChange). An error means the message can never be applied: it
// belongs in the dead-letter topic (see kafkabus.Batches).
func Decode(m kafka.Message) (Event, error) {
	ch, err := debezium.DecodeRuleChange(m.Value)
	if errors.Is(err, debezium.ErrTombstone) {
		return Event{Tombstone: true}, nil
	}
	if err != nil {
		return Event{}, err
	}
	return Event{Change: ch}, nil
}

// Handler applies batches of decoded signal events.
type Handler struct {
	store   Store
	metrics *Metrics
	log     *slog.Logger

	mu        sync.Mutex
	snapshots map[int]snapshotState // by partition
}

// snapshotState is what a Handler knows of a partition's snapshots.
type snapshotState struct {
	// started is the position of the last snapshot whose start the store has recorded, so
	// that its rows in later batches do not ask again.
	started int64
	// settled is set once the store has been told that no snapshot's rows are left to apply
	// (SnapshotRead), since that snapshot started or this process did.
	settled bool
}

// NewHandler returns a Handler applying changes to store.
func NewHandler(store Store, metrics *Metrics, log *slog.Logger) *Handler {
	return &Handler{store: store, metrics: metrics, log: log, snapshots: map[int]snapshotState{}}
}

// Handle applies one partition's events in order and returns nil once their effects are
// durable; only then are they counted.
func (h *Handler) Handle(ctx context.Context, partition int, events []Event) error {
	changes := make([]recording.Change, 0, len(events))
	counts := map[string]int{} // events by op, counted only once the batch is durable
	// A partition's batches come one at a time: its snapshots' state is read once.
	snap := h.snapshotState(partition)
	for _, ev := range events {
		if ev.Tombstone {
			counts[tombstoneOp]++
			continue
		}
		ch := ev.Change
		counts[string(ch.Op)]++
		whole := ch.ReadsTheWholeTable()
		if !whole && !snap.settled {
			// No snapshot's rows are left before this change: once what came before it is
			// applied, the store is told.
			if err := h.apply(ctx, partition, changes); err != nil {
				return err
			}
			changes = nil
			if err := h.store.SnapshotRead(ctx, partition); err != nil {
				return err
			}
			snap.settled = true
			h.setSnapshotState(partition, snap)
		}
		if whole && snap.started < ch.Source.LSN {
			// Everything before the snapshot's first row must be applied before its start.
			if err := h.apply(ctx, partition, changes); err != nil {
				return err
			}
			changes = nil
			if err := h.startSnapshot(ctx, partition, ch.Source.LSN); err != nil {
				return err
			}
			snap = snapshotState{started: ch.Source.LSN}
			h.setSnapshotState(partition, snap)
		}
		if ch.Op == debezium.OpTruncate {
			// Everything before the truncate must be applied before it.
			if err := h.apply(ctx, partition, changes); err != nil {
				return err
			}
			changes = nil
			recorded, err := h.store.Truncate(ctx, ch.Source.LSN)
			if err != nil {
				return err
			}
			if recorded {
				h.log.Warn("datastore.signal was truncated: signals from before it no longer count", "lsn", ch.Source.LSN)
			} else {
				h.log.Info("a truncate of datastore.signal read again, already recorded: nothing changes", "lsn", ch.Source.LSN)
			}
			continue
		}
		switch {
		case ch.Unreadable != nil && ch.After == nil:
			h.log.Warn("an update left a row of datastore.signal that cannot be read: the signal as it was no longer counts",
				"signal", ch.Before.ID, "recording", ch.Before.Recording, "lsn", ch.Source.LSN, "error", ch.Unreadable)
		case ch.Unreadable != nil:
			h.log.Info("an update made a row of datastore.signal that could not be read readable: the signal counts",
				"signal", ch.After.ID, "recording", ch.After.Recording, "lsn", ch.Source.LSN, "was", ch.Unreadable)
		}
		changes = appendChanges(changes, ch)
	}
	if err := h.apply(ctx, partition, changes); err != nil {
		return err
	}
	for op, n := range counts {
		h.metrics.events.WithLabelValues(op).Add(float64(n))
	}
	return nil
}

func (h *Handler) snapshotState(partition int) snapshotState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshots[partition]
}

func (h *Handler) setSnapshotState(partition int, st snapshotState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snapshots[partition] = st
}

// startSnapshot has the store record the start of the snapshot at version on partition.
func (h *Handler) startSnapshot(ctx context.Context, partition int, version int64) error {
	recorded, err := h.store.Snapshot(ctx, partition, version)
	if err != nil {
		return err
	}
	if recorded {
		// At the connector's first start too, when there is nothing before it to sweep.
		h.log.Info("a snapshot of datastore.signal begins on this partition: the signals of its pending recordings count again only as the snapshot reads them",
			"partition", partition, "lsn", version)
	} else {
		h.log.Info("the start of a snapshot of datastore.signal read again, already recorded: nothing changes", "partition", partition, "lsn", version)
	}
	return nil
}

func (h *Handler) apply(ctx context.Context, partition int, changes []recording.Change) error {
	if len(changes) == 0 {
		return nil
	}
	start := time.Now()
	res, err := h.store.Apply(ctx, partition, changes)
	if err != nil {
		return err
	}
	h.metrics.batchDuration.Observe(time.Since(start).Seconds())
	h.metrics.ignored.Add(float64(res.Ignored))
	for _, inv := range res.Invalid {
		h.log.Warn("signal has invalid values and does not qualify as it stands (an update that fixes it is judged again)",
			"signal", inv.Signal.ID, "recording", inv.Signal.Recording, "sensor_type", inv.Signal.SensorType, "error", inv.Err)
	}
	// A backlog's batch completes a thousand recordings: their lines go out in one write.
	release := logging.Hold(h.log)
	defer release()
	for _, c := range res.Completed {
		// Strings, not the UUIDs: the same text, without slog's reflection on a TextMarshaler.
		rec := c.Recording.String()
		h.log.Info("processing recording "+rec,
			"recording", rec, "eeg_signal", c.EEGSignal.String(), "accelerometer_signal", c.AccelerometerSignal.String())
	}
	h.metrics.completed.Add(float64(len(res.Completed)))
	return nil
}

// appendChanges appends what ch does to the signals to changes: one change, or two for an
// update whose old row is in another recording or has another id. The connector keys by
// recording (see deploy/local), so Debezium sends a move to another recording as a delete
// under the old key and a create under the new one, and an id changed within its recording as
// one update whose before holds the old id. Keyed otherwise, a move is one update: either way
// the old row is deleted from its recording, at the same source position, before the new one
// is upserted. An update without its old row (REPLICA IDENTITY DEFAULT) may have moved the
// signal from a recording it does not name (recording.Change.Moved).
func appendChanges(changes []recording.Change, ch debezium.Change) []recording.Change {
	at := time.UnixMilli(ch.Source.TsMs)
	if ch.Source.TsMs <= 0 {
		// Debezium always says when; an event that does not is taken as made now, not in
		// 1970, which would report its recording incomplete at once.
		at = time.Now()
	}
	deleted := func(old *debezium.Signal) recording.Change {
		// A placeholder row's recording is uuid.Nil: the delete did not say it.
		return recording.Change{Delete: true, At: at, Signal: recording.Signal{ID: old.ID, Recording: old.Recording, Version: ch.Source.LSN}}
	}
	if ch.After == nil {
		// An update whose new row cannot be read (debezium.Change.Unreadable) did away with
		// the old one all the same: left counting, it completed a recording that its row no
		// longer could.
		return append(changes, deleted(ch.Before))
	}
	s := ch.After
	moved := false
	if ch.Op == debezium.OpUpdate {
		switch b := ch.Before; {
		case b == nil:
			// Unless its old row could not be read, which never counted anywhere.
			moved = ch.Unreadable == nil
		case b.ID != s.ID || b.Recording != s.Recording:
			changes = append(changes, deleted(b))
		}
	}
	return append(changes, recording.Change{At: at, Moved: moved, Signal: recording.Signal{
		ID: s.ID, Recording: s.Recording, SensorType: s.SensorType, Channels: s.Channels,
		SampleType: s.SampleType, Version: ch.Source.LSN,
	}})
}

// Counted wraps the signal group's whole handler (decoding, dead letters, Handle) so that
// every batch attempt it fails counts in dispatcher_batches_failed_total: a store that errs or
// hangs past the attempt's timeout, and a dead-letter copy that cannot be written, alike.
func (m *Metrics) Counted(next consumer.Handler) consumer.Handler {
	return counted{next: next, failed: m.failed}
}

type counted struct {
	next   consumer.Handler
	failed prometheus.Counter
}

func (c counted) HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error {
	err := c.next.HandleBatch(ctx, partition, msgs)
	if err != nil {
		c.failed.Inc()
	}
	return err
}
