package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// LastRecordTime returns the newest of the times of topic's partitions' last records (the
// time each record's producer gave it), zero when the topic does not exist or holds no record.
// It asks brokers for the partitions, without creating the topic (a mistyped name is not made
// a topic), then each partition's leader.
func LastRecordTime(ctx context.Context, brokers []string, topic string) (time.Time, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return time.Time{}, fmt.Errorf("read the partitions of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || errors.Is(meta.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return time.Time{}, nil
	}
	if err := meta.Topics[0].Error; err != nil {
		return time.Time{}, fmt.Errorf("read the partitions of %s: %w", topic, err)
	}
	var d kafka.Dialer
	var newest time.Time
	for _, p := range meta.Topics[0].Partitions {
		at, err := lastRecordTimeOf(ctx, &d, p)
		if err != nil {
			return time.Time{}, err
		}
		if at.After(newest) {
			newest = at
		}
	}
	return newest, nil
}

// lastRecordTimeOf returns the time of partition p's last record, zero when it has none.
func lastRecordTimeOf(ctx context.Context, d *kafka.Dialer, p kafka.Partition) (time.Time, error) {
	conn, err := d.DialLeader(ctx, "tcp", net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port)), p.Topic, p.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s/%d: %w", p.Topic, p.ID, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return time.Time{}, fmt.Errorf("read the offsets of %s/%d: %w", p.Topic, p.ID, err)
	}
	if last <= first {
		return time.Time{}, nil
	}
	if _, err := conn.Seek(last-1, kafka.SeekAbsolute); err != nil {
		return time.Time{}, fmt.Errorf("seek %s/%d: %w", p.Topic, p.ID, err)
	}
	msg, err := conn.ReadMessage(1 << 20)
	if err != nil {
		return time.Time{}, fmt.Errorf("read %s/%d: %w", p.Topic, p.ID, err)
	}
	return msg.Time, nil
}
