package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// position is one message's place in the topic.
type position struct {
	partition int
	offset    int64
}

// producer writes small bursts to random partitions until stopped, as a busy topic gets them.
type producer struct {
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	written  []position
	err      error
}

func (b *broker) startProducer() *producer {
	p := &producer{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
			part, n := rand.IntN(partitions), 1+rand.IntN(3)
			res, err := b.client.Produce(context.Background(), &kafka.ProduceRequest{
				Topic: topic, Partition: part, RequiredAcks: kafka.RequireAll,
				Records: kafka.NewRecordReader(make([]kafka.Record, n)...),
			})
			if err == nil {
				err = res.Error
			}
			p.mu.Lock()
			if err != nil {
				p.err = fmt.Errorf("produce to partition %d: %w", part, err)
				p.mu.Unlock()
				return
			}
			for i := range n {
				p.written = append(p.written, position{part, res.BaseOffset + int64(i)})
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// count returns how many messages have been written so far.
func (p *producer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.written)
}

// stop ends production and returns every message written and each partition's end offset.
func (p *producer) stop(t *testing.T) ([]position, [partitions]int64) {
	t.Helper()
	p.stopOnce.Do(func() { close(p.quit) })
	<-p.done
	if p.err != nil {
		t.Fatal(p.err)
	}
	var ends [partitions]int64
	for i := range ends {
		ends[i] = -1
	}
	for _, w := range p.written {
		ends[w.partition] = max(ends[w.partition], w.offset+1)
	}
	return p.written, ends
}

// writtenSince returns the messages written after the first n, and how many there are of
// each partition.
func (p *producer) writtenSince(n int) ([]position, [partitions]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	since := slices.Clone(p.written[n:])
	var each [partitions]int
	for _, w := range since {
		each[w.partition]++
	}
	return since, each
}

// waitEach waits until at least n messages of each partition have been written after the
// first from, and returns them.
func (p *producer) waitEach(t *testing.T, from, n int) []position {
	t.Helper()
	var since []position
	var each [partitions]int
	eventually(t, 10*time.Second, func() bool {
		since, each = p.writtenSince(from)
		return slices.Min(each[:]) >= n
	}, func() string { return fmt.Sprintf("messages written of each partition: %v", each) })
	return since
}

// waitHandled waits until the group has committed past every message of ws.
func (b *broker) waitHandled(ws []position) {
	b.t.Helper()
	var want, got [partitions]int64
	for _, w := range ws {
		want[w.partition] = max(want[w.partition], w.offset+1)
	}
	eventually(b.t, 10*time.Second, func() bool {
		got = b.committed()
		for p := range got {
			if got[p] < want[p] {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("committed %v, want at least %v", got, want) })
}

func TestGroup_MembersSplitThePartitionsAndTheOneLeftTakesOverTheOthers(t *testing.T) {
	b := newBroker(t)
	var j journal
	work := func(context.Context, int, []kafka.Message) error {
		time.Sleep(time.Millisecond) // batches are in hand when the group rebalances
		return nil
	}
	produced := b.startProducer()
	defer produced.stop(t)

	first := start(t, consumer.New(b.config(), j.handler("first", work)))
	b.waitMembers(1)
	produced.waitEach(t, 0, 3)
	start(t, consumer.New(b.config(), j.handler("second", work)))
	split := b.waitMembers(2)
	// Messages written from now on are handled by their partition's owner in this generation.
	inTwo := produced.waitEach(t, produced.count(), 5)
	b.waitHandled(inTwo)

	before := b.kfake.GroupInfo(group).Epoch
	first.stop()
	if all := b.waitMembers(1); !slices.Equal(all[0], []int32{0, 1, 2}) {
		t.Fatalf("the remaining member holds partitions %v, want all", all[0])
	}
	if after := b.kfake.GroupInfo(group).Epoch; after != before+1 {
		t.Errorf("generation went from %d to %d as one member left, want a single rebalance", before, after)
	}
	alone := produced.waitEach(t, produced.count(), 5)

	written, ends := produced.stop(t)
	b.waitCommitted(ends)
	handled := map[position][]string{}
	for _, a := range j.where(succeeded) {
		for _, o := range a.offsets {
			pos := position{a.partition, o}
			handled[pos] = append(handled[pos], a.member)
		}
	}
	for _, w := range written {
		switch by := handled[w]; {
		case len(by) == 0:
			t.Errorf("message %+v was never handled", w)
		case len(by) > 1:
			// Every handover here is orderly: the batch in hand is finished and committed
			// before the partition moves, so nothing committed may come again.
			t.Errorf("message %+v was handled %d times, by %v", w, len(by), by)
		}
	}
	owners := map[string][]int32{}
	for _, w := range inTwo {
		if by := handled[w]; len(by) > 0 && !slices.Contains(owners[by[0]], int32(w.partition)) {
			owners[by[0]] = append(owners[by[0]], int32(w.partition))
		}
	}
	for _, ps := range owners {
		slices.Sort(ps)
	}
	if len(owners) != 2 || !slices.ContainsFunc(split, func(ps []int32) bool { return slices.Equal(ps, owners["first"]) }) ||
		!slices.ContainsFunc(split, func(ps []int32) bool { return slices.Equal(ps, owners["second"]) }) {
		t.Errorf("with both members, partitions were handled by %v, want the broker's split %v", owners, split)
	}
	for _, w := range alone {
		if by := handled[w]; len(by) > 0 && by[0] != "second" {
			t.Errorf("message %+v, written after the first member left, was handled by %s", w, by[0])
		}
	}
}

// A rebalance is not an outage: a member whose generation ends because another joins stays
// Joined (readiness reads it), while one that cannot reach the broker does not (outage_test.go).
func TestGroup_AMemberStaysJoinedThroughARebalance(t *testing.T) {
	b := newBroker(t)
	idle := func(context.Context, int, []kafka.Message) error { return nil }
	g := consumer.New(b.config(), handlerFunc(idle))
	start(t, g)
	b.waitMembers(1)
	// The broker counts the member once it has joined, a moment before the member has heard
	// so: a poll in that moment saw Joined false (once, in a CI run), before any rebalance.
	kafkatest.Eventually(t, 10*time.Second, g.Joined, func() string { return "the first member never joined" })
	epoch := b.kfake.GroupInfo(group).Epoch

	var unjoined atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if !g.Joined() {
					unjoined.Add(1)
				}
			}
		}
	}()
	start(t, consumer.New(b.config(), handlerFunc(idle)))
	b.waitMembers(2)
	close(stop)
	<-done
	if after := b.kfake.GroupInfo(group).Epoch; after <= epoch {
		t.Fatalf("generation %d, then %d: the second member's join did not rebalance the group", epoch, after)
	}
	if n := unjoined.Load(); n > 0 {
		t.Fatalf("Joined was false in %d polls during the rebalance", n)
	}
}
