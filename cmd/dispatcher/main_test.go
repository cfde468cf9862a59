package main_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/debezium"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// Each test's dispatchers join consumer groups of the test's own, positioned at the end of
// their topics before the test writes anything, so they read only what the test does and not
// the history earlier runs left on a long-lived stack. The tests run one at a time (no
// t.Parallel): Debezium's single connector and the shared tables are the stack's.
const (
	signalTopic = "postgres.datastore.signal"
	jobsTopic   = "eliza.jobs"
)

var (
	eegChannels = []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
	accChannels = []string{"x", "y", "z"}
)

type env struct {
	ep   stack.Endpoints
	db   *pgxpool.Pool
	bin  string
	test *testing.T
	// signals and conversations are the dispatchers' consumer groups (GROUP_ID, LLM_GROUP_ID).
	signals, conversations string
}

func setup(t *testing.T) *env {
	t.Helper()
	ep := stack.Require(t, stack.Postgres, stack.Kafka, stack.Debezium)
	db, err := pgxpool.New(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &env{
		ep: ep, db: db, bin: proctest.Build(t, "./cmd/dispatcher"), test: t,
		signals:       stack.GroupAtEnd(t, ep, "dispatcher-signals-test", signalTopic),
		conversations: stack.GroupAtEnd(t, ep, "dispatcher-llm-test", jobsTopic),
	}
}

type dispatcher struct {
	*proctest.Proc
	admin string
}

// start runs a dispatcher and waits until it is ready.
func (e *env) start(extra ...string) dispatcher {
	e.test.Helper()
	d := e.launch(extra...)
	proctest.WaitHTTP(e.test, "http://"+d.admin+"/readyz", 60*time.Second)
	return d
}

// launch runs a dispatcher; later entries of extra override the defaults.
func (e *env) launch(extra ...string) dispatcher {
	e.test.Helper()
	admin := proctest.FreeAddr(e.test)
	p := proctest.Start(e.test, e.bin, append([]string{
		"ADMIN_ADDR=" + admin,
		"KAFKA_BROKERS=" + strings.Join(e.ep.KafkaBrokers, ","),
		"DATABASE_URL=" + e.ep.DatabaseURL,
		"GROUP_ID=" + e.signals,
		"LLM_GROUP_ID=" + e.conversations,
		"KAFKA_SESSION_TIMEOUT=6s",
		"SHUTDOWN_GRACE=10s",
	}, extra...)...)
	return dispatcher{Proc: p, admin: admin}
}

func (e *env) stop(d dispatcher) {
	e.test.Helper()
	d.Signal(e.test, syscall.SIGTERM)
	if code := d.Wait(e.test, 30*time.Second); code != 0 {
		e.test.Fatalf("dispatcher exited %d after SIGTERM", code)
	}
}

// insert writes one signal row and returns its id.
func (e *env) insert(recording uuid.UUID, sensor string, channels []string) uuid.UUID {
	e.test.Helper()
	return e.insertSamples(recording, sensor, channels, []byte("x"))
}

// insertSamples inserts a signal whose samples (the data column) are data.
func (e *env) insertSamples(recording uuid.UUID, sensor string, channels []string, data []byte) uuid.UUID {
	e.test.Helper()
	id := uuid.New()
	_, err := e.db.Exec(e.test.Context(), `
		INSERT INTO datastore.signal (id, data, recording, span, sensor_label, sensor_type, channels,
			sample_unit, sample_resolution_in_unit, sample_offset_in_unit, sample_type, sample_rate)
		VALUES ($1, $5, $2, '[0,60000000000)', $3, $3, $4, 'microvolt', 1, 0, 'float32', 250)`,
		id, recording, sensor, channels, data)
	if err != nil {
		e.test.Fatalf("insert %s signal: %v", sensor, err)
	}
	return id
}

type processed struct {
	eeg, acc uuid.UUID
}

func (e *env) processed(recs ...uuid.UUID) map[uuid.UUID]processed {
	e.test.Helper()
	rows, err := e.db.Query(e.test.Context(),
		`SELECT recording, eeg_signal, accelerometer_signal FROM dispatcher.processed_recording WHERE recording = ANY($1)`, recs)
	if err != nil {
		e.test.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]processed{}
	for rows.Next() {
		var rec uuid.UUID
		var p processed
		if err := rows.Scan(&rec, &p.eeg, &p.acc); err != nil {
			e.test.Fatal(err)
		}
		out[rec] = p
	}
	return out
}

// waitProcessed waits until every recording in recs has its processed row.
func (e *env) waitProcessed(timeout time.Duration, recs ...uuid.UUID) map[uuid.UUID]processed {
	e.test.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := e.processed(recs...)
		if len(got) == len(recs) {
			return got
		}
		if time.Now().After(deadline) {
			e.test.Fatalf("%d of %d recordings processed after %s", len(got), len(recs), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits for the dispatcher to have handled everything on the topic so far, by sending a
// marker recording through the whole path and waiting for it.
func (e *env) settle() {
	e.test.Helper()
	marker := uuid.New()
	e.insert(marker, "eeg", eegChannels)
	e.insert(marker, "accelerometer", accChannels)
	e.waitProcessed(30*time.Second, marker)
}

func TestDispatcher_ProcessesTheHandInsertWithin10s(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)

	rec := uuid.New()
	_, err := e.db.Exec(t.Context(), stack.HandInsert, rec)
	if err != nil {
		t.Fatal(err)
	}
	var eeg, acc uuid.UUID
	if err := e.db.QueryRow(t.Context(), `SELECT
		(SELECT id FROM datastore.signal WHERE recording = $1 AND sensor_type = 'eeg'),
		(SELECT id FROM datastore.signal WHERE recording = $1 AND sensor_type = 'accelerometer')`, rec).Scan(&eeg, &acc); err != nil {
		t.Fatal(err)
	}
	got := e.waitProcessed(10*time.Second, rec)
	if got[rec] != (processed{eeg: eeg, acc: acc}) {
		t.Fatalf("processed %+v, want eeg %s and accelerometer %s", got[rec], eeg, acc)
	}
	waitLog(t, d.Proc, "processing recording "+rec.String())
}

func TestDispatcher_ProcessesInterleavedRecordingsAPollerWouldMiss(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	a, b := uuid.New(), uuid.New()
	e.insert(a, "eeg", eegChannels)
	e.insert(b, "eeg", eegChannels)
	e.insert(b, "accelerometer", accChannels)
	e.insert(a, "accelerometer", accChannels)
	e.waitProcessed(10*time.Second, a, b)
}

func TestDispatcher_InvalidEEGDoesNotQualifyUntilAValidOneArrives(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	rec := uuid.New()
	e.insert(rec, "eeg", []string{"foo", "bar"})
	e.insert(rec, "accelerometer", accChannels)
	e.settle()
	if got := e.processed(rec); len(got) != 0 {
		t.Fatalf("processed with an invalid eeg channel set: %+v", got)
	}
	valid := e.insert(rec, "eeg", eegChannels)
	if got := e.waitProcessed(10*time.Second, rec); got[rec].eeg != valid {
		t.Fatalf("processed with eeg %s, want the valid %s", got[rec].eeg, valid)
	}
}

func TestDispatcher_DuplicatesAndUpdatesHaveNoSecondEffect(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	rec := uuid.New()
	eeg := e.insert(rec, "eeg", eegChannels)
	e.insert(rec, "accelerometer", accChannels)
	first := e.waitProcessed(10*time.Second, rec)[rec]

	// A duplicate pair of rows and an update of the processed recording's signal.
	e.insert(rec, "eeg", eegChannels)
	e.insert(rec, "accelerometer", accChannels)
	if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET sample_rate = 500 WHERE id = $1`, eeg); err != nil {
		t.Fatal(err)
	}
	e.settle()
	if got := e.processed(rec)[rec]; got != first {
		t.Fatalf("processed row changed from %+v to %+v", first, got)
	}
	if n := strings.Count(d.Output(), "processing recording "+rec.String()); n != 1 {
		t.Fatalf("recording processed %d times", n)
	}
}

func TestDispatcher_PoisonMessageGoesToTheDeadLetterTopicAndLaterEventsFlow(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)

	poison := fmt.Sprintf(`{"not":"a debezium event","id":%q}`, uuid.NewString())
	deadLetterEnds := stack.EndOffsets(t, e.ep, signalTopic+".dlq")
	w := &kafka.Writer{Addr: kafka.TCP(e.ep.KafkaBrokers...), Topic: signalTopic, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(t.Context(), kafka.Message{Key: []byte("poison"), Value: []byte(poison)}); err != nil {
		t.Fatal(err)
	}
	rec := uuid.New()
	e.insert(rec, "eeg", eegChannels)
	e.insert(rec, "accelerometer", accChannels)
	e.waitProcessed(10*time.Second, rec)

	msg := findDeadLetter(t, e.ep.KafkaBrokers, deadLetterEnds, poison)
	headers := map[string]string{}
	for _, h := range msg.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers["dlq.original.topic"] != signalTopic || headers["dlq.original.offset"] == "" ||
		headers["dlq.original.partition"] == "" || headers["dlq.error"] == "" {
		t.Fatalf("dead letter headers %v", headers)
	}
	waitMetric(t, d.admin, "dispatcher_dead_lettered_total")
}

// findDeadLetter reads the dead-letter topic from the offsets in from (the end before the
// test wrote its poison; a partition not in from, from its start) until it meets value.
func findDeadLetter(t *testing.T, brokers []string, from map[int]int64, value string) kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	partitions, err := conn.ReadPartitions(signalTopic + ".dlq")
	conn.Close()
	if err != nil {
		t.Fatalf("dead-letter topic: %v", err)
	}
	found := make(chan kafka.Message, len(partitions))
	for _, p := range partitions {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: p.Topic, Partition: p.ID, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			if off, ok := from[p.ID]; ok {
				if err := r.SetOffset(off); err != nil {
					return
				}
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				if string(m.Value) == value {
					found <- m
					return
				}
			}
		}()
	}
	select {
	case m := <-found:
		return m
	case <-ctx.Done():
		t.Fatal("poison message not found on the dead-letter topic")
		return kafka.Message{}
	}
}

func waitLog(t *testing.T, p *proctest.Proc, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q", text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMetric(t *testing.T, admin, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := proctest.Get(t, "http://"+admin+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+" ") && !strings.HasSuffix(line, " 0") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s never rose above 0", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDispatcher_DeletedSignalStopsCounting(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	rec := uuid.New()
	eeg := e.insert(rec, "eeg", eegChannels)
	if _, err := e.db.Exec(t.Context(), `DELETE FROM datastore.signal WHERE id = $1`, eeg); err != nil {
		t.Fatal(err)
	}
	e.insert(rec, "accelerometer", accChannels)
	e.settle()
	if got := e.processed(rec); len(got) != 0 {
		t.Fatalf("processed with a deleted eeg signal: %+v", got)
	}
	again := e.insert(rec, "eeg", eegChannels)
	if got := e.waitProcessed(10*time.Second, rec); got[rec].eeg != again {
		t.Fatalf("processed with eeg %s, want %s", got[rec].eeg, again)
	}
}

// An update of a signal's id keeps its Kafka key (its recording), so Debezium sends one update
// with the old id in its before: the old id stops counting. In one recording the id changes
// to a higher one, and the recording is processed with the new id, not the old (which, the
// lowest, would be chosen if it still counted); in the other the renamed signal is then
// deleted, so the accelerometer leaves the recording incomplete until a new eeg signal comes.
func TestDispatcher_ASignalWhoseIDChangesCountsUnderItsNewIDOnly(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	rename := func(old uuid.UUID) uuid.UUID {
		t.Helper()
		id := uuid.New()
		copy(id[:4], []byte{0xff, 0xff, 0xff, 0xff}) // above any random id
		if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET id = $1 WHERE id = $2`, id, old); err != nil {
			t.Fatal(err)
		}
		return id
	}
	renamed, deleted := uuid.New(), uuid.New()
	newID := rename(e.insert(renamed, "eeg", eegChannels))
	e.insert(renamed, "accelerometer", accChannels)
	gone := rename(e.insert(deleted, "eeg", eegChannels))
	if _, err := e.db.Exec(t.Context(), `DELETE FROM datastore.signal WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	e.insert(deleted, "accelerometer", accChannels)
	last := e.insert(deleted, "eeg", eegChannels)

	got := e.waitProcessed(15*time.Second, renamed, deleted)
	if got[renamed].eeg != newID {
		t.Errorf("recording processed with eeg %s, want %s: the signal's id changed to it", got[renamed].eeg, newID)
	}
	if got[deleted].eeg != last {
		t.Errorf("recording processed with eeg %s, want %s: the one before was renamed and deleted", got[deleted].eeg, last)
	}
}

// An update that leaves a row the dispatcher cannot read (its id the nil UUID, which the
// dispatcher keeps for a delete that did not say its recording) did away with the signal as it
// was: the eeg stops counting, and the accelerometer leaves the recording incomplete until a
// new eeg comes. Before, the update went to the dead-letter topic alone, the eeg went on
// counting, and the recording was processed with a signal that was no longer there.
func TestDispatcher_ASignalUpdatedIntoARowItCannotReadStopsCounting(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	rec := uuid.New()
	eeg := e.insert(rec, "eeg", eegChannels)
	if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET id = $1 WHERE id = $2`, uuid.Nil, eeg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := e.db.Exec(context.Background(), `DELETE FROM datastore.signal WHERE id = $1`, uuid.Nil); err != nil {
			t.Error(err)
		}
	})
	e.insert(rec, "accelerometer", accChannels)
	waitLog(t, d.Proc, "an update left a row of datastore.signal that cannot be read: the signal as it was no longer counts")
	e.settle()
	if got := e.processed(rec); len(got) != 0 {
		t.Fatalf("processed with an eeg updated into a row that cannot be read: %+v", got)
	}
	again := e.insert(rec, "eeg", eegChannels)
	if got := e.waitProcessed(10*time.Second, rec); got[rec].eeg != again {
		t.Fatalf("processed with eeg %s, want %s", got[rec].eeg, again)
	}
}

// An update of a signal's recording changes its Kafka key, so Debezium sends a delete under
// the old recording and a create under the new one, at one source position, on the two
// recordings' partitions (the same one for some pairs, two for others). The signal then
// counts in its new recording, and no longer in the old.
func TestDispatcher_SignalMovedToAnotherRecordingCountsThere(t *testing.T) {
	e := setup(t)
	d := e.start()
	defer e.stop(d)
	const pairs = 6
	var from, to []uuid.UUID
	eegs := map[uuid.UUID]uuid.UUID{} // recording moved to → the eeg signal moved
	for range pairs {
		f, dst := uuid.New(), uuid.New()
		from, to = append(from, f), append(to, dst)
		eeg := e.insert(f, "eeg", eegChannels)
		e.insert(dst, "accelerometer", accChannels)
		eegs[dst] = eeg
		if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET recording = $1 WHERE id = $2`, dst, eeg); err != nil {
			t.Fatal(err)
		}
	}
	got := e.waitProcessed(15*time.Second, to...)
	for _, dst := range to {
		if got[dst].eeg != eegs[dst] {
			t.Errorf("%s processed with eeg %s, want %s, the signal moved into it", dst, got[dst].eeg, eegs[dst])
		}
	}
	for _, f := range from {
		e.insert(f, "accelerometer", accChannels)
	}
	e.settle()
	if got := e.processed(from...); len(got) != 0 {
		t.Fatalf("processed %+v, which their eeg signals had left", got)
	}
}

// Recordings complete at once, whose two signals then move away, each to a recording of its
// own. The dispatcher starts after all of it, so it reads each recording's partition from a
// backlog, in whatever order its fetches bring the partitions: each recording is processed
// once, with its own two signals, whether its partition is read before or after those of the
// recordings its signals went to, which are never processed (each has one signal).
func TestDispatcher_ARecordingWhoseSignalsAllMovedAwayIsProcessed(t *testing.T) {
	e := setup(t)
	const n = 6
	var complete, single []uuid.UUID
	want := map[uuid.UUID]processed{}
	for range n {
		rec := uuid.New()
		p := processed{eeg: e.insert(rec, "eeg", eegChannels), acc: e.insert(rec, "accelerometer", accChannels)}
		for _, signal := range []uuid.UUID{p.eeg, p.acc} {
			to := uuid.New()
			if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET recording = $1 WHERE id = $2`, to, signal); err != nil {
				t.Fatal(err)
			}
			single = append(single, to)
		}
		complete, want[rec] = append(complete, rec), p
	}
	d := e.start()
	defer e.stop(d)
	got := e.waitProcessed(30*time.Second, complete...)
	for _, rec := range complete {
		if got[rec] != want[rec] {
			t.Errorf("%s processed with %+v, want its own signals %+v", rec, got[rec], want[rec])
		}
	}
	e.settle()
	if got := e.processed(single...); len(got) != 0 {
		t.Fatalf("processed %+v, each with one signal", got)
	}
}

// Signals whose samples are larger than a Kafka message (Connect's producer sends 1 MiB at most
// by default) are captured and processed, and so is what follows them. The connector leaves
// the samples out of its events (column.exclude.list): with them, the insert's event held 4/3
// of the samples (base64) and the update's twice that (the old row too, REPLICA IDENTITY
// FULL); Debezium's task failed on it, and capture stopped for every recording.
func TestDispatcher_SignalsWithSamplesLargerThanAKafkaMessageAreProcessed(t *testing.T) {
	e := setup(t)
	// A connector registered before the setting would fail on these rows, and stop capture for
	// every test after this one: say so instead.
	res, err := http.Get(e.ep.ConnectURL + "/connectors/datastore-signal/config")
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]string
	err = json.NewDecoder(res.Body).Decode(&config)
	_ = res.Body.Close()
	if err != nil || config["column.exclude.list"] != "datastore.signal.data" {
		t.Fatalf("the stack's connector (%v) does not leave the samples out: `make stack-up` registers deploy/local/debezium-connector.json", err)
	}
	d := e.start()
	defer e.stop(d)
	samples := make([]byte, 2<<20)
	_, _ = rand.Read(samples) // incompressible
	big := uuid.New()
	want := map[uuid.UUID]processed{big: {eeg: e.insertSamples(big, "eeg", eegChannels, samples)}}
	if _, err := e.db.Exec(t.Context(), `UPDATE datastore.signal SET sample_rate = 500 WHERE id = $1`, want[big].eeg); err != nil {
		t.Fatal(err)
	}
	want[big] = processed{eeg: want[big].eeg, acc: e.insertSamples(big, "accelerometer", accChannels, samples[:1<<20])}
	t.Cleanup(func() { // 3 MiB a run, on a long-lived stack
		_, _ = e.db.Exec(context.Background(), `DELETE FROM datastore.signal WHERE recording = $1`, big)
	})
	next := uuid.New()
	want[next] = processed{eeg: e.insert(next, "eeg", eegChannels), acc: e.insert(next, "accelerometer", accChannels)}
	got := e.waitProcessed(60*time.Second, big, next)
	for rec, p := range want {
		if got[rec] != p {
			t.Errorf("%s processed with %+v, want %+v", rec, got[rec], p)
		}
	}
}

func TestDispatcher_ASessionTimeoutTheBrokersRefuseEndsItNamingTheVariable(t *testing.T) {
	e := setup(t)
	// Kafka's group.max.session.timeout.ms is 30 min unless its operator raised it.
	d := e.launch("KAFKA_SESSION_TIMEOUT=31m")
	if code := d.Wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if out := d.Output(); !strings.Contains(out, "KAFKA_SESSION_TIMEOUT: the brokers refuse a session timeout of 31m0s") {
		t.Fatalf("the error does not name the variable and its value:\n%s", out)
	}
}

// Against the stack's Debezium, whose connector writes a heartbeat message into the WAL every
// 10 s: the dispatcher exports the database's time that the newest message holds, as it came
// through capture to postgres.message (not the record's time, when Debezium wrote it to Kafka,
// nor its own start, which the gauge holds until it has read one), and follows the next ones;
// with CAPTURE_HEARTBEAT_TOPIC=off, nothing.
func TestDispatcher_ExportsTheTimeOfDebeziumsNewestHeartbeat(t *testing.T) {
	e := setup(t)
	d := e.start()
	const topic = "postgres.message"
	held := func(m kafka.Message) (time.Time, error) { return debezium.CapturedAt(m.Value) }
	gauge := func() time.Time {
		m := regexp.MustCompile(`(?m)^dispatcher_capture_heartbeat_timestamp_seconds (\S+)$`).FindStringSubmatch(proctest.Get(t, "http://"+d.admin+"/metrics"))
		if m == nil {
			t.Fatal("no dispatcher_capture_heartbeat_timestamp_seconds")
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Unix(0, int64(v*1e9))
	}
	var first, got, newest time.Time
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		var err error
		if newest, err = kafkabus.LastRecordTimeBy(t.Context(), e.ep.KafkaBrokers, topic, held); err != nil {
			t.Fatal(err)
		}
		got = gauge()
		return !newest.IsZero() && got.Sub(newest).Abs() < time.Millisecond
	}, func() string {
		return fmt.Sprintf("the gauge says %v; the topic's newest heartbeat message holds %v", got, newest)
	})
	first = got
	if written, err := kafkabus.LastRecordTime(t.Context(), e.ep.KafkaBrokers, topic); err != nil || !first.Before(written) {
		t.Fatalf("the heartbeat message holds %v, its record was written at %v (%v): want the database's time, before Debezium wrote it", first, written, err)
	}
	if age := time.Since(first); age > 30*time.Second {
		t.Fatalf("the newest heartbeat is %s old: is the stack's connector capturing?", age)
	}
	// The next heartbeats, 10 s apart, read every 10 s.
	kafkatest.Eventually(t, 30*time.Second, func() bool { got = gauge(); return got.After(first) },
		func() string { return fmt.Sprintf("the gauge stayed at %v", got) })
	e.stop(d)

	// Off: no watch, and no series to age.
	off := e.start("CAPTURE_HEARTBEAT_TOPIC=off")
	if strings.Contains(proctest.Get(t, "http://"+off.admin+"/metrics"), "dispatcher_capture_heartbeat") {
		t.Error("with CAPTURE_HEARTBEAT_TOPIC=off, the dispatcher exports dispatcher_capture_heartbeat_timestamp_seconds")
	}
}

// A database the dispatcher cannot use, which waiting will not mend, stops it at start naming
// DATABASE_URL: with a wrong password it took its partitions and failed every batch of them,
// and without the schema it was even ready.
func TestDispatcher_ADatabaseItCannotUseEndsItNamingTheVariable(t *testing.T) {
	e := setup(t)
	wrong, err := url.Parse(e.ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	wrong.User = url.UserPassword(wrong.User.Username(), "not-the-password")
	for _, tc := range []struct{ url, want string }{
		{wrong.String(), "DATABASE_URL: the database cannot be used: failed to connect to"},
		{stack.EmptyDatabase(t), "DATABASE_URL: the database cannot be used: its schema is at version 0"},
	} {
		d := e.launch("DATABASE_URL=" + tc.url)
		if code := d.Wait(t, 60*time.Second); code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
		if out := d.Output(); !strings.Contains(out, tc.want) {
			t.Errorf("the error does not say %q:\n%s", tc.want, out)
		}
	}
}

// A database that cannot be checked at start (not up yet) is checked again until it can be:
// one that came up unmigrated then ends the dispatcher, naming DATABASE_URL. It stayed ready
// and failed every batch of its partitions.
func TestDispatcher_ADatabaseUpUnmigratedAfterItsStartEndsIt(t *testing.T) {
	e := setup(t)
	empty, err := url.Parse(stack.EmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := proctest.NewProxy(t, empty.Host)
	proxy.Down()
	empty.Host = proxy.Addr()
	d := e.launch("DATABASE_URL=" + empty.String())
	waitLog(t, d.Proc, "cannot check the database at start")
	proxy.Up()
	if code := d.Wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if out := d.Output(); !strings.Contains(out, "DATABASE_URL: the database cannot be used: its schema is at version 0") {
		t.Errorf("the error does not say the schema is behind:\n%s", out)
	}
}
