package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// The capture's gap, as the runbook's "Capture stopped" tells it, on a database, connector,
// slot and topic of the test's own: the connector is stopped, its replication slot dropped
// (as after Postgres invalidated it), and rows change meanwhile. Started again, Debezium
// finds its position gone and reads the table again as a snapshot, which sends the rows there
// are and nothing of the gap's delete. Two recordings whose eeg the gap deleted are not
// processed with it when an accelerometer comes after the snapshot: one whose other row the
// snapshot reads, and one of which it reads nothing (the runbook's probe). A recording the gap
// completed is processed from the snapshot.
func TestDispatcher_ASnapshotAfterALostSlotDoesNotCountWhatTheGapDeleted(t *testing.T) {
	e := setup(t)
	gap := newOwnCapture(t, e)
	d := gap.env.start("DATABASE_URL="+gap.url, "SIGNAL_TOPIC="+gap.topic, "CAPTURE_HEARTBEAT_TOPIC="+gap.heartbeat)
	defer e.stop(d)

	read, unread, done := uuid.New(), uuid.New(), uuid.New()
	deleted := []uuid.UUID{gap.env.insert(read, "eeg", eegChannels), gap.env.insert(unread, "eeg", eegChannels)}
	gap.env.insert(read, "ppg", []string{"a"})
	gap.env.insert(done, "eeg", eegChannels)
	// A partition the snapshot sends no row to is not swept (dispatch.Store.Snapshot): rows of
	// other recordings, so that each of the topic's three partitions has some (all but
	// certainly: one has none with a chance of 3·(2/3)^40, about 3·10⁻⁷).
	for range 40 {
		gap.env.insert(uuid.New(), "ppg", []string{"a"})
	}
	gap.env.settle()

	gap.stopCaptureAndDropItsSlot()
	if _, err := gap.db.Exec(t.Context(), `DELETE FROM datastore.signal WHERE id = ANY($1)`, deleted); err != nil {
		t.Fatal(err)
	}
	acc := gap.env.insert(done, "accelerometer", accChannels)
	gap.connect("PUT", "/resume", nil)

	if got := gap.env.waitProcessed(90*time.Second, done)[done]; got.acc != acc {
		t.Fatalf("the recording the gap completed was processed with accelerometer %s, want %s", got.acc, acc)
	}
	var started int
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		err := gap.db.QueryRow(t.Context(), `SELECT count(DISTINCT kafka_partition) FROM dispatcher.signal_snapshot`).Scan(&started)
		return err == nil && started == 3
	}, func() string { return fmt.Sprintf("the snapshot began on %d of the 3 partitions", started) })
	gap.waitApplied(gap.env.insert(read, "accelerometer", accChannels), gap.env.insert(unread, "accelerometer", accChannels))
	if got := gap.env.processed(read, unread); len(got) != 0 {
		t.Fatalf("processed with the eegs deleted in the gap (%s): %+v", deleted, got)
	}
	eeg := gap.env.insert(read, "eeg", eegChannels)
	if got := gap.env.waitProcessed(30*time.Second, read)[read]; got.eeg != eeg {
		t.Fatalf("processed with eeg %s, want the new one, %s", got.eeg, eeg)
	}
}

// ownCapture is a database of a test's own, captured by a connector of its own (the local
// stack's config, deploy/local/debezium-connector.json, with its own names) to a topic of its
// own; env is the test's env on that database. All of it is removed when the test ends.
type ownCapture struct {
	t   *testing.T
	env *env
	url string
	db  *pgx.Conn
	// name is the connector's, slot its replication slot's and its publication's.
	name, slot       string
	topic, heartbeat string
	connectURL       string
}

func newOwnCapture(t *testing.T, e *env) *ownCapture {
	t.Helper()
	url := stack.FreshDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	pool := stack.Pool(t, url)
	own := *e
	own.db = pool
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	c := &ownCapture{
		t: t, env: &own, url: url, db: conn,
		name: "test-capture-" + suffix, slot: "test_capture_" + suffix,
		topic: "test-capture-" + suffix + ".datastore.signal", heartbeat: "__debezium-heartbeat.test-capture-" + suffix,
		connectURL: e.ep.ConnectURL,
	}
	raw, err := os.ReadFile("../../deploy/local/debezium-connector.json")
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(raw, &config); err != nil {
		t.Fatal(err)
	}
	delete(config, "name")
	config["database.dbname"] = cfg.Database
	config["topic.prefix"] = "test-capture-" + suffix
	config["slot.name"] = c.slot
	config["publication.name"] = c.slot
	t.Cleanup(c.remove)
	c.connect("PUT", "/config", config)
	c.waitState("RUNNING")
	return c
}

// connect calls Connect's REST API on the connector: method, the path after its name, a body
// to send as JSON or nil.
func (c *ownCapture) connect(method, path string, body any) {
	c.t.Helper()
	if err := c.call(method, path, body); err != nil {
		c.t.Fatal(err)
	}
}

func (c *ownCapture) call(method, path string, body any) error {
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.connectURL+"/connectors/"+c.name+path, in)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(res.Body)
	gone := method == "DELETE" && res.StatusCode == http.StatusNotFound // deleted already
	if res.StatusCode >= 300 && !gone {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, msg)
	}
	return nil
}

// waitState waits until the connector, and every task it has, is in state.
func (c *ownCapture) waitState(state string) {
	c.t.Helper()
	var last string
	kafkatest.Eventually(c.t, 60*time.Second, func() bool {
		// Each read bounded, so that one Connect does not answer ends at the wait's bound.
		ctx, cancel := context.WithTimeout(c.t.Context(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.connectURL+"/connectors/"+c.name+"/status", nil)
		if err != nil {
			last = err.Error()
			return false
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		defer res.Body.Close()
		var st struct {
			Connector struct{ State string }   `json:"connector"`
			Tasks     []struct{ State string } `json:"tasks"`
		}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%+v", st)
		for _, task := range st.Tasks {
			if task.State != state {
				return false
			}
		}
		return st.Connector.State == state && (state == "STOPPED" || len(st.Tasks) > 0)
	}, func() string { return "connector " + c.name + " not " + state + ": " + last })
}

// waitApplied waits until the dispatcher has applied the insert of each of signals: it has
// the signal's state, or processed its recording with it (and kept no state of it).
func (c *ownCapture) waitApplied(signals ...uuid.UUID) {
	c.t.Helper()
	var n int
	kafkatest.Eventually(c.t, 30*time.Second, func() bool {
		err := c.db.QueryRow(c.t.Context(), `
			SELECT count(*) FROM unnest($1::uuid[]) AS u(id)
			WHERE EXISTS (SELECT 1 FROM dispatcher.signal_state WHERE signal = u.id AND NOT deleted)
			   OR EXISTS (SELECT 1 FROM dispatcher.processed_recording WHERE u.id IN (eeg_signal, accelerometer_signal))`,
			signals).Scan(&n)
		return err == nil && n == len(signals)
	}, func() string { return fmt.Sprintf("%d of %d signals applied", n, len(signals)) })
}

// stopCaptureAndDropItsSlot stops the connector (its task closes its replication connection)
// and drops its slot once no one holds it, as an operator does for a slot Postgres invalidated.
func (c *ownCapture) stopCaptureAndDropItsSlot() {
	c.t.Helper()
	c.connect("PUT", "/stop", nil)
	c.waitState("STOPPED")
	var last error
	kafkatest.Eventually(c.t, 30*time.Second, func() bool {
		_, last = c.db.Exec(c.t.Context(), `SELECT pg_drop_replication_slot($1)`, c.slot)
		return last == nil
	}, func() string { return fmt.Sprintf("drop slot %s: %v", c.slot, last) })
}

// remove deletes the connector, its slot and its topics. The slot must go before the
// database can be dropped: its task lets it go as it stops, and one that has not within 30 s
// is ended.
func (c *ownCapture) remove() {
	if err := c.call("DELETE", "", nil); err != nil {
		c.t.Errorf("delete connector %s: %v", c.name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	end := time.Now().Add(30 * time.Second)
	var err error
	for ctx.Err() == nil {
		// A connection of its own, whatever became of the test's; an active slot cannot be
		// dropped (the query fails), and one that is gone drops nothing.
		if err = c.dropSlot(ctx, time.Now().After(end)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		c.t.Errorf("drop slot %s: %v", c.slot, err)
	}
	if conn, err := kafka.Dial("tcp", c.env.ep.KafkaBrokers[0]); err == nil {
		// With the topic of its heartbeat's messages, which its copy of the settings writes.
		messages := strings.TrimSuffix(c.topic, ".datastore.signal") + ".message"
		if err := conn.DeleteTopics(c.topic, c.topic+".dlq", c.heartbeat, messages); err != nil {
			c.t.Logf("delete the topics of %s: %v", c.name, err)
		}
		_ = conn.Close()
	}
}

// dropSlot drops the capture's replication slot, if it is there, on a connection of its own;
// with terminate, it first ends the walsender that holds it.
func (c *ownCapture) dropSlot(ctx context.Context, terminate bool) error {
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if terminate {
		_, _ = conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, c.slot)
	}
	_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, c.slot)
	return err
}
