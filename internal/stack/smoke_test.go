package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/stack"
)

const signalTopic = "postgres.datastore.signal"

// change is the part of a Debezium change event this test looks at. With the JSON converter's
// schemas enabled the event sits under "payload"; without, at the top level.
type change struct {
	Op    string `json:"op"`
	After *struct {
		ID         string `json:"id"`
		Recording  string `json:"recording"`
		SensorType string `json:"sensor_type"`
	} `json:"after"`
}

func decodeChange(value []byte) (change, error) {
	var wrapped struct {
		Payload *change `json:"payload"`
	}
	if err := json.Unmarshal(value, &wrapped); err != nil {
		return change{}, err
	}
	if wrapped.Payload != nil {
		return *wrapped.Payload, nil
	}
	var c change
	err := json.Unmarshal(value, &c)
	return c, err
}

func TestStack_InsertedSignalArrivesAsDebeziumCreateEvent(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka, stack.Debezium)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	db, err := pgx.Connect(ctx, ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.WithoutCancel(ctx))

	from := stack.EndOffsets(t, ep, signalTopic) // the event will come after what is there now
	id, recording := uuid.New(), uuid.New()
	_, err = db.Exec(ctx, `
		INSERT INTO datastore.signal (id, data, recording, span, sensor_label, sensor_type, channels,
			sample_unit, sample_resolution_in_unit, sample_offset_in_unit, sample_type, sample_rate)
		VALUES ($1, 'x'::bytea, $2, '[0,60000000000)', 'eeg', 'eeg',
			array['f7-o1', 'f8-o2', 'f8-f7', 'f8-o1', 'f7-o2'], 'microvolt', 1, 0, 'float32', 250)`,
		id, recording)
	if err != nil {
		t.Fatalf("insert signal: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(context.WithoutCancel(ctx), `DELETE FROM datastore.signal WHERE id = $1`, id)
	})

	got, err := findCreateEvent(ctx, ep.KafkaBrokers, from, id.String())
	if err != nil {
		t.Fatalf("no change event for signal %s on %s: %v", id, signalTopic, err)
	}
	if got.Op != "c" {
		t.Errorf("op = %q, want c", got.Op)
	}
	if got.After.Recording != recording.String() {
		t.Errorf("recording = %q, want %s", got.After.Recording, recording)
	}
	if got.After.SensorType != "eeg" {
		t.Errorf("sensor_type = %q, want eeg", got.After.SensorType)
	}
}

// findCreateEvent reads every partition of the signal topic from the offsets in from (from
// the start for a partition not in it), without a consumer group (so it leaves nothing
// behind), until it meets the event for signal id.
func findCreateEvent(ctx context.Context, brokers []string, from map[int]int64, id string) (change, error) {
	partitions, err := waitForPartitions(ctx, brokers[0])
	if err != nil {
		return change{}, err
	}
	found := make(chan change, len(partitions))
	g, gctx := errgroup.WithContext(ctx)
	searchCtx, stop := context.WithCancel(gctx)
	defer stop()
	for _, p := range partitions {
		g.Go(func() error {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: signalTopic, Partition: p.ID, MaxWait: 500 * time.Millisecond})
			defer r.Close()
			if off, ok := from[p.ID]; ok {
				if err := r.SetOffset(off); err != nil {
					return err
				}
			}
			for {
				msg, err := r.ReadMessage(searchCtx)
				if err != nil {
					if searchCtx.Err() != nil {
						return nil
					}
					return err
				}
				if msg.Value == nil {
					continue // tombstone
				}
				c, err := decodeChange(msg.Value)
				if err != nil {
					return err
				}
				if c.After != nil && c.After.ID == id {
					found <- c
					stop()
					return nil
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return change{}, err
	}
	select {
	case c := <-found:
		return c, nil
	default:
		return change{}, ctx.Err()
	}
}

// waitForPartitions waits for Debezium to have created the topic, which it does on its first event.
func waitForPartitions(ctx context.Context, broker string) ([]kafka.Partition, error) {
	for {
		conn, err := kafka.DialContext(ctx, "tcp", broker)
		if err != nil {
			return nil, err
		}
		partitions, err := conn.ReadPartitions(signalTopic)
		conn.Close()
		if err == nil && len(partitions) > 0 {
			return partitions, nil
		}
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// The database's other tables (the transcript, the dispatcher's state) write far more WAL than
// datastore.signal. Debezium confirms a position to its replication slot only when it has
// something to confirm, so without its heartbeat a quiet datastore.signal kept all that WAL
// on disk until the slot passed max_slot_wal_keep_size and Postgres invalidated it: change
// data capture stopped for good (bench-llm did it in minutes). With the heartbeat
// (heartbeat.interval.ms, heartbeat.action.query in debezium-connector.json) the slot
// follows the WAL while no signal changes.
func TestStack_SlotFollowsTheWALWhileNoSignalChanges(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Debezium)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	db, err := pgx.Connect(ctx, ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.WithoutCancel(ctx))

	// WAL that is none of the connector's business: a table of its own, written and dropped.
	table := pgx.Identifier{"public", "wal_" + strings.ReplaceAll(uuid.NewString(), "-", "")}.Sanitize()
	var written string
	err = db.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&written)
	if err == nil {
		_, err = db.Exec(ctx, `CREATE TABLE `+table+` AS SELECT g FROM generate_series(1, 10000) g; DROP TABLE `+table)
	}
	if err == nil {
		err = db.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&written)
	}
	if err != nil {
		t.Fatalf("write WAL: %v", err)
	}
	for {
		var confirmed bool
		err := db.QueryRow(ctx, `
			SELECT confirmed_flush_lsn >= $1::pg_lsn FROM pg_replication_slots WHERE slot_name = 'debezium_datastore_signal'`,
			written).Scan(&confirmed)
		switch {
		case err != nil && ctx.Err() == nil:
			t.Fatalf("read the slot: %v", err)
		case confirmed:
			return
		case ctx.Err() != nil:
			t.Fatalf("the slot has not confirmed WAL position %s within 60 s (Debezium's heartbeat is every 10 s)", written)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
