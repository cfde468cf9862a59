package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/recording"
)

// The store here is this package's own interface played by a recorder; the same handler runs
// against real Postgres and Kafka in cmd/dispatcher's tests. Dead-lettering what Decode
// refuses is kafkabus.Batches' work, tested there.

type store struct {
	applied   [][]recording.Change
	truncated []int64
	err       error
	completes []recording.Complete // what each Apply reports completed
	// calls lists Apply's and Snapshot's calls in order: "apply P N" (N changes), "snapshot P LSN".
	calls     []string
	snapshots map[int]int64
}

func (s *store) Apply(_ context.Context, partition int, changes []recording.Change) (recording.Applied, error) {
	if s.err != nil {
		return recording.Applied{}, s.err
	}
	s.applied = append(s.applied, changes)
	s.calls = append(s.calls, fmt.Sprintf("apply %d %d", partition, len(changes)))
	return recording.Applied{Completed: s.completes}, nil
}

func (s *store) Snapshot(_ context.Context, partition int, version int64) (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	s.calls = append(s.calls, fmt.Sprintf("snapshot %d %d", partition, version))
	if s.snapshots == nil {
		s.snapshots = map[int]int64{}
	}
	recorded := s.snapshots[partition] < version
	s.snapshots[partition] = max(s.snapshots[partition], version)
	return recorded, nil
}

func (s *store) SnapshotRead(_ context.Context, partition int) error {
	s.calls = append(s.calls, fmt.Sprintf("read %d", partition))
	return s.err
}

func (s *store) Truncate(_ context.Context, version int64) (bool, error) {
	known := slices.Contains(s.truncated, version)
	s.truncated = append(s.truncated, version)
	return !known, s.err
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "debezium", "testdata", "events", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func handler(st *store) (*dispatch.Handler, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return dispatch.NewHandler(st, dispatch.NewMetrics(reg), slog.New(slog.DiscardHandler)), reg
}

// handle decodes msgs as the signal group does and hands them to h.
func handle(t *testing.T, h *dispatch.Handler, msgs ...kafka.Message) error {
	t.Helper()
	events := make([]dispatch.Event, len(msgs))
	for i, m := range msgs {
		ev, err := dispatch.Decode(m)
		if err != nil {
			t.Fatalf("decode message %d: %v", i, err)
		}
		events[i] = ev
	}
	return h.Handle(t.Context(), 0, events)
}

func TestDecode_RefusesWhatIsNotADebeziumEventAndAcceptsTombstones(t *testing.T) {
	if _, err := dispatch.Decode(kafka.Message{Value: []byte(`{"not": "debezium"}`)}); err == nil {
		t.Fatal("a foreign JSON object decoded")
	}
	if ev, err := dispatch.Decode(kafka.Message{Value: nil}); err != nil || !ev.Tombstone {
		t.Fatalf("tombstone: %+v %v", ev, err)
	}
	if ev, err := dispatch.Decode(kafka.Message{Value: fixture(t, "datastore-signal/create-eeg.json")}); err != nil || ev.Tombstone || ev.Change.After == nil {
		t.Fatalf("create: %+v %v", ev, err)
	}
}

func TestHandle_CountsEventsByOpOnlyOnceDurable(t *testing.T) {
	st := &store{}
	h, reg := handler(st)
	if err := handle(t, h, kafka.Message{Value: fixture(t, "datastore-signal/create-eeg.json")}, kafka.Message{Value: nil}); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, reg, "dispatcher_events_total"); n != 2 {
		t.Fatalf("counted %v events, want a create and a tombstone", n)
	}
	st.err = errors.New("database down")
	if err := handle(t, h, kafka.Message{Value: fixture(t, "datastore-signal/create-eeg.json")}); err == nil {
		t.Fatal("want the store's error so the batch is retried")
	}
	if n := counter(t, reg, "dispatcher_events_total"); n != 2 {
		t.Fatalf("counted %v events after a failed batch, want still 2", n)
	}
}

func TestHandle_FailsWhenTheStoreFails(t *testing.T) {
	h, _ := handler(&store{err: errors.New("database down")})
	if err := handle(t, h, kafka.Message{Value: fixture(t, "datastore-signal/create-eeg.json")}); err == nil {
		t.Fatal("want the store's error so the batch is retried")
	}
}

type batchFunc func(ctx context.Context, partition int, msgs []kafka.Message) error

func (f batchFunc) HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error {
	return f(ctx, partition, msgs)
}

// Every attempt the signal group's handler fails counts, whatever failed: the store, an
// attempt that outlived its timeout (its context ended, though the process goes on), or a
// dead-letter copy that could not be written before the batch was handed on. The alert
// NoRecordingProcessed reads the count: signals wait while batches fail.
func TestMetrics_CountedCountsEveryFailedAttempt(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := dispatch.NewMetrics(reg)
	timedOut, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-timedOut.Done()
	for i, c := range []struct {
		ctx  context.Context
		err  error
		want float64
	}{
		{t.Context(), nil, 0},
		{t.Context(), errors.New("apply: database down"), 1},
		{timedOut, timedOut.Err(), 2},
		{t.Context(), errors.New("copy to the dead-letter topic: broker away"), 3},
	} {
		h := m.Counted(batchFunc(func(context.Context, int, []kafka.Message) error { return c.err }))
		if err := h.HandleBatch(c.ctx, 0, nil); !errors.Is(err, c.err) {
			t.Fatalf("attempt %d: %v, want %v passed on", i, err, c.err)
		}
		if n := counter(t, reg, "dispatcher_batches_failed_total"); n != c.want {
			t.Fatalf("after attempt %d (%v): %v counted, want %v", i, c.err, n, c.want)
		}
	}
}

func TestHandle_AppliesWhatCameBeforeATruncateFirst(t *testing.T) {
	st := &store{}
	h, _ := handler(st)
	if err := handle(t, h,
		kafka.Message{Value: fixture(t, "scratch/create-eeg.json")},
		kafka.Message{Value: fixture(t, "scratch/truncate.json")},
		kafka.Message{Value: fixture(t, "scratch/create-accelerometer.json")},
	); err != nil {
		t.Fatal(err)
	}
	if len(st.applied) != 2 || len(st.truncated) != 1 {
		t.Fatalf("applied %d batches and %d truncates, want 2 around 1", len(st.applied), len(st.truncated))
	}
}

// A truncate is a warning when it is new, and said at info when it is read again (a batch
// redelivered, a new consumer group reading the topic from its start): one that replayed the
// topic's history warned of every truncate the table ever had, though nothing changed.
func TestHandle_WarnsOfATruncateOnlyTheFirstTime(t *testing.T) {
	st := &store{}
	var logged strings.Builder
	h := dispatch.NewHandler(st, dispatch.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(&logged, nil)))
	for range 2 {
		if err := handle(t, h, kafka.Message{Value: fixture(t, "scratch/truncate.json")}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `level=WARN msg="datastore.signal was truncated`) ||
		!strings.Contains(lines[1], `level=INFO msg="a truncate of datastore.signal read again, already recorded`) {
		t.Fatalf("logged:\n%s\nwant a warning, then the same truncate said at info", logged.String())
	}
}

// A delete carries its signal, its position and the recording it left: with REPLICA
// IDENTITY FULL the old row says it; with the default identity the row is a placeholder, and
// the recording is uuid.Nil.
func TestHandle_DeletesCarryTheSignalItsPositionAndTheRecordingItLeft(t *testing.T) {
	for path, full := range map[string]bool{"scratch/delete-eeg-replica-full.json": true, "datastore-signal/delete-eeg.json": false} {
		st := &store{}
		h, _ := handler(st)
		if err := handle(t, h, kafka.Message{Value: fixture(t, path)}); err != nil {
			t.Fatal(err)
		}
		c := st.applied[0][0]
		if !c.Delete || c.Signal.Version == 0 || c.Signal.ID == uuid.Nil || (c.Signal.Recording != uuid.Nil) != full {
			t.Fatalf("%s: delete became %+v, want the recording said: %t", path, c, full)
		}
	}
}

// family returns reg's metric family name.
func family(t *testing.T, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// counter returns the total of the counter name in reg, over its labels.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	var sum float64
	for _, m := range family(t, reg, name).GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// writes records each Write it is given.
type writes struct{ calls []string }

func (w *writes) Write(p []byte) (int, error) {
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func TestHandle_LogsTheRecordingsABatchCompletedInOneWrite(t *testing.T) {
	recs := []recording.Complete{
		{Recording: uuid.New(), EEGSignal: uuid.New(), AccelerometerSignal: uuid.New()},
		{Recording: uuid.New(), EEGSignal: uuid.New(), AccelerometerSignal: uuid.New()},
	}
	st := &store{completes: recs}
	out := &writes{}
	log, err := logging.New(out, logging.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := dispatch.NewHandler(st, dispatch.NewMetrics(prometheus.NewRegistry()), log)
	if err := handle(t, h, kafka.Message{Value: fixture(t, "datastore-signal/create-eeg.json")}); err != nil {
		t.Fatal(err)
	}
	if len(out.calls) != 1 {
		t.Fatalf("want the batch's lines in one write, got %d: %q", len(out.calls), out.calls)
	}
	lines := strings.Split(strings.TrimSuffix(out.calls[0], "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("want %d lines, got %q", len(recs), lines)
	}
	for i, c := range recs {
		want := fmt.Sprintf(`level=INFO msg="processing recording %s" recording=%s eeg_signal=%s accelerometer_signal=%s`,
			c.Recording, c.Recording, c.EEGSignal, c.AccelerometerSignal)
		if !strings.HasSuffix(lines[i], want) {
			t.Fatalf("line %d:\n got %s\nwant …%s", i, lines[i], want)
		}
	}
}

func TestDecode_AcceptsAnEventWhoseColumnsTheRuleDoesNotReadWouldNotParse(t *testing.T) {
	value := fixture(t, "datastore-signal/create-eeg.json")
	broken := bytes.Replace(value, []byte(`"data":"AACAPwAAAEAAAEBAAACAQA=="`), []byte(`"data":"not base64!"`), 1)
	if bytes.Equal(broken, value) {
		t.Fatal("the fixture's data column was not found")
	}
	ev, err := dispatch.Decode(kafka.Message{Value: broken})
	if err != nil {
		t.Fatalf("the event would go to the dead-letter topic: %v", err)
	}
	want, _ := dispatch.Decode(kafka.Message{Value: value})
	if ev.Change.After == nil || ev.Change.After.ID != want.Change.After.ID || ev.Change.After.SampleType != want.Change.After.SampleType {
		t.Fatalf("decoded %+v, want the rule's columns of %+v", ev.Change.After, want.Change.After)
	}
}

// An event that does not say when it was made (no source.ts_ms; Debezium always sets it) is
// taken as made now. Before, it was taken as made in 1970, so its recording was reported
// incomplete at once.
func TestHandle_AnEventWithoutItsTimeIsTakenAsMadeNow(t *testing.T) {
	value := fixture(t, "datastore-signal/create-eeg.json")
	stripped := regexp.MustCompile(`"ts_ms":\d+,?`).ReplaceAll(value, nil)
	st := &store{}
	h, _ := handler(st)
	before := time.Now()
	if err := handle(t, h, kafka.Message{Value: stripped}); err != nil {
		t.Fatal(err)
	}
	if len(st.applied) != 1 || st.applied[0][0].At.Before(before) {
		t.Fatalf("applied %+v, want the change taken as made now", st.applied)
	}
}

// An update that changes a signal's id within its recording comes as one event, the old id in
// its before: the old id is deleted and the new one upserted, at the event's position.
func TestHandle_AnUpdateOfASignalsIDDeletesTheOldID(t *testing.T) {
	var ev map[string]any
	if err := json.Unmarshal(fixture(t, "datastore-signal/update-eeg.json"), &ev); err != nil {
		t.Fatal(err)
	}
	payload := ev["payload"].(map[string]any)
	after := payload["after"].(map[string]any)
	before := maps.Clone(after)
	before["id"] = "f1c7a5e0-0001-4d1e-8b2e-0000000000aa"
	payload["before"] = before
	value, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{}
	h, _ := handler(st)
	if err := handle(t, h, kafka.Message{Value: value}); err != nil {
		t.Fatal(err)
	}
	if len(st.applied) != 1 || len(st.applied[0]) != 2 {
		t.Fatalf("applied %+v, want one batch of a delete and an upsert", st.applied)
	}
	del, up := st.applied[0][0], st.applied[0][1]
	if !del.Delete || del.Signal.ID.String() != before["id"] || up.Delete || up.Signal.ID.String() != after["id"] {
		t.Fatalf("applied %+v then %+v, want %s deleted then %s upserted", del, up, before["id"], after["id"])
	}
	if del.Signal.Version == 0 || del.Signal.Version != up.Signal.Version || !del.At.Equal(up.At) {
		t.Fatalf("the delete (%d, %s) and the upsert (%d, %s) are one event's: one position, one time",
			del.Signal.Version, del.At, up.Signal.Version, up.At)
	}

	// An update that moves the signal to another recording in one event (a topic keyed
	// otherwise than by recording) deletes it from the recording its before names.
	st = &store{}
	h, _ = handler(st)
	before["id"] = after["id"]
	before["recording"] = "f1c7a5e0-0001-4d1e-8b2e-0000000000bb"
	if value, err = json.Marshal(ev); err != nil {
		t.Fatal(err)
	}
	if err := handle(t, h, kafka.Message{Value: value}); err != nil {
		t.Fatal(err)
	}
	if del, up := st.applied[0][0], st.applied[0][1]; len(st.applied[0]) != 2 || !del.Delete || del.Signal.Recording.String() != before["recording"] ||
		del.Signal.ID != up.Signal.ID || up.Delete || up.Signal.Recording.String() != after["recording"] {
		t.Fatalf("applied %+v, want the signal deleted from %s, then upserted in %s", st.applied[0], before["recording"], after["recording"])
	}

	// An update that keeps the id and the recording is one upsert. Without its before
	// (REPLICA IDENTITY DEFAULT) it may have moved the signal from a recording it does not name.
	st = &store{}
	h, _ = handler(st)
	payload["before"] = maps.Clone(after)
	if value, err = json.Marshal(ev); err != nil {
		t.Fatal(err)
	}
	if err := handle(t, h, kafka.Message{Value: value}, kafka.Message{Value: fixture(t, "datastore-signal/update-eeg.json")}); err != nil {
		t.Fatal(err)
	}
	if a := st.applied[0]; len(a) != 2 || a[0].Delete || a[1].Delete || a[0].Moved || !a[1].Moved {
		t.Fatalf("applied %+v, want two upserts, the one without its before marked as maybe moved", a)
	}
}

// The start of a snapshot on a partition reaches the store before its first row there, after
// what came before it, and once: its rows in later batches do not announce it again, but a
// handler that did not see it (a restarted process) does, and the store says it knew. Its end
// (SnapshotRead) reaches the store before the partition's first change after its rows, and
// before a partition's first change in a process, in case the one before stopped in between.
func TestHandle_TheStartOfASnapshotReachesTheStoreBeforeItsRowsOnce(t *testing.T) {
	msg := func(name string) kafka.Message {
		return kafka.Message{Value: fixture(t, "scratch-schemaless/"+name)}
	}
	st := &store{}
	h, _ := handler(st)
	handleOn := func(h *dispatch.Handler, partition int, msgs ...kafka.Message) {
		t.Helper()
		events := make([]dispatch.Event, len(msgs))
		for i, m := range msgs {
			ev, err := dispatch.Decode(m)
			if err != nil {
				t.Fatal(err)
			}
			events[i] = ev
		}
		if err := h.Handle(t.Context(), partition, events); err != nil {
			t.Fatal(err)
		}
	}
	handleOn(h, 2, msg("create-eeg.json"), msg("snapshot-first-eeg.json"), msg("snapshot-accelerometer.json"))
	handleOn(h, 2, msg("snapshot-accelerometer.json"))
	handleOn(h, 1, msg("update-eeg.json"))
	handleOn(h, 2, msg("snapshot-accelerometer.json"), msg("update-eeg.json"), msg("create-eeg.json"))
	handleOn(h, 2, msg("update-eeg.json"))
	restarted, _ := handler(st)
	handleOn(restarted, 2, msg("snapshot-accelerometer.json"))
	handleOn(restarted, 2, msg("update-eeg.json"))
	want := []string{
		"read 2", "apply 2 1", "snapshot 2 27036960", "apply 2 2",
		"apply 2 1",
		"read 1", "apply 1 1",
		"apply 2 1", "read 2", "apply 2 2",
		"apply 2 1",
		"snapshot 2 27036960", "apply 2 1",
		"read 2", "apply 2 1",
	}
	if !slices.Equal(st.calls, want) {
		t.Fatalf("the store was called\n%s\nwant\n%s", strings.Join(st.calls, "\n"), strings.Join(want, "\n"))
	}
}
