package dispatch_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/recording"
)

// The store and dead-letter sink here are this package's own interfaces played by recorders;
// the same handler runs against real Postgres and Kafka in cmd/dispatcher's tests.

type store struct {
	applied   [][]recording.Change
	truncated []int64
	err       error
}

func (s *store) Apply(_ context.Context, changes []recording.Change) (recording.Applied, error) {
	if s.err != nil {
		return recording.Applied{}, s.err
	}
	s.applied = append(s.applied, changes)
	return recording.Applied{}, nil
}

func (s *store) Truncate(_ context.Context, version int64) error {
	s.truncated = append(s.truncated, version)
	return s.err
}

type sink struct {
	msgs []kafka.Message
	err  error
}

func (d *sink) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	if d.err != nil {
		return d.err
	}
	d.msgs = append(d.msgs, msgs...)
	return nil
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "debezium", "testdata", "events", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func handler(st *store, dl *sink) (*dispatch.Handler, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return dispatch.NewHandler(st, dl, dispatch.NewMetrics(reg), slog.New(slog.DiscardHandler)), reg
}

func TestHandleBatch_DeadLettersUndecodableMessagesWithTheirOrigin(t *testing.T) {
	st, dl := &store{}, &sink{}
	h, reg := handler(st, dl)
	msgs := []kafka.Message{
		{Topic: "postgres.datastore.signal", Partition: 2, Offset: 41, Value: fixture(t, "datastore-signal/create-eeg.json")},
		{Topic: "postgres.datastore.signal", Partition: 2, Offset: 42, Value: []byte(`{"not": "debezium"}`), Key: []byte("k")},
		{Topic: "postgres.datastore.signal", Partition: 2, Offset: 43, Value: nil}, // tombstone
	}
	if err := h.HandleBatch(t.Context(), 2, msgs); err != nil {
		t.Fatal(err)
	}
	if len(dl.msgs) != 1 {
		t.Fatalf("dead-lettered %d messages, want 1", len(dl.msgs))
	}
	got := map[string]string{}
	for _, hd := range dl.msgs[0].Headers {
		got[hd.Key] = string(hd.Value)
	}
	if got[dispatch.HeaderTopic] != "postgres.datastore.signal" || got[dispatch.HeaderPartition] != "2" ||
		got[dispatch.HeaderOffset] != "42" || got[dispatch.HeaderError] == "" || string(dl.msgs[0].Key) != "k" {
		t.Fatalf("dead letter %v key %q", got, dl.msgs[0].Key)
	}
	if len(st.applied) != 1 || len(st.applied[0]) != 1 {
		t.Fatalf("applied %v, want the one good event", st.applied)
	}
	if n := counter(t, reg, "dispatcher_dead_lettered_total"); n != 1 {
		t.Fatalf("dead-letter metric %v", n)
	}
}

func TestHandleBatch_FailsWithoutCountingWhenTheDeadLetterWriteFails(t *testing.T) {
	st, dl := &store{}, &sink{err: errors.New("kafka down")}
	h, reg := handler(st, dl)
	err := h.HandleBatch(t.Context(), 0, []kafka.Message{{Value: []byte("garbage")}})
	if err == nil || !strings.Contains(err.Error(), "dead-letter") {
		t.Fatalf("want a dead-letter error so the batch is retried, got %v", err)
	}
	if n := counter(t, reg, "dispatcher_dead_lettered_total"); n != 0 {
		t.Fatalf("counted %v dead letters that were not written", n)
	}
}

func TestHandleBatch_FailsWhenTheStoreFails(t *testing.T) {
	st, dl := &store{err: errors.New("database down")}, &sink{}
	h, _ := handler(st, dl)
	if err := h.HandleBatch(t.Context(), 0, []kafka.Message{{Value: fixture(t, "datastore-signal/create-eeg.json")}}); err == nil {
		t.Fatal("want the store's error so the batch is retried")
	}
}

func TestHandleBatch_AppliesWhatCameBeforeATruncateFirst(t *testing.T) {
	st, dl := &store{}, &sink{}
	h, _ := handler(st, dl)
	msgs := []kafka.Message{
		{Value: fixture(t, "scratch/create-eeg.json")},
		{Value: fixture(t, "scratch/truncate.json")},
		{Value: fixture(t, "scratch/create-accelerometer.json")},
	}
	if err := h.HandleBatch(t.Context(), 0, msgs); err != nil {
		t.Fatal(err)
	}
	if len(st.applied) != 2 || len(st.truncated) != 1 {
		t.Fatalf("applied %d batches and %d truncates, want 2 around 1", len(st.applied), len(st.truncated))
	}
}

func TestHandleBatch_DeletesCarryTheSignalAndItsPosition(t *testing.T) {
	st, dl := &store{}, &sink{}
	h, _ := handler(st, dl)
	if err := h.HandleBatch(t.Context(), 0, []kafka.Message{{Value: fixture(t, "datastore-signal/delete-eeg.json")}}); err != nil {
		t.Fatal(err)
	}
	c := st.applied[0][0]
	if !c.Delete || c.Signal.Version == 0 || c.Signal.ID.String() == "00000000-0000-0000-0000-000000000000" {
		t.Fatalf("delete became %+v", c)
	}
}

// counter returns the value of the unlabelled counter name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
