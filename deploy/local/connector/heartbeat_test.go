package main

import (
	"context"
	"encoding/json"
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
	beat := func(at time.Time) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(broker.Addrs...), Topic: topic, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(`{"ts_ms":0}`), Time: at}); err != nil {
			t.Fatal(err)
		}
	}
	beat(time.Now().Add(-45 * time.Second))
	if got := line(); !strings.HasPrefix(got, "down\tdatastore-signal\tstalled: connector RUNNING, tasks: RUNNING per Connect, but no heartbeat for 4") {
		t.Fatalf("with the last heartbeat 45 s old: %q", got)
	}
	beat(time.Now())
	if got := line(); !strings.HasPrefix(got, "up\tdatastore-signal\tconnector RUNNING, tasks: RUNNING, heartbeat ") || !strings.HasSuffix(got, " ago -> topic postgres.datastore.signal") {
		t.Fatalf("with a fresh heartbeat: %q", got)
	}
}
