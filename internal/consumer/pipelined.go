package consumer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Processor handles messages one at a time as they arrive, possibly many at once and finishing
// in any order. Process must return quickly (hand the work to goroutines of its own) and call
// done exactly once when the message's work is durable, or, for work not begun when the
// partition stopped (Stopping), Release instead. The group commits the highest offset
// below which every message is done, so a restart resumes at the lowest unfinished message:
// it redoes that one and whatever after it had finished but could not be committed yet.
type Processor interface {
	Process(ctx context.Context, msg kafka.Message, done func())
}

// NewPipelined returns a Group that hands messages to p as they arrive. At most
// Config.BatchSize messages per partition are outstanding at once (back-pressure).
func NewPipelined(cfg Config, p Processor) *Group {
	cfg.defaults()
	g := &Group{cfg: cfg, processor: p}
	g.view.gen = -1
	cfg.Metrics.track(cfg.GroupID, g.Joined)
	return g
}

// stoppingKey is the context key of what Stopping and Release read.
type stoppingKey struct{}

// stopping is what a pipelined partition puts in the context of each message it hands its
// Processor.
type stopping struct {
	stopped <-chan struct{}
	release func()
}

// WithStopping returns ctx carrying stopped, as Stopping returns it, and release, as Release
// calls it: how a pipelined partition marks the context of each message it hands its
// Processor.
func WithStopping(ctx context.Context, stopped <-chan struct{}, release func()) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stopping{stopped: stopped, release: release})
}

// Stopping returns a channel closed once the pipelined partition that handed a Processor ctx
// with its message has stopped taking messages: its generation ended (a rebalance) or the
// group is shutting down. The work in hand goes on, and ctx is not cancelled; but work on the
// message not begun by then is better not begun: its done would come too late to be
// committed, so the partition's next owner reads the message again and does it too. The
// Processor then calls Release instead of done. Nil (never closed) for a ctx no partition
// made.
func Stopping(ctx context.Context) <-chan struct{} {
	s, _ := ctx.Value(stoppingKey{}).(stopping)
	return s.stopped
}

// Release gives back the message of ctx without its work, once Stopping is closed, in place of
// its done: the partition stops waiting for it, and commits nothing from it on (its next owner
// reads it again). Nothing, for a ctx no partition made.
func Release(ctx context.Context) {
	if s, ok := ctx.Value(stoppingKey{}).(stopping); ok && s.release != nil {
		s.release()
	}
}

// commitEvery is how often a pipelined partition commits what is done.
const commitEvery = 200 * time.Millisecond

// pipelinePartition hands the partition's messages to the processor until stop (the end of the
// generation, or shutdown: ctx), committing what is done every commitEvery.
func (g *Group) pipelinePartition(ctx, stop context.Context, gen *kafka.Generation, partition int, r *kafka.Reader, pos *position, log *slog.Logger) {
	loopDone := make(chan struct{})
	defer close(loopDone)
	acks := make(chan int64, g.cfg.BatchSize)
	released := make(chan int64, g.cfg.BatchSize) // messages given back undone (Release)
	slots := make(chan struct{}, g.cfg.BatchSize)
	msgs := make(chan kafka.Message)
	fetchCtx, stopFetch := context.WithCancel(stop)
	defer stopFetch()
	go func() {
		defer close(msgs)
		for {
			select {
			case slots <- struct{}{}:
			case <-fetchCtx.Done():
				return
			}
			m, err := r.FetchMessage(fetchCtx)
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	}()

	var pending offsets
	committed := int64(-1)
	commit := func() {
		if next, ok := pending.committable(); ok && next > committed {
			if g.commit(gen, partition, next, log) {
				pos.next.Store(next)
			}
			committed = next
		}
	}
	// Work keeps running after a rebalance or shutdown begins: it is not cancelled with stop.
	// What has not begun by then may see that the partition stopped (Stopping), and give its
	// message back (Release).
	workCtx := context.WithoutCancel(stop)
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	for msgs != nil {
		select {
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			pending.add(m.Offset)
			offset := m.Offset
			var once sync.Once // done or released, once
			send := func(to chan<- int64) {
				once.Do(func() {
					select {
					case to <- offset:
					case <-loopDone:
					}
				})
			}
			msgCtx := WithStopping(workCtx, stop.Done(), func() { send(released) })
			g.processor.Process(msgCtx, m, func() { send(acks) })
		case off := <-acks:
			pending.done(off)
			<-slots
		case <-tick.C:
			commit()
		}
	}
	// Fetching has stopped: wait for the work in hand, within HandleTimeout at shutdown and
	// RebalanceDrain at a rebalance (the group waits for this member meanwhile), and commit it.
	wait := g.cfg.HandleTimeout
	if ctx.Err() == nil {
		wait = min(wait, g.cfg.RebalanceDrain)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	given := 0 // messages given back undone (Release): nothing more comes of them
	for pending.unfinished() > given {
		select {
		case off := <-acks:
			pending.done(off)
		case <-released:
			given++
		case <-deadline.C:
			log.Warn("unfinished work left uncommitted; "+g.fate(ctx, "it will be redone"), "outstanding", pending.unfinished()-given, "waited", wait, "shutdown", ctx.Err() != nil)
			commit()
			return
		}
	}
	commit()
}

// offsets tracks the outstanding offsets of one partition, in the order they were read.
type offsets struct {
	order    []int64
	finished map[int64]bool
	last     int64
	any      bool
}

func (o *offsets) add(off int64) {
	if o.finished == nil {
		o.finished = map[int64]bool{}
	}
	o.order = append(o.order, off)
	o.last, o.any = off, true
}

func (o *offsets) done(off int64) {
	o.finished[off] = true
	for len(o.order) > 0 && o.finished[o.order[0]] {
		delete(o.finished, o.order[0])
		o.order = o.order[1:]
	}
}

// committable returns the offset to commit: the lowest outstanding one, or the one after the
// last read when nothing is outstanding.
func (o *offsets) committable() (int64, bool) {
	if !o.any {
		return 0, false
	}
	if len(o.order) > 0 {
		return o.order[0], true
	}
	return o.last + 1, true
}

func (o *offsets) empty() bool { return len(o.order) == 0 }

// unfinished is how many offsets read are not done: those outstanding, less those done behind
// one that is not.
func (o *offsets) unfinished() int { return len(o.order) - len(o.finished) }
