package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
)

// handlerFunc adapts a function to consumer.Handler.
type handlerFunc func(ctx context.Context, partition int, msgs []kafka.Message) error

func (f handlerFunc) HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error {
	return f(ctx, partition, msgs)
}

// attempt is one call of a handler.
type attempt struct {
	member    string
	partition int
	offsets   []int64
	err       error
}

// journal records every attempt of the handlers it wraps, across members.
type journal struct {
	mu       sync.Mutex
	attempts []attempt
}

// handler returns member's handler: it runs work and records the attempt.
func (j *journal) handler(member string, work handlerFunc) consumer.Handler {
	return handlerFunc(func(ctx context.Context, partition int, msgs []kafka.Message) error {
		err := work(ctx, partition, msgs)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.attempts = append(j.attempts, attempt{member, partition, offsetsOf(msgs), err})
		return err
	})
}

// where returns the attempts for which keep is true.
func (j *journal) where(keep func(attempt) bool) []attempt {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []attempt
	for _, a := range j.attempts {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

func succeeded(a attempt) bool { return a.err == nil }

// gate holds handlers until the test opens it. A test defers open, so that a failed assertion
// leaves no handler blocked when the cleanups stop the members.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) wait() { <-g.ch }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

func succeed(context.Context, int, []kafka.Message) error { return nil }

func TestGroup_CommitsABatchOnlyAfterTheHandlerSucceeds(t *testing.T) {
	b := newBroker(t)
	b.produce(0, 5)
	inHand := make(chan []int64, 10)
	release := newGate()
	defer release.open()
	start(t, consumer.New(b.config(), handlerFunc(func(_ context.Context, _ int, msgs []kafka.Message) error {
		inHand <- offsetsOf(msgs)
		release.wait()
		return nil
	})))

	first := receive(t, inHand, "batch")
	if first[0] != 0 {
		t.Fatalf("first batch %v, want it to start at offset 0", first)
	}
	if got := b.committed(); got[0] != -1 {
		t.Fatalf("partition 0 committed at %d while its first batch is still being handled", got[0])
	}
	release.open()
	b.waitCommitted([partitions]int64{5, -1, -1})
}

func TestGroup_RetriesAFailingBatchUntilItSucceeds(t *testing.T) {
	b := newBroker(t)
	b.produce(1, 4)
	var j journal
	var mu sync.Mutex
	failures := 3
	var committedWhileFailing [][partitions]int64
	start(t, consumer.New(b.config(), j.handler("a", func(context.Context, int, []kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if failures == 0 {
			return nil
		}
		failures--
		c, err := b.fetchCommitted()
		if err != nil {
			return err
		}
		committedWhileFailing = append(committedWhileFailing, c)
		return errors.New("store unavailable")
	})))

	b.waitCommitted([partitions]int64{-1, 4, -1})
	if gen := b.kfake.GroupInfo(group).Epoch; gen != 1 {
		t.Errorf("group in generation %d, want 1: the batch retried in place, not redelivered by a rebalance", gen)
	}
	attempts := j.where(func(attempt) bool { return true })
	if len(attempts) != 4 {
		t.Fatalf("%d attempts, want 3 failures and a success: %+v", len(attempts), attempts)
	}
	for i, a := range attempts {
		if a.partition != 1 || !slices.Equal(a.offsets, span(0, 4)) {
			t.Errorf("attempt %d was partition %d offsets %v, want the same batch each time: partition 1 offsets 0-3", i+1, a.partition, a.offsets)
		}
		if (a.err == nil) != (i == 3) {
			t.Errorf("attempt %d returned %v", i+1, a.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range committedWhileFailing {
		if c[1] != -1 {
			t.Errorf("partition 1 committed at %d during failed attempt %d", c[1], i+1)
		}
	}
}

// A batch whose attempt runs out of HandleTimeout is handled in halves, each committed once
// handled: retried whole, a batch too large to handle within the timeout stopped its
// partition for good (found with a recording of 20,000 signals).
func TestGroup_HandlesABatchThatRunsOutOfItsTimeoutInHalves(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.HandleTimeout = 300 * time.Millisecond
	b.produce(0, 8)
	var j journal
	last := newGate() // holds the last messages' part, to see the parts before it committed
	defer last.open()
	start(t, consumer.New(cfg, j.handler("a", func(ctx context.Context, _ int, msgs []kafka.Message) error {
		// 100 ms a message: two fit the timeout, with too little room left to try four again.
		select {
		case <-time.After(time.Duration(len(msgs)) * 100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if msgs[len(msgs)-1].Offset == 7 {
			last.wait()
		}
		return nil
	})))

	b.waitCommitted([partitions]int64{6, -1, -1}) // each part committed once handled
	last.open()
	b.waitCommitted([partitions]int64{8, -1, -1})
	var handled []int64
	for _, a := range j.where(succeeded) {
		if len(a.offsets) > 2 {
			t.Errorf("a part of %d messages succeeded, which the handler cannot", len(a.offsets))
		}
		handled = append(handled, a.offsets...)
	}
	if !slices.Equal(handled, span(0, 8)) {
		t.Errorf("handled %v, want each of offsets 0-7 once, in order", handled)
	}
	if slow := j.where(func(a attempt) bool { return a.err != nil }); len(slow) == 0 || len(slow) > 2 {
		t.Errorf("%d attempts ran out of the timeout, want one for each halving (8, then 4): %+v", len(slow), slow)
	}
}

// A timeout that was not the batch's size (a database that hung once) halves the part that
// met it, and the parts grow back as they are handled quickly: no run of one-message
// transactions is left behind.
func TestGroup_PartsGrowBackAfterATimeoutThatWasNotTheBatchsSize(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.HandleTimeout = 300 * time.Millisecond
	b.produce(0, 8)
	var j journal
	var hung atomic.Bool
	start(t, consumer.New(cfg, j.handler("a", func(ctx context.Context, _ int, msgs []kafka.Message) error {
		if hung.CompareAndSwap(false, true) { // the first attempt, whatever its size
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})))

	b.waitCommitted([partitions]int64{8, -1, -1})
	var sizes []int
	for _, a := range j.where(succeeded) {
		sizes = append(sizes, len(a.offsets))
	}
	if first := j.where(func(attempt) bool { return true })[0]; len(first.offsets) == 8 && !slices.Equal(sizes, []int{4, 4}) {
		t.Errorf("parts handled %v after the batch of 8 timed out once, want [4 4]: halved once, then grown back", sizes)
	}
}

func TestGroup_NeverCommitsPastAFailingBatchAndTheNextMemberGetsIt(t *testing.T) {
	b := newBroker(t)
	b.produce(0, 5)
	b.produce(1, 3)
	b.produce(2, 3)
	var j journal
	failing := make(chan struct{}, 100)
	first := start(t, consumer.New(b.config(), j.handler("first", func(_ context.Context, _ int, msgs []kafka.Message) error {
		if msgs[len(msgs)-1].Partition == 0 && msgs[len(msgs)-1].Offset >= 5 {
			failing <- struct{}{}
			return errors.New("cannot handle offsets 5 and later")
		}
		return nil
	})))
	b.waitCommitted([partitions]int64{5, 3, 3})

	b.produce(0, 5) // offsets 5-9, which the first member cannot handle
	for range 3 {
		receive(t, failing, "failed attempt")
	}
	if got := b.committed(); got[0] != 5 {
		t.Fatalf("partition 0 committed at %d while its batch from offset 5 fails", got[0])
	}
	first.stop()
	if got := b.committed(); got != [partitions]int64{5, 3, 3} {
		t.Fatalf("committed %v after the first member stopped, want [5 3 3]", got)
	}

	start(t, consumer.New(b.config(), j.handler("second", succeed)))
	b.waitCommitted([partitions]int64{10, 3, 3})
	var redelivered []int64
	for _, a := range j.where(func(a attempt) bool { return a.member == "second" }) {
		if a.partition != 0 {
			t.Errorf("second member got committed offsets %v of partition %d", a.offsets, a.partition)
		}
		redelivered = append(redelivered, a.offsets...)
	}
	if !slices.Equal(redelivered, span(5, 10)) {
		t.Errorf("second member handled offsets %v of partition 0, want 5-9: exactly what was not committed", redelivered)
	}
	if n := len(j.where(func(a attempt) bool { return a.member == "first" && a.err == nil && a.offsets[0] >= 5 })); n != 0 {
		t.Errorf("the first member's handler succeeded on offsets 5 and later %d times", n)
	}
}

func TestGroup_ShutdownFinishesAndCommitsTheBatchInHand(t *testing.T) {
	b := newBroker(t)
	b.produce(2, 6)
	inHand := make(chan struct{}, 10)
	release := newGate()
	defer release.open()
	ctxErrs := make(chan error, 10)
	m := start(t, consumer.New(b.config(), handlerFunc(func(ctx context.Context, _ int, _ []kafka.Message) error {
		inHand <- struct{}{}
		release.wait()
		ctxErrs <- ctx.Err()
		return nil
	})))
	receive(t, inHand, "batch")

	stopped := make(chan struct{})
	go func() {
		m.stop()
		close(stopped)
	}()
	// Shutdown has begun; the batch is still in hand, so Run must still be running.
	if m.stopped() {
		t.Fatal("Run returned with a batch in hand")
	}
	release.open()
	receive(t, stopped, "return from Run")
	if err := receive(t, ctxErrs, "handler result"); err != nil {
		t.Errorf("the batch's context ended at shutdown: %v", err)
	}
	if got := b.committed(); got != [partitions]int64{-1, -1, 6} {
		t.Errorf("committed %v after shutdown, want [-1 -1 6]: the batch in hand committed", got)
	}
}

func TestGroup_HandsOutBatchesOfOnePartitionInOffsetOrder(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	want := map[int][]int64{}
	for round := range 5 {
		for p := range partitions {
			want[p] = append(want[p], b.produce(p, 3+round+p)...)
		}
	}
	var j journal
	var mu sync.Mutex
	var strays []string
	start(t, consumer.New(cfg, j.handler("a", func(_ context.Context, partition int, msgs []kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			if m.Partition != partition || m.Topic != topic {
				strays = append(strays, fmt.Sprintf("%s/%d@%d in a batch of partition %d", m.Topic, m.Partition, m.Offset, partition))
			}
		}
		return nil
	})))

	b.waitCommitted([partitions]int64{int64(len(want[0])), int64(len(want[1])), int64(len(want[2]))})
	mu.Lock()
	for _, s := range strays {
		t.Errorf("stray message: %s", s)
	}
	mu.Unlock()
	largest := 0
	for p := range partitions {
		var got []int64
		for _, a := range j.where(func(a attempt) bool { return a.partition == p }) {
			largest = max(largest, len(a.offsets))
			got = append(got, a.offsets...)
		}
		if !slices.Equal(got, want[p]) {
			t.Errorf("partition %d handled offsets %v, want each once in order %v", p, got, want[p])
		}
	}
	if largest != cfg.BatchSize {
		t.Errorf("largest batch %d messages, want BatchSize (%d): every partition had more waiting", largest, cfg.BatchSize)
	}
}

func TestGroup_ShutdownCommitsABatchInHandThatOutlastsTheSession(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	b.produce(0, 3)
	b.produce(1, 3) // two partitions: one has nothing in hand at shutdown and stops at once
	inHand := make(chan struct{}, 10)
	release := newGate()
	defer release.open()
	ctxErrs := make(chan error, 10)
	var once sync.Once
	m := start(t, consumer.New(cfg, handlerFunc(func(ctx context.Context, partition int, _ []kafka.Message) error {
		if partition == 1 {
			return nil
		}
		once.Do(func() { inHand <- struct{}{} })
		release.wait()
		ctxErrs <- ctx.Err()
		return nil
	})))
	b.waitCommitted([partitions]int64{-1, 3, -1})
	receive(t, inHand, "batch")

	stopped := make(chan struct{})
	go func() {
		m.stop()
		close(stopped)
	}()
	// The batch takes twice the session timeout to finish, within HandleTimeout: the
	// member must stay in the group meanwhile for its commit to be accepted.
	time.Sleep(2 * cfg.SessionTimeout)
	release.open()
	receive(t, stopped, "return from Run")
	if err := receive(t, ctxErrs, "handler result"); err != nil {
		t.Errorf("the batch's context ended at shutdown: %v", err)
	}
	if got := b.committed(); got != [partitions]int64{3, 3, -1} {
		t.Errorf("committed %v after shutdown, want [3 3 -1]: the batch in hand committed", got)
	}
}

func TestGroup_StopsABatchOnceItHoldsBatchBytes(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.BatchSize, cfg.BatchBytes = 10, 3000
	kilobyte := bytes.Repeat([]byte("k"), 1000)
	want := b.Produce(topic, 0, kilobyte, kilobyte, kilobyte, kilobyte, kilobyte, kilobyte, kilobyte)
	want = append(want, b.Produce(topic, 0, bytes.Repeat([]byte("m"), 5000), kilobyte)...)
	var j journal
	start(t, consumer.New(cfg, j.handler("a", func(context.Context, int, []kafka.Message) error { return nil })))

	b.waitCommitted([partitions]int64{int64(len(want)), -1, -1})
	var got [][]int64
	for _, a := range j.where(func(a attempt) bool { return a.partition == 0 }) {
		got = append(got, a.offsets)
	}
	// 3 × 1,000 bytes reach the cap; a batch under it takes one more message even when that
	// one is larger than the cap, then stops.
	wantBatches := [][]int64{want[0:3], want[3:6], want[6:8], want[8:9]}
	if !slices.EqualFunc(got, wantBatches, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, wantBatches)
	}
}

func TestGroup_GathersTheNextBatchWhileOneIsHandled(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.Linger = 20 * time.Millisecond
	b.produce(0, 1)
	inHand := make(chan []int64, 10)
	release := newGate()
	defer release.open()
	start(t, consumer.New(cfg, handlerFunc(func(_ context.Context, _ int, msgs []kafka.Message) error {
		inHand <- offsetsOf(msgs)
		if msgs[0].Offset == 0 {
			release.wait()
		}
		return nil
	})))

	receive(t, inHand, "first batch")
	// Two messages arrive while the first batch is handled, far more than Linger apart: the
	// first of them is gathered into a batch of its own at once, so it is not held back by the
	// batch in hand, and the second starts the batch after.
	b.produce(0, 1)
	time.Sleep(300 * time.Millisecond)
	b.produce(0, 1)
	time.Sleep(300 * time.Millisecond)
	release.open()
	if second, third := receive(t, inHand, "second batch"), receive(t, inHand, "third batch"); !slices.Equal(second, []int64{1}) || !slices.Equal(third, []int64{2}) {
		t.Fatalf("batches after the first: %v and %v, want [1] and [2]", second, third)
	}
	b.waitCommitted([partitions]int64{3, -1, -1})
}

func TestGroup_LagCountsFromTheHandledBatchNotFromWhatIsGatheredAhead(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.BatchSize = 5
	reg := prometheus.NewRegistry()
	cfg.Metrics = consumer.NewMetrics(reg)
	b.produce(0, 20)
	release := newGate()
	defer release.open()
	start(t, consumer.New(cfg, handlerFunc(func(_ context.Context, _ int, msgs []kafka.Message) error {
		if msgs[0].Offset > 0 {
			release.wait() // the second batch is held: the reader has the rest by then
		}
		return nil
	})))

	b.waitCommitted([partitions]int64{5, -1, -1})
	deadline := time.Now().Add(5 * time.Second)
	for {
		lag, ok := gauge(t, reg, "kafka_consumer_lag", "0")
		if ok && lag == 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag of partition 0 after its first batch of 5 (of 20): %v (reported: %v), want 15", lag, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
	release.open()
	b.waitCommitted([partitions]int64{20, -1, -1})
}

// A batch that keeps failing holds its partition's committed offset: the lag, read from the
// partition's end, counts it and everything written after it, and grows as more is written.
// (A lag set only after a commit would not be there at all.)
func TestGroup_LagGrowsWhileABatchKeepsFailing(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	reg := prometheus.NewRegistry()
	cfg.Metrics = consumer.NewMetrics(reg)
	b.produce(0, 10)
	start(t, consumer.New(cfg, handlerFunc(func(context.Context, int, []kafka.Message) error {
		return errors.New("the database is down")
	})))
	waitGauge(t, reg, "kafka_consumer_lag", "0", 10)
	b.produce(0, 5)
	waitGauge(t, reg, "kafka_consumer_lag", "0", 15)
}

// Each partition's lag is reported by its owner only: a member that loses partitions to a
// rebalance, or leaves, removes their series, so the group's sum counts each once.
func TestGroup_LagIsReportedByThePartitionsOwnerOnly(t *testing.T) {
	b := newBroker(t)
	work := handlerFunc(func(context.Context, int, []kafka.Message) error { return nil })
	join := func() (*member, *prometheus.Registry) {
		cfg := b.config()
		reg := prometheus.NewRegistry()
		cfg.Metrics = consumer.NewMetrics(reg)
		return start(t, consumer.New(cfg, work)), reg
	}
	reported := func(reg *prometheus.Registry) []string {
		var out []string
		for p := range partitions {
			if _, ok := gauge(t, reg, "kafka_consumer_lag", strconv.Itoa(p)); ok {
				out = append(out, strconv.Itoa(p))
			}
		}
		return out
	}
	joined := func(reg *prometheus.Registry) float64 { // the member's kafka_consumer_joined
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "kafka_consumer_joined" && len(f.GetMetric()) == 1 {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	first, firstReg := join()
	b.waitMembers(1)
	eventually(t, 10*time.Second, func() bool { return len(reported(firstReg)) == partitions && joined(firstReg) == 1 },
		func() string {
			return fmt.Sprintf("the only member reports %v, joined %v", reported(firstReg), joined(firstReg))
		})

	_, secondReg := join()
	split := b.waitMembers(2)
	eventually(t, 10*time.Second, func() bool {
		a, b := reported(firstReg), reported(secondReg)
		return len(a)+len(b) == partitions && len(a) > 0 && len(b) > 0 && !slices.ContainsFunc(a, func(p string) bool { return slices.Contains(b, p) })
	}, func() string {
		return fmt.Sprintf("after the split %v, the members report %v and %v", split, reported(firstReg), reported(secondReg))
	})

	first.stop()
	b.waitMembers(1)
	eventually(t, 10*time.Second, func() bool {
		return len(reported(firstReg)) == 0 && len(reported(secondReg)) == partitions && joined(firstReg) == 0
	}, func() string {
		return fmt.Sprintf("after the first member left, it reports %v (joined %v) and the second %v",
			reported(firstReg), joined(firstReg), reported(secondReg))
	})
}

// waitGauge waits until the gauge name with label partition is want.
func waitGauge(t *testing.T, reg *prometheus.Registry, name, partition string, want float64) {
	t.Helper()
	var got float64
	var ok bool
	eventually(t, 10*time.Second, func() bool {
		got, ok = gauge(t, reg, name, partition)
		return ok && got == want
	}, func() string {
		return fmt.Sprintf("%s of partition %s: %v (reported: %v), want %v", name, partition, got, ok, want)
	})
}

// gauge returns the value of the gauge name with label partition, and whether it is there.
func gauge(t *testing.T, reg *prometheus.Registry, name, partition string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" && l.GetValue() == partition {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// Partitions says which of its partitions a member owns and has caught up with: those it has
// handled to their ends, not one whose batch is held, and none before it has joined.
func TestGroup_PartitionsSaysWhichAreCaughtUp(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	b.produce(0, 10)
	release := newGate()
	defer release.open()
	g := consumer.New(cfg, handlerFunc(func(_ context.Context, partition int, _ []kafka.Message) error {
		if partition == 0 {
			release.wait()
		}
		return nil
	}))
	if got := g.Partitions(); got != nil {
		t.Fatalf("Partitions before joining: %v, want none", got)
	}
	start(t, g)
	want := map[int]bool{0: false, 1: true, 2: true} // partition 0's batch is held
	deadline := time.Now().Add(10 * time.Second)
	for !maps.Equal(g.Partitions(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("Partitions: %v, want %v", g.Partitions(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release.open()
	want[0] = true
	for !maps.Equal(g.Partitions(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("Partitions once partition 0's batch was let go: %v, want %v", g.Partitions(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
