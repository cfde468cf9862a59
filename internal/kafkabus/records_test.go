package kafkabus_test

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// Zero for a topic that does not exist or holds nothing, else the newest of the times of its
// partitions' last records, whichever partition that is in and whatever came before it. A
// topic that does not exist is not created, even by a broker that creates topics on first
// use (a mistyped CAPTURE_HEARTBEAT_TOPIC was).
func TestLastRecordTime_IsTheNewestOfThePartitionsLastRecords(t *testing.T) {
	const topic = "__debezium-heartbeat.test"
	broker := kafkatest.Start(t, 3, topic)
	ctx := t.Context()
	for _, name := range []string{topic, "missing"} {
		at, err := kafkabus.LastRecordTime(ctx, broker.Addrs, name)
		if err != nil || !at.IsZero() {
			t.Fatalf("%s: %v, %v; want zero, nil", name, at, err)
		}
	}
	meta, err := broker.Client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range meta.Topics {
		if tp.Name == "missing" {
			t.Fatal("reading a topic that does not exist created it")
		}
	}
	base := time.Now().Truncate(time.Millisecond)
	write := func(partition int, at ...time.Time) {
		t.Helper()
		conn, err := kafka.DialLeader(ctx, "tcp", broker.Addrs[0], topic, partition)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, a := range at {
			if _, err := conn.WriteMessages(kafka.Message{Value: []byte(`{"ts_ms":0}`), Time: a}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, base.Add(-3*time.Minute), base.Add(-2*time.Minute))
	write(1, base.Add(-time.Minute))
	write(2, base, base.Add(-10*time.Minute)) // the newest is not the last record here: the last counts
	at, err := kafkabus.LastRecordTime(ctx, append([]string{"127.0.0.1:1"}, broker.Addrs...), topic)
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(-time.Minute); !at.Equal(want) {
		t.Errorf("%v, want partition 1's %v", at, want)
	}
}
