package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// exchangeConcurrency bounds the streams exchanging their one sentence at once.
const exchangeConcurrency = 256

// memoryReading is the front door's memory at one moment.
type memoryReading struct {
	Label                 string
	OpenStreams           float64 // frontdoor_rpc_open_streams
	RSS                   int64
	HeapInuse, StackInuse float64
	Goroutines            float64
}

// memoryResult is the memory run: readings before the streams, with them open and idle
// (twice: before and after each said one sentence), and after they closed.
type memoryResult struct {
	Streams, Conns int
	QueueLimit     int
	// Opened is how long opening every stream took, until the front door counted them all.
	Opened time.Duration
	// Baseline, Idle, Answered and Closed are the readings.
	Baseline, Idle, Answered, Closed memoryReading
	// Unanswered counts streams whose sentence got no enqueued-then-reply (should be 0).
	Unanswered int
}

// perStream returns (r − base) / streams for each measure.
func (m memoryResult) perStream(r memoryReading) (rss, heap, stack, goroutines float64) {
	n := float64(m.Streams)
	return float64(r.RSS-m.Baseline.RSS) / n, (r.HeapInuse - m.Baseline.HeapInuse) / n,
		(r.StackInuse - m.Baseline.StackInuse) / n, (r.Goroutines - m.Baseline.Goroutines) / n
}

// runMemory opens IdleStreams QueueConversation streams on one front door and reads its
// memory: before, once every stream is open and has sent nothing (only its headers), once
// every stream has had one sentence enqueued and answered and sits idle again, and after all
// are closed.
func (b *bench) runMemory(ctx context.Context) (res memoryResult, err error) {
	cfg := b.cfg
	res = memoryResult{Streams: cfg.IdleStreams, QueueLimit: cfg.MemoryQueueLimit}
	sys, err := b.startSystem(ctx, systemSpec{name: "memory", queueLimit: cfg.MemoryQueueLimit, workers: cfg.Workers, latency: cfg.FastLatency})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pool := newClientPool(sys.frontdoor().rpc, cfg.IdleStreams, cfg.StreamsPerConn)
	defer pool.close()
	res.Conns = pool.conns()

	if res.Baseline, err = b.readMemory(ctx, sys, "before any stream"); err != nil {
		return res, err
	}

	streamsCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	streams := make([]*queueStream, cfg.IdleStreams)
	closeAll := func() {
		for i, s := range streams {
			if s != nil {
				// Half-close first: the server then ends the stream (nothing is pending), and
				// the HTTP/2 transport, no longer waiting for request data, acts on ctx.
				_ = s.CloseRequest()
				_ = s.CloseResponse()
				streams[i] = nil
			}
		}
	}
	defer closeAll()
	b.log.Info("memory: opening streams", "streams", cfg.IdleStreams, "connections", res.Conns)
	start := time.Now()
	for i := range streams {
		streams[i] = pool.client(i).QueueConversation(streamsCtx)
		// A nil message sends the request headers only: the server's handler starts and waits.
		if err := streams[i].Send(nil); err != nil {
			return res, fmt.Errorf("open stream %d: %w", i, err)
		}
	}
	if err := waitOpenStreams(ctx, sys, float64(cfg.IdleStreams), time.Minute); err != nil {
		return res, err
	}
	res.Opened = time.Since(start)
	if res.Idle, err = b.readMemory(ctx, sys, "open, nothing sent"); err != nil {
		return res, err
	}

	b.log.Info("memory: one sentence per stream")
	unanswered, err := exchangeOne(ctx, streams, b.conversations.add(len(streams)))
	if err != nil {
		return res, err
	}
	res.Unanswered = unanswered
	if res.Answered, err = b.readMemory(ctx, sys, "open, one sentence answered"); err != nil {
		return res, err
	}

	closeAll()
	if err := waitOpenStreams(ctx, sys, 0, time.Minute); err != nil {
		return res, err
	}
	if res.Closed, err = b.readMemory(ctx, sys, "all closed again"); err != nil {
		return res, err
	}
	return res, nil
}

// exchangeOne has every stream start its conversation (convs, one per stream) with one
// sentence and read its acknowledgement and reply. It returns how many streams got anything
// else.
func exchangeOne(ctx context.Context, streams []*queueStream, convs []uuid.UUID) (int, error) {
	results := make([]bool, len(streams))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(exchangeConcurrency)
	for i, s := range streams {
		g.Go(func() error {
			if err := s.Send(&elizav1.QueueConversationRequest{ConversationId: convs[i].String(), Sentence: fmt.Sprintf("stream %d: hello, I would like to talk", i)}); err != nil {
				return streamError(gctx, i, "send", err)
			}
			ack, err := s.Receive()
			if err != nil {
				return streamError(gctx, i, "receive", err)
			}
			if ack.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
				return nil
			}
			reply, err := s.Receive()
			if err != nil {
				return streamError(gctx, i, "receive", err)
			}
			results[i] = reply.GetKind() == elizav1.QueueConversationResponse_KIND_REPLY
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("one sentence per stream: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("one sentence per stream: %w", err)
	}
	unanswered := 0
	for _, ok := range results {
		if !ok {
			unanswered++
		}
	}
	return unanswered, nil
}

// waitOpenStreams waits until the front door counts want open streams.
func waitOpenStreams(ctx context.Context, sys *system, want float64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := sys.frontdoor().proc.WaitMetric(ctx, mOpenStreams, 100*time.Millisecond, func(v float64) bool { return v == want }); err != nil {
		return fmt.Errorf("front door's open streams, want %.0f: %w", want, err)
	}
	return nil
}

// readMemory lets the front door settle, then reads its RSS and Go runtime metrics.
func (b *bench) readMemory(ctx context.Context, sys *system, label string) (memoryReading, error) {
	r := memoryReading{Label: label}
	if err := sleep.For(ctx, b.cfg.Settle); err != nil {
		return r, fmt.Errorf("memory reading %q: %w", label, err)
	}
	m, err := sys.frontdoor().proc.Metrics(ctx)
	if err != nil {
		return r, fmt.Errorf("memory reading %q: %w", label, err)
	}
	if r.RSS, err = benchkit.RSS(sys.frontdoor().proc.PID()); err != nil {
		return r, fmt.Errorf("memory reading %q: %w", label, err)
	}
	r.OpenStreams, r.HeapInuse, r.StackInuse, r.Goroutines = m[mOpenStreams], m[mHeapInuse], m[mStackInuse], m[mGoroutines]
	b.log.Info("memory reading", "at", label, "open_streams", r.OpenStreams, "rss_mib", float64(r.RSS)/(1<<20))
	return r, nil
}
