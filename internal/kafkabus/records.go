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
	return LastRecordTimeBy(ctx, brokers, topic, func(m kafka.Message) (time.Time, error) { return m.Time, nil })
}

// LastRecordTimeBy is LastRecordTime with the time of each partition's last record as timeOf
// says it (zero for none), such as a time the record's value holds; its error is
// LastRecordTimeBy's.
func LastRecordTimeBy(ctx context.Context, brokers []string, topic string, timeOf func(kafka.Message) (time.Time, error)) (time.Time, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	partitions, err := partitionsOf(ctx, client, topic)
	if err != nil {
		return time.Time{}, err
	}
	var d kafka.Dialer
	var newest time.Time
	for _, p := range partitions {
		msg, ok, err := record(ctx, &d, p, func(first, last int64) (int64, bool) { return last - 1, last > first })
		if err != nil {
			return time.Time{}, err
		}
		if !ok {
			continue // no record
		}
		at, err := timeOf(msg)
		if err != nil {
			return time.Time{}, err
		}
		if at.After(newest) {
			newest = at
		}
	}
	return newest, nil
}

// partitionsOf returns topic's partitions, none when it does not exist, asking without
// creating it.
func partitionsOf(ctx context.Context, client *kafka.Client, topic string) ([]kafka.Partition, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read the partitions of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || errors.Is(meta.Topics[0].Error, kafka.UnknownTopicOrPartition) {
		return nil, nil
	}
	if err := meta.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("read the partitions of %s: %w", topic, err)
	}
	return meta.Topics[0].Partitions, nil
}

// ErrNoTopic is OldestUnread's and Unread's error for a topic the brokers do not have.
var ErrNoTopic = errors.New("no such topic")

// OldestUnread returns the time of the oldest record of topic that group has not committed
// past (the time its producer gave it), zero when the group has read every record. A
// partition the group has never committed on is unread from its first record, where the group
// starts. A topic the brokers say they do not have is ErrNoTopic, not "nothing unread": a
// broker just restarted may say so of one it has. Like LastRecordTime, it creates no topic.
func OldestUnread(ctx context.Context, brokers []string, group, topic string) (time.Time, error) {
	var d kafka.Dialer
	var oldest time.Time
	err := eachUnread(ctx, brokers, group, topic, func(p kafka.Partition, from int64) error {
		at, err := recordTimeFrom(ctx, &d, p, from)
		if !at.IsZero() && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	return oldest, nil
}

// Unread counts the records of topic that group has not committed past, as OldestUnread
// reads them.
func Unread(ctx context.Context, brokers []string, group, topic string) (int64, error) {
	var d kafka.Dialer
	var n int64
	err := eachUnread(ctx, brokers, group, topic, func(p kafka.Partition, from int64) error {
		conn, first, last, err := openPartition(ctx, &d, p)
		if err != nil {
			return err
		}
		_ = conn.Close()
		n += max(0, last-max(from, first))
		return nil
	})
	return n, err
}

// eachUnread calls f with each partition of topic and the offset group has committed on it
// (-1 for none: unread from its first record).
func eachUnread(ctx context.Context, brokers []string, group, topic string, f func(p kafka.Partition, from int64) error) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	partitions, err := partitionsOf(ctx, client, topic)
	if err != nil {
		return err
	}
	if len(partitions) == 0 {
		return fmt.Errorf("read the partitions of %s: %w", topic, ErrNoTopic)
	}
	ids := make([]int, len(partitions))
	for i, p := range partitions {
		ids[i] = p.ID
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = fetched.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) { // a group that never committed, to some brokers
		fetched, err = &kafka.OffsetFetchResponse{}, nil
	}
	if err != nil {
		return fmt.Errorf("read the offsets group %s committed on %s: %w", group, topic, err)
	}
	committed := map[int]int64{}
	for _, p := range fetched.Topics[topic] {
		if p.Error != nil {
			return fmt.Errorf("read the offset group %s committed on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	for _, p := range partitions {
		from, ok := committed[p.ID]
		if !ok {
			from = -1
		}
		if err := f(p, from); err != nil {
			return err
		}
	}
	return nil
}

// recordTimeFrom returns the time of partition p's record at offset from, or at its first
// when from is before it (or negative: none committed); zero when from is at its end.
func recordTimeFrom(ctx context.Context, d *kafka.Dialer, p kafka.Partition, from int64) (time.Time, error) {
	return recordTime(ctx, d, p, func(first, last int64) (int64, bool) {
		from = max(from, first)
		return from, from < last
	})
}

// recordTime returns the time of partition p's record at the offset that at picks from its
// first offset and its end, zero when at picks none.
func recordTime(ctx context.Context, d *kafka.Dialer, p kafka.Partition, at func(first, last int64) (int64, bool)) (time.Time, error) {
	msg, _, err := record(ctx, d, p, at)
	return msg.Time, err
}

// record returns partition p's record at the offset that at picks from its first offset and
// its end, and false when at picks none.
func record(ctx context.Context, d *kafka.Dialer, p kafka.Partition, at func(first, last int64) (int64, bool)) (kafka.Message, bool, error) {
	conn, first, last, err := openPartition(ctx, d, p)
	if err != nil {
		return kafka.Message{}, false, err
	}
	defer conn.Close()
	offset, ok := at(first, last)
	if !ok {
		return kafka.Message{}, false, nil
	}
	if _, err := conn.Seek(offset, kafka.SeekAbsolute); err != nil {
		return kafka.Message{}, false, fmt.Errorf("seek %s/%d: %w", p.Topic, p.ID, err)
	}
	msg, err := conn.ReadMessage(1 << 20)
	if err != nil {
		return kafka.Message{}, false, fmt.Errorf("read %s/%d: %w", p.Topic, p.ID, err)
	}
	return msg, true, nil
}

// openPartition connects to partition p's leader, within ctx's deadline, and reads its first
// offset and its end. The caller closes the connection.
func openPartition(ctx context.Context, d *kafka.Dialer, p kafka.Partition) (conn *kafka.Conn, first, last int64, err error) {
	conn, err = d.DialLeader(ctx, "tcp", net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port)), p.Topic, p.ID)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read %s/%d: %w", p.Topic, p.ID, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if first, last, err = conn.ReadOffsets(); err != nil {
		_ = conn.Close()
		return nil, 0, 0, fmt.Errorf("read the offsets of %s/%d: %w", p.Topic, p.ID, err)
	}
	return conn, first, last, nil
}
