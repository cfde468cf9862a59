// Package kafkatest starts an in-process Kafka-protocol broker (kfake) for the tests of
// Kafka-facing packages: the packages' own kafka-go clients talk to it over TCP as to a real
// broker, in milliseconds and without a JVM. It is the fast seam; the tests on the local
// stack (internal/stack) keep the truth about Kafka itself. Only tests import it.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// Broker is a one-node cluster that lives as long as the test.
type Broker struct {
	t testing.TB
	// Cluster is the embedded broker, for what only it can tell (group state, say).
	Cluster *kfake.Cluster
	// Addrs are its bootstrap addresses.
	Addrs []string
	// Client speaks the protocol to it directly (offset fetches, produce requests).
	Client *kafka.Client
	opts   []kfake.Opt // how it was started, for Restart
}

// Start runs a broker with topics created at partitions each, other topics created on first
// use with as many, and consumer-group sessions allowed down to 100ms so that rebalances
// take a fraction of a second. It stops when the test ends.
func Start(t testing.TB, partitions int, topics ...string) *Broker {
	t.Helper()
	return start(t, partitions, true, false, topics...)
}

// StartWithoutAutoCreate is Start on a broker that creates no topic on first use, as a
// production cluster does not: a topic exists once someone creates it.
func StartWithoutAutoCreate(t testing.TB, partitions int, topics ...string) *Broker {
	t.Helper()
	return start(t, partitions, false, false, topics...)
}

// StartDurable is Start on a broker that keeps its topics, records, groups and committed
// offsets on disk (in a directory of the test's), so that after Stop, Restart brings it back
// as a restarted Kafka broker comes back: with everything it had.
func StartDurable(t testing.TB, partitions int, topics ...string) *Broker {
	t.Helper()
	return start(t, partitions, true, true, topics...)
}

func start(t testing.TB, partitions int, autoCreate, durable bool, topics ...string) *Broker {
	t.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(partitions),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if durable {
		opts = append(opts, kfake.DataDir(t.TempDir()))
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), topics...)) //nolint:gosec // a small test count
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start the embedded broker: %v", err)
	}
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	return &Broker{t: t, Cluster: c, Addrs: addrs, Client: &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: 10 * time.Second}, opts: opts}
}

// Stop takes the broker down as a crash or an outage does: its connections are closed and its
// address refuses new ones until Restart.
func (b *Broker) Stop() { b.Cluster.Close() }

// Restart brings a stopped broker back on the same address. One from StartDurable comes back
// with the state it had when it stopped; one from Start comes back empty but for its seeded
// topics. Cluster is then the new broker, and Client a new client: the old one's pooled
// connections to the stopped broker would fail its first requests.
func (b *Broker) Restart() {
	b.t.Helper()
	_, port, err := net.SplitHostPort(b.Addrs[0])
	if err != nil {
		b.t.Fatalf("restart the embedded broker: address %s: %v", b.Addrs[0], err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		b.t.Fatalf("restart the embedded broker: port of %s: %v", b.Addrs[0], err)
	}
	opts := append(slices.Clip(b.opts), kfake.Ports(p))
	// The port may be briefly taken (a client's outgoing connection can be given it while it
	// is free): retry for a little while.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := kfake.NewCluster(opts...)
		if err == nil {
			b.t.Cleanup(c.Close)
			transport := &kafka.Transport{}
			b.t.Cleanup(transport.CloseIdleConnections)
			b.Cluster = c
			b.Client = &kafka.Client{Addr: b.Client.Addr, Timeout: b.Client.Timeout, Transport: transport}
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("restart the embedded broker on %s: %v", b.Addrs[0], err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Produce appends values to one partition of topic, as keyless records, and returns their
// offsets.
func (b *Broker) Produce(topic string, partition int, values ...[]byte) []int64 {
	b.t.Helper()
	records := make([]kafka.Record, len(values))
	for i, v := range values {
		records[i] = kafka.Record{Value: kafka.NewBytes(v)}
	}
	res, err := b.Client.Produce(context.Background(), &kafka.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(records...),
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		b.t.Fatalf("produce to %s[%d]: %v", topic, partition, err)
	}
	offsets := make([]int64, len(values))
	for i := range offsets {
		offsets[i] = res.BaseOffset + int64(i)
	}
	return offsets
}

// Read returns the first n messages of topic across its partitions, ordered by partition and
// offset, failing the test if fewer arrive within timeout.
func (b *Broker) Read(topic string, n int, timeout time.Duration) []kafka.Message {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		msgs, err := b.readAll(ctx, topic)
		if err != nil {
			b.t.Fatalf("read %s: %v", topic, err)
		}
		out = msgs
		if len(out) >= n {
			break
		}
		if sleep.For(ctx, 20*time.Millisecond) != nil {
			b.t.Fatalf("%d of %d messages on %s after %s", len(out), n, topic, timeout)
		}
	}
	return out
}

// readAll reads every message now on topic.
func (b *Broker) readAll(ctx context.Context, topic string) ([]kafka.Message, error) {
	meta, err := b.Client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	var out []kafka.Message
	for _, tp := range meta.Topics {
		if tp.Error != nil {
			if errors.Is(tp.Error, kafka.UnknownTopicOrPartition) {
				return nil, nil
			}
			return nil, tp.Error
		}
		for _, p := range tp.Partitions {
			msgs, err := b.readPartition(ctx, topic, p.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, msgs...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}

func (b *Broker) readPartition(ctx context.Context, topic string, partition int) ([]kafka.Message, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", b.Addrs[0], topic, partition)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		return nil, err
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for off := int64(0); off < last; off++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("partition %d offset %d: %w", partition, off, err)
		}
		out = append(out, m)
		off = m.Offset
	}
	return out, nil
}

// Committed returns the group's committed offset of each of topic's first partitions
// partitions, -1 where there is none, failing the test on an error.
func (b *Broker) Committed(group, topic string, partitions int) []int64 {
	b.t.Helper()
	out, err := b.FetchCommitted(group, topic, partitions)
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// FetchCommitted is Committed for a goroutine, which must not fail the test itself.
func (b *Broker) FetchCommitted(group, topic string, partitions int) ([]int64, error) {
	out := make([]int64, partitions)
	ids := make([]int, partitions)
	for i := range out {
		out[i], ids[i] = -1, i
	}
	res, err := b.Client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) { // before the group's first join
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("fetch the offsets of group %s: %w", group, err)
	}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return out, fmt.Errorf("fetch the offset of %s[%d]: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// Eventually polls cond every 10ms until it holds, failing the test with what() after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
