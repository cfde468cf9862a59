package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// drainWait bounds how long a throughput run's streams may take to end once they stop sending:
// the server ends a half-closed stream once each job it accepted is answered.
const drainWait = 30 * time.Second

// throughputResult is one throughput run: C streams keeping work waiting, N workers, a fake
// model answering in R, and maybe a request limit.
type throughputResult struct {
	Workers, Conversations, PerConversation, RPM int
	Latency                                      time.Duration
	// Ideal is min(N, C)/R replies per second, capped by RPM/60 when RPM is set.
	Ideal float64
	// Window is the measured time; Replies the replies the streams received in it and
	// ModelCalls the model calls the dispatcher made in it.
	Window              time.Duration
	Replies, ModelCalls int64
	// FailedReplies, Refused and Invalid count the whole run's error replies, "queue is full!"
	// and other refusals; all should be 0.
	FailedReplies, Refused, Invalid int64
	// From the dispatcher's metrics over the window: mean time a job spent with the model
	// (limiter wait included), mean HTTP call to the model, mean limiter wait; retries.
	JobModelMean, CallMean, RateWaitMean time.Duration
	Retries                              float64
	// ModelConnsClosed counts TCP connections to the fake model closed in the window (TIME_WAIT
	// sockets; a lower bound): the model client's connection reuse.
	ModelConnsClosed int
	CPU              map[cpuGroup]time.Duration
	// Progress is the replies the streams had received, every progressEvery from the first
	// sentence until the measurement was over, for the plot.
	Progress []benchkit.Point
}

// progressEvery is how often a run's progress is kept for its plot.
const progressEvery = 250 * time.Millisecond

// progress returns the replies counted, every progressEvery from start until stop is closed
// or ctx ends: a run's progress, for its plot.
func progress(ctx context.Context, stop <-chan struct{}, start time.Time, replies *atomic.Int64) []benchkit.Point {
	var points []benchkit.Point
	_ = every(ctx, stop, progressEvery, func() error {
		points = append(points, benchkit.Point{At: time.Since(start), Value: float64(replies.Load())})
		return nil
	})
	return points
}

// every calls f at once and then every d, until stop is closed, ctx ends or f fails (its
// error is returned).
func every(ctx context.Context, stop <-chan struct{}, d time.Duration, f func() error) error {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		if err := f(); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ideal returns min(n, c)/r, capped by rpm/60 when rpm > 0.
func ideal(n, c int, r time.Duration, rpm int) float64 {
	v := float64(min(n, c)) / r.Seconds()
	if rpm > 0 {
		v = min(v, float64(rpm)/60)
	}
	return v
}

// RepliesPerSecond is the achieved throughput, as the clients saw it.
func (r throughputResult) RepliesPerSecond() float64 { return float64(r.Replies) / r.Window.Seconds() }

// runThroughput measures replies per second with C streams each keeping PerConversation
// jobs waiting: every stream sends that many sentences, then one more for each reply.
func (b *bench) runThroughput(ctx context.Context, rpm int) (res throughputResult, err error) {
	cfg := b.cfg
	res = throughputResult{Workers: cfg.Workers, Conversations: cfg.Conversations, PerConversation: cfg.PerConversation,
		RPM: rpm, Latency: cfg.Latency, Ideal: ideal(cfg.Workers, cfg.Conversations, cfg.Latency, rpm)}
	name := "throughput"
	if rpm > 0 {
		name = fmt.Sprintf("throughput-rpm%d", rpm)
	}
	sys, err := b.startSystem(ctx, systemSpec{name: name, queueLimit: throughputQueueLimit, workers: cfg.Workers, rpm: rpm, latency: cfg.Latency})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pool := newClientPool(sys.frontdoor().rpc, cfg.Conversations, cfg.StreamsPerConn)
	convs := b.conversations.add(cfg.Conversations)
	defer pool.close()

	var counts streamCounts
	// The streams end once they have had the replies to their last sentences, or at a deadline.
	streamsCtx, stopStreams := context.WithTimeout(ctx, cfg.Warmup+cfg.Window+drainWait)
	defer stopStreams()
	stop := make(chan struct{}) // closed when the measurement is over: the streams stop sending
	g, gctx := errgroup.WithContext(streamsCtx)
	for i := range cfg.Conversations {
		g.Go(func() error {
			return keepBusy(gctx, pool.client(i).QueueConversation(gctx), i, convs[i], cfg.PerConversation, stop, &counts)
		})
	}
	started := time.Now()
	g.Go(func() error {
		res.Progress = progress(gctx, stop, started, &counts.replies)
		return nil
	})
	g.Go(func() error {
		defer close(stop)
		if err := sleep.For(gctx, cfg.Warmup); err != nil {
			return nil // a stream failed; its error is the group's
		}
		before, err := b.throughputSnapshot(gctx, sys, &counts)
		if err != nil {
			return err
		}
		b.log.Info("throughput: measuring", "run", name, "window", cfg.Window)
		if err := sleep.For(gctx, cfg.Window); err != nil {
			return nil
		}
		after, err := b.throughputSnapshot(gctx, sys, &counts)
		if err != nil {
			return err
		}
		res.Window = after.at.Sub(before.at)
		res.Replies = after.replies - before.replies
		res.ModelCalls = int64(benchkit.Delta(before.disp, after.disp, mLLMCalls))
		res.JobModelMean = seconds(benchkit.Mean(before.disp, after.disp, mModelSum, mModelCount))
		res.CallMean = seconds(benchkit.Mean(before.disp, after.disp, mLLMCallSum, mLLMCallCount))
		res.RateWaitMean = seconds(benchkit.Mean(before.disp, after.disp, mRateWaitSum, mRateWaitN))
		res.Retries = benchkit.Delta(before.disp, after.disp, mRetries)
		res.CPU = benchkit.CPUDelta(before.cpu, after.cpu)
		res.ModelConnsClosed = after.timeWait - before.timeWait
		return nil
	})
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	res.FailedReplies, res.Refused, res.Invalid = counts.failed.Load(), counts.refused.Load(), counts.invalid.Load()
	b.log.Info("throughput: done", "run", name, "replies_per_s", fmt.Sprintf("%.1f", res.RepliesPerSecond()), "ideal", res.Ideal)
	return res, nil
}

// throughputSnapshot is the state of a throughput run at one moment.
type throughputSnapshot struct {
	at       time.Time
	replies  int64
	timeWait int
	disp     benchkit.Metrics
	cpu      map[cpuGroup]time.Duration
}

func (b *bench) throughputSnapshot(ctx context.Context, sys *system, counts *streamCounts) (throughputSnapshot, error) {
	s := throughputSnapshot{at: time.Now(), replies: counts.replies.Load(),
		cpu: sys.cpu()}
	var err error
	if s.timeWait, err = timeWaitSockets(sys.modelPort); err != nil {
		return s, err
	}
	if s.disp, err = sys.dispatcher.Metrics(ctx); err != nil {
		return s, fmt.Errorf("dispatcher metrics: %w", err)
	}
	return s, nil
}

// keepBusy starts conversation conv on stream with perConversation sentences, then sends one
// more for each reply. Once stop is closed it sends no more: it half-closes the stream at the
// next reply and reads until the server ends the stream, which it does once the
// conversation's last job is answered. An error before then, unless ctx has ended, is the
// stream's failure.
func keepBusy(ctx context.Context, stream *queueStream, i int, conv uuid.UUID, perConversation int, stop <-chan struct{}, counts *streamCounts) error {
	defer stream.CloseResponse() //nolint:errcheck // the stream's outcome is what Receive returned
	n := 0
	send := func() error {
		n++
		req := &elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("conversation %d, sentence %d: I keep thinking about my work", i, n)}
		if n == 1 {
			req.ConversationId = conv.String()
		}
		return stream.Send(req)
	}
	for range perConversation {
		if err := send(); err != nil {
			return streamError(ctx, i, "send", err)
		}
	}
	halfClosed := false
	for {
		res, err := stream.Receive()
		if halfClosed && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamError(ctx, i, "receive", err)
		}
		if !counts.count(res) || halfClosed {
			continue
		}
		select {
		case <-stop:
			halfClosed = true
			// Also lets the HTTP/2 transport notice a cancelled ctx: while the request body is
			// open, it waits for the body's next message.
			if err := stream.CloseRequest(); err != nil {
				return streamError(ctx, i, "half-close", err)
			}
			continue
		default:
		}
		if err := send(); err != nil {
			return streamError(ctx, i, "send", err)
		}
	}
}
