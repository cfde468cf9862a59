package kafkabus_test

import (
	"errors"
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
	// By another time of the record (one its value holds, say), for each last record alone.
	at, err = kafkabus.LastRecordTimeBy(ctx, broker.Addrs, topic, func(m kafka.Message) (time.Time, error) {
		if m.Partition == 2 {
			return m.Time.Add(time.Hour), nil
		}
		return m.Time, nil
	})
	if want := base.Add(50 * time.Minute); err != nil || !at.Equal(want) {
		t.Errorf("by a time of its own: %v, %v; want partition 2's last record's, %v", at, err, want)
	}
}

// The oldest record a group has not committed past, over every partition: from the first
// record of a partition it has never committed on, from its committed offset on the others,
// and zero once it has committed past every record. A topic that does not exist is an error.
func TestOldestUnread_IsTheOldestRecordTheGroupHasNotCommittedPastAndUnreadCountsThem(t *testing.T) {
	const topic, group = "jobs.unread", "workers"
	broker := kafkatest.Start(t, 3, topic)
	ctx := t.Context()
	base := time.Now().Truncate(time.Millisecond)
	for partition, at := range [][]time.Time{{base.Add(-5 * time.Minute), base.Add(-4 * time.Minute)}, {base.Add(-3 * time.Minute)}} {
		conn, err := kafka.DialLeader(ctx, "tcp", broker.Addrs[0], topic, partition)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range at {
			if _, err := conn.WriteMessages(kafka.Message{Value: []byte(`{}`), Time: a}); err != nil {
				t.Fatal(err)
			}
		}
		_ = conn.Close()
	}
	for _, step := range []struct {
		commit map[int]int64
		want   time.Time
		unread int64
	}{
		{nil, base.Add(-5 * time.Minute), 3},
		{map[int]int64{0: 1}, base.Add(-4 * time.Minute), 2},
		{map[int]int64{0: 2}, base.Add(-3 * time.Minute), 1},
		{map[int]int64{1: 1, 2: 0}, time.Time{}, 0},
	} {
		if step.commit != nil {
			if err := kafkabus.CommitOffsets(ctx, broker.Client, group, topic, step.commit); err != nil {
				t.Fatal(err)
			}
		}
		at, err := kafkabus.OldestUnread(ctx, broker.Addrs, group, topic)
		if err != nil || !at.Equal(step.want) {
			t.Fatalf("after commits %v: %v, %v; want %v", step.commit, at, err, step.want)
		}
		if n, err := kafkabus.Unread(ctx, broker.Addrs, group, topic); err != nil || n != step.unread {
			t.Fatalf("after commits %v: %d unread (%v), want %d", step.commit, n, err, step.unread)
		}
	}
	if at, err := kafkabus.OldestUnread(ctx, broker.Addrs, group, "missing"); !errors.Is(err, kafkabus.ErrNoTopic) || !at.IsZero() {
		t.Fatalf("a topic that does not exist: %v, %v; want zero, ErrNoTopic (a broker just restarted may not know one it has)", at, err)
	}
}
