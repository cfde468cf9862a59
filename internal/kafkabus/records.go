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
// It asks the first of brokers that answers for the partitions, then each partition's leader.
func LastRecordTime(ctx context.Context, brokers []string, topic string) (time.Time, error) {
	var d kafka.Dialer
	partitions, err := partitionsOf(ctx, &d, brokers, topic)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	for _, p := range partitions {
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

// partitionsOf asks the first of brokers that answers for topic's partitions.
func partitionsOf(ctx context.Context, d *kafka.Dialer, brokers []string, topic string) ([]kafka.Partition, error) {
	var errs []error
	for _, broker := range brokers {
		conn, err := d.DialContext(ctx, "tcp", broker)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		partitions, err := conn.ReadPartitions(topic)
		_ = conn.Close()
		if err != nil {
			return nil, fmt.Errorf("read the partitions of %s: %w", topic, err)
		}
		return partitions, nil
	}
	return nil, fmt.Errorf("read the partitions of %s: %w", topic, errors.Join(errs...))
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
