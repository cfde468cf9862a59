package kafkaqueue

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/queue"
)

// Router hands replies addressed to this process to the stream of their conversation.
type Router struct {
	brokers  []string
	topic    string
	instance string
	buffer   int
	log      *slog.Logger
	dropped  prometheus.Counter

	mu    sync.Mutex
	subs  map[string]chan queue.Reply
	ready atomic.Bool
}

// NewRouter returns a router for replies on topic addressed to instance. buffer is the most
// replies a stream may have undelivered (a stream has at most QUEUE_LIMIT jobs waiting).
func NewRouter(bus *kafkabus.Bus, topic, instance string, buffer int, reg prometheus.Registerer, log *slog.Logger) *Router {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "frontdoor_replies_dropped_total",
		Help: "Replies addressed to this process whose stream had gone away.",
	})
	reg.MustRegister(dropped)
	return &Router{brokers: bus.Brokers(), topic: topic, instance: instance, buffer: buffer, log: log, dropped: dropped, subs: map[string]chan queue.Reply{}}
}

// Ready reports whether the router is reading every partition.
func (r *Router) Ready() bool { return r.ready.Load() }

// Subscribe returns the replies for conversation until cancel is called.
func (r *Router) Subscribe(conversation string) (<-chan queue.Reply, func()) {
	ch := make(chan queue.Reply, r.buffer)
	r.mu.Lock()
	r.subs[conversation] = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs, conversation)
		r.mu.Unlock()
	}
}

func (r *Router) deliver(rep queue.Reply) {
	r.mu.Lock()
	ch, ok := r.subs[rep.ConversationID]
	r.mu.Unlock()
	if ok {
		select {
		case ch <- rep:
			return
		default: // the stream is not reading: it is going away
		}
	}
	r.dropped.Inc()
	r.log.Debug("reply dropped: its stream has gone away", "job", rep.JobID, "conversation", rep.ConversationID)
}

// Run reads every partition of the replies topic from its current end until ctx is done,
// retrying while Kafka is unreachable.
func (r *Router) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := r.run(ctx)
		r.ready.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("reply router stopped; restarting", "error", err)
		if !sleep(ctx, 250*time.Millisecond) {
			return nil
		}
	}
	return nil
}

func (r *Router) run(ctx context.Context) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.brokers[0])
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	partitions, err := conn.ReadPartitions(r.topic)
	conn.Close()
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", r.topic, err)
	}
	readers := make([]*kafka.Reader, 0, len(partitions))
	defer func() {
		for _, rd := range readers {
			rd.Close()
		}
	}()
	for _, p := range partitions {
		// Resolve the end now, so that no reply written after start-up is missed.
		leader, err := d.DialLeader(ctx, "tcp", r.brokers[0], r.topic, p.ID)
		if err != nil {
			return fmt.Errorf("dial leader of partition %d: %w", p.ID, err)
		}
		end, err := leader.ReadLastOffset()
		leader.Close()
		if err != nil {
			return fmt.Errorf("end of partition %d: %w", p.ID, err)
		}
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: r.brokers, Topic: r.topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		if err := rd.SetOffset(end); err != nil {
			return fmt.Errorf("seek partition %d: %w", p.ID, err)
		}
		readers = append(readers, rd)
	}
	r.ready.Store(true)
	r.log.Info("reading replies", "topic", r.topic, "partitions", len(readers), "instance", r.instance)
	g, gctx := errgroup.WithContext(ctx)
	for _, rd := range readers {
		g.Go(func() error {
			for {
				m, err := rd.ReadMessage(gctx)
				if err != nil {
					return err
				}
				rep, err := queue.UnmarshalReply(m.Value)
				if err != nil {
					r.log.Warn("undecodable reply skipped", "partition", m.Partition, "offset", m.Offset, "error", err)
					continue
				}
				if rep.ReplyTo == r.instance {
					r.deliver(rep)
				}
			}
		})
	}
	return g.Wait()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
