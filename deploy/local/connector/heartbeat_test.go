package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkatest"
)

func TestHeartbeatOf_ReadsTheTopicAndIntervalFromTheConnectorFile(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   heartbeat
	}{
		{`{"topic.prefix":"postgres","heartbeat.interval.ms":"10000"}`, heartbeat{"__debezium-heartbeat.postgres", 10 * time.Second}},
		{`{"topic.prefix":"postgres","heartbeat.interval.ms":2500}`, heartbeat{"__debezium-heartbeat.postgres", 2500 * time.Millisecond}},
		{`{"topic.prefix":"postgres"}`, heartbeat{}},
		{`{"topic.prefix":"postgres","heartbeat.interval.ms":"0"}`, heartbeat{}},
	} {
		var config map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.config), &config); err != nil {
			t.Fatal(err)
		}
		if got := heartbeatOf(config); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.config, got, tc.want)
		}
	}
}

// A task that Connect's status topic says is RUNNING is up only while its heartbeats are
// recent: after a broker stall, Connect can leave the status RUNNING while the worker waits
// for a scheduled rebalance and nothing is captured.
func TestStatusLine_ARunningTaskWithoutRecentHeartbeatsIsStalled(t *testing.T) {
	const topic = "__debezium-heartbeat.postgres"
	hb := heartbeat{topic: topic, interval: 10 * time.Second}
	connect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, running) }))
	defer connect.Close()
	c := &client{base: connect.URL, name: "datastore-signal", http: connect.Client()}
	broker := kafkatest.StartWithoutAutoCreate(t, 1, topic)
	line := func() string { return statusLine(t.Context(), c, "postgres.datastore.signal", broker.Addrs[0], hb) }

	if got := line(); !strings.HasPrefix(got, "up\tdatastore-signal\tconnector RUNNING, tasks: RUNNING, no heartbeat yet") {
		t.Fatalf("before the first heartbeat: %q", got)
	}
	beat := beater(t, broker.Addrs, topic)
	beat(time.Now().Add(-45 * time.Second))
	if got := line(); !strings.HasPrefix(got, "down\tdatastore-signal\tstalled: connector RUNNING, tasks: RUNNING per Connect, but no heartbeat for 4") {
		t.Fatalf("with the last heartbeat 45 s old: %q", got)
	}
	beat(time.Now())
	if got := line(); !strings.HasPrefix(got, "up\tdatastore-signal\tconnector RUNNING, tasks: RUNNING, heartbeat ") || !strings.HasSuffix(got, " ago -> topic postgres.datastore.signal") {
		t.Fatalf("with a fresh heartbeat: %q", got)
	}
}

// beater returns a function that writes a heartbeat record stamped at to topic.
func beater(t *testing.T, addrs []string, topic string) func(at time.Time) {
	return func(at time.Time) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(`{"ts_ms":0}`), Time: at}); err != nil {
			t.Error(err)
		}
	}
}

// After Kafka restarts, Connect says RUNNING before the task's producer reaches the broker
// again: register waits for a recent heartbeat, so that `stack.sh up` does not call a
// connector up that captures nothing.
func TestRegister_WaitsForARecentHeartbeatAfterRunning(t *testing.T) {
	const topic = "__debezium-heartbeat.postgres"
	broker := kafkatest.StartWithoutAutoCreate(t, 1, topic)
	beat := beater(t, broker.Addrs, topic)
	registerWith := func(registered string) (string, error) {
		srv := httptest.NewServer(&fakeConnect{registered: registered})
		defer srv.Close()
		var out strings.Builder
		s := spec{name: "datastore-signal", config: raw(t, fileConfig), raw: []byte(fileConfig)}
		r := newRegistrar(&client{base: srv.URL, name: s.name, http: srv.Client()}, s, &out)
		r.timeout, r.pollEvery = 5*time.Second, 50*time.Millisecond
		r.broker, r.heartbeat = broker.Addrs[0], heartbeat{topic: topic, interval: time.Second}
		err := r.register(t.Context())
		return out.String(), err
	}
	register := func() (string, error) { return registerWith(fileConfig) }

	// A connector this run registers has not beaten yet, and is not waited for.
	if out, err := registerWith(""); err != nil || !strings.Contains(out, "registering datastore-signal") || strings.Contains(out, "waiting for its heartbeat") {
		t.Fatalf("a new connector with no heartbeat yet: %v\n%s", err, out)
	}
	// One registered before must show a heartbeat: after a broker restart its topic can look
	// empty for a while.
	if out, err := register(); err == nil || !strings.Contains(out, "waiting for its heartbeat (heartbeat unknown: no heartbeat yet)") {
		t.Fatalf("a registered connector with no heartbeat: %v\n%s", err, out)
	}
	beat(time.Now().Add(-time.Minute))
	go func() {
		time.Sleep(time.Second)
		beat(time.Now())
	}()
	start := time.Now()
	out, err := register()
	if err != nil || time.Since(start) < time.Second ||
		!strings.Contains(out, "connector: datastore-signal RUNNING per Connect; waiting for its heartbeat (the last one is 1m") ||
		!strings.Contains(out, "connector: datastore-signal capturing again: heartbeat ") {
		t.Fatalf("after %s: %v\n%s", time.Since(start), err, out)
	}
	beat(time.Now().Add(-time.Minute))
	out, err = register()
	if code := exitCode(err); code != exitSeeConnect || !strings.Contains(err.Error(), "RUNNING per Connect but not capturing: the last one is 1m") {
		t.Fatalf("with no recent heartbeat: exit %d, %v\n%s", code, err, out)
	}
}

// exitCode is the status run would exit with for err.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 0
}
