package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// holder is a Processor that keeps every message's work unfinished until the test finishes
// it, and records what it was given.
type holder struct {
	mu          sync.Mutex
	limit       int // BatchSize: more outstanding in one partition is recorded as a violation
	pending     map[position]func()
	arrived     []position
	outstanding [partitions]int
	violations  []string
}

func newHolder(limit int) *holder {
	return &holder{limit: limit, pending: map[position]func(){}}
}

func (h *holder) Process(_ context.Context, msg kafka.Message, done func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pos := position{msg.Partition, msg.Offset}
	h.arrived = append(h.arrived, pos)
	h.pending[pos] = done
	h.outstanding[pos.partition]++
	if n := h.outstanding[pos.partition]; n > h.limit {
		h.violations = append(h.violations, fmt.Sprintf("offset %d of partition %d arrived with %d outstanding", pos.offset, pos.partition, n))
	}
}

// finish completes the work of the given offsets of partition p, in the order given.
func (h *holder) finish(t *testing.T, p int, offsets ...int64) {
	t.Helper()
	for _, o := range offsets {
		h.mu.Lock()
		done, ok := h.pending[position{p, o}]
		delete(h.pending, position{p, o})
		if ok {
			h.outstanding[p]--
		}
		h.mu.Unlock()
		if !ok {
			t.Fatalf("offset %d of partition %d is not outstanding", o, p)
		}
		done()
	}
}

// received returns the offsets of partition p given to the processor, in arrival order.
func (h *holder) received(p int) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int64
	for _, a := range h.arrived {
		if a.partition == p {
			out = append(out, a.offset)
		}
	}
	return out
}

// waitReceived waits until the processor has been given n messages of partition p.
func (h *holder) waitReceived(t *testing.T, p, n int) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return len(h.received(p)) >= n }, func() string {
		return fmt.Sprintf("processor got offsets %v of partition %d, want %d messages", h.received(p), p, n)
	})
}

func (h *holder) checkLimit(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.violations {
		t.Errorf("more than %d outstanding: %s", h.limit, v)
	}
}

// processorFunc adapts a function to consumer.Processor.
type processorFunc func(ctx context.Context, msg kafka.Message, done func())

func (f processorFunc) Process(ctx context.Context, msg kafka.Message, done func()) {
	f(ctx, msg, done)
}

func TestPipelined_CommitsOnlyBelowTheLowestUnfinishedMessage(t *testing.T) {
	b := newBroker(t)
	b.produce(0, 10)
	h := newHolder(b.config().BatchSize)
	start(t, consumer.NewPipelined(b.config(), h))
	h.waitReceived(t, 0, 10)

	h.finish(t, 0, 9, 8, 7, 5, 4, 6, 2, 1) // everything but 0 and 3, out of order
	h.finish(t, 0, 0)
	var got [partitions]int64
	eventually(t, 10*time.Second, func() bool { got = b.committed(); return got[0] >= 1 }, func() string {
		return fmt.Sprintf("committed %v once offset 0 was done", got)
	})
	if got[0] != 3 {
		t.Fatalf("committed offset %d of partition 0 with offsets 0-2 and 4-9 done, want 3", got[0])
	}
	h.finish(t, 0, 3)
	b.waitCommitted([partitions]int64{10, -1, -1})
}

func TestPipelined_ARestartResumesAtTheLowestUnfinishedMessage(t *testing.T) {
	b := newBroker(t)
	b.produce(0, 10)
	b.produce(1, 4)
	cfg := b.config()
	cfg.HandleTimeout = 500 * time.Millisecond // how long shutdown waits for work in hand
	h := newHolder(cfg.BatchSize)
	first := start(t, consumer.NewPipelined(cfg, h))
	h.waitReceived(t, 0, 10)
	h.waitReceived(t, 1, 4)
	h.finish(t, 1, 0, 1, 2, 3)
	h.finish(t, 0, 0, 1, 2, 4, 5, 6, 8, 9) // 3 and 7 unfinished
	b.waitCommitted([partitions]int64{3, 4, -1})

	stopped := make(chan struct{})
	stopping := time.Now()
	go func() {
		first.stop()
		close(stopped)
	}()
	h.finish(t, 0, 3) // finished while shutting down: committed, not redone
	receive(t, stopped, "return from Run")
	if took := time.Since(stopping); took < cfg.HandleTimeout {
		t.Errorf("Run returned %s after its context ended, with offset 7 unfinished: want it to wait HandleTimeout (%s)", took, cfg.HandleTimeout)
	}
	if got := b.committed(); got != [partitions]int64{7, 4, -1} {
		t.Fatalf("committed %v after shutdown with offset 7 of partition 0 unfinished, want [7 4 -1]", got)
	}
	h.finish(t, 0, 7) // too late: the member has gone

	var mu sync.Mutex
	var redone []position
	start(t, consumer.NewPipelined(b.config(), processorFunc(func(_ context.Context, msg kafka.Message, done func()) {
		mu.Lock()
		redone = append(redone, position{msg.Partition, msg.Offset})
		mu.Unlock()
		done()
	})))
	b.waitCommitted([partitions]int64{10, 4, -1})
	mu.Lock()
	defer mu.Unlock()
	if want := []position{{0, 7}, {0, 8}, {0, 9}}; !slices.Equal(redone, want) {
		t.Errorf("after the restart the processor got %v, want %v: from the lowest unfinished message on", redone, want)
	}
}

// Work left uncommitted at shutdown is said to be redone, unless the broker dies with the
// process (LostAtExit: standalone's, in memory), where nothing will redo it: it was said to be
// redone there too.
func TestPipelined_SaysWhatBecomesOfWorkLeftAtShutdown(t *testing.T) {
	for lost, want := range map[bool]string{false: "it will be redone", true: "it is lost with the process"} {
		b := newBroker(t)
		b.produce(0, 1)
		var logged proctest.Buffer
		cfg := b.config()
		cfg.HandleTimeout, cfg.LostAtExit = 200*time.Millisecond, lost
		cfg.Log = slog.New(slog.NewTextHandler(&logged, nil))
		h := newHolder(cfg.BatchSize)
		m := start(t, consumer.NewPipelined(cfg, h))
		h.waitReceived(t, 0, 1)
		m.stop()
		if !strings.Contains(logged.String(), "unfinished work left uncommitted") || !strings.Contains(logged.String(), want) {
			t.Errorf("LostAtExit %t: logged %q, want it to say %q", lost, logged.String(), want)
		}
	}
}

func TestPipelined_KeepsAtMostBatchSizeMessagesOutstandingPerPartition(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.BatchSize = 3
	b.produce(0, 12)
	h := newHolder(cfg.BatchSize)
	start(t, consumer.NewPipelined(cfg, h))
	h.waitReceived(t, 0, 3)

	// A partition with all its slots taken does not hold the others back.
	b.produce(1, 2)
	h.waitReceived(t, 1, 2)

	for next := 3; next < 12; next++ {
		h.finish(t, 0, int64(next-3)) // frees one slot: one more message may come
		h.waitReceived(t, 0, next+1)
	}
	h.finish(t, 0, 9, 10, 11)
	h.finish(t, 1, 0, 1)
	b.waitCommitted([partitions]int64{12, 2, -1})
	h.checkLimit(t)
	if got := h.received(0); !slices.Equal(got, span(0, 12)) {
		t.Errorf("partition 0 arrived as %v, want each offset once in order", got)
	}
}

// At a rebalance the whole group waits for its slowest member: a member whose work in hand is
// slow waits for it at most RebalanceDrain, then rejoins; the work is left uncommitted, and
// the partition's next owner gets it again.
func TestPipelined_ARebalanceWaitsForWorkInHandAtMostRebalanceDrain(t *testing.T) {
	b := newBroker(t)
	b.produce(0, 1)
	b.produce(1, 1)
	b.produce(2, 1)
	cfg := b.config()
	cfg.HandleTimeout, cfg.RebalanceDrain = 5*time.Second, 300*time.Millisecond
	h := newHolder(cfg.BatchSize) // never finishes anything
	start(t, consumer.NewPipelined(cfg, h))
	for p := range partitions {
		h.waitReceived(t, p, 1)
	}

	var mu sync.Mutex
	var second []position
	joining := time.Now()
	start(t, consumer.NewPipelined(cfg, processorFunc(func(_ context.Context, msg kafka.Message, done func()) {
		mu.Lock()
		second = append(second, position{msg.Partition, msg.Offset})
		mu.Unlock()
		done()
	})))
	b.waitMembers(2)
	took := time.Since(joining)
	eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(second) > 0 },
		func() string { return "the second member got nothing of the first's unfinished work" })
	if took > 3*time.Second {
		t.Errorf("the rebalance took %s with work in hand for longer than HandleTimeout, want about RebalanceDrain (%s)", took, cfg.RebalanceDrain)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, pos := range second {
		if pos.offset != 0 {
			t.Errorf("the second member got %v, want the unfinished offset 0 of its partitions again", pos)
		}
	}
}
