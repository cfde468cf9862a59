package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
)

// burstResult is one burst run: C conversations each send S sentences at once, N workers
// and a fake model answering in R work through them.
type burstResult struct {
	Workers, Conversations, Sentences int
	Latency                           time.Duration
	// Ideal is how long the pool needs if it is never idle: C·S jobs at min(N, C)/R a second.
	// A conversation's jobs run one after another, so it is also never shorter than S·R.
	Ideal time.Duration
	// Took is from the first sentence sent to the last reply received; FirstReply and
	// LastFirstReply are the earliest and the latest first reply of a conversation.
	Took, FirstReply, LastFirstReply time.Duration
	// Replies counts the replies received (C·S when nothing is lost); FailedReplies, Refused
	// and Invalid should be 0.
	Replies, FailedReplies, Refused, Invalid int64
	// FirstDone is when the first conversation had all its replies: from then on fewer than
	// C conversations have work, and once fewer than N do, the pool cannot be full.
	FirstDone time.Duration
	// FirstAdmitted is when the first sentence's "enqueued" came: of the first reply's wait,
	// what the front door took before the job could start. Admitted is when the last
	// sentence's came: until then the front door's admissions share the machine with the
	// pool's jobs.
	FirstAdmitted, Admitted time.Duration
	// Calls are the dispatcher's model calls, read from its metrics every callSampleEvery
	// from the start: how long a call took (HTTP, the fake's latency included) while the
	// front door was still admitting sentences and after.
	Calls    []callSample
	CPU      map[cpuGroup]time.Duration
	Progress []benchkit.Point
}

// callSample is the dispatcher's model calls so far, and their total duration, at At.
type callSample struct {
	At    time.Duration
	Calls float64
	Sum   float64 // seconds
}

// callSampleEvery is how often the burst reads the dispatcher's model calls.
const callSampleEvery = 500 * time.Millisecond

// callsBetween returns the model calls made between samples a and b and their mean duration.
func callsBetween(a, b callSample) (calls int64, mean time.Duration) {
	n := b.Calls - a.Calls
	if n <= 0 {
		return 0, 0
	}
	return int64(n), seconds((b.Sum - a.Sum) / n)
}

// CallPhases returns the model calls made before the last sentence was admitted (to the
// sample before Admitted) and after, with their mean durations.
func (r burstResult) CallPhases() (admitting, after int64, admittingMean, afterMean time.Duration) {
	if len(r.Calls) < 2 {
		return 0, 0, 0, 0
	}
	first, last, split := r.Calls[0], r.Calls[len(r.Calls)-1], r.Calls[0]
	for _, c := range r.Calls {
		if c.At <= r.Admitted {
			split = c
		}
	}
	admitting, admittingMean = callsBetween(first, split)
	after, afterMean = callsBetween(split, last)
	return admitting, after, admittingMean, afterMean
}

// ModelShare is the share of the pool's capacity (Workers × Took) that went to model calls.
func (r burstResult) ModelShare() float64 {
	if len(r.Calls) < 2 || r.Took <= 0 {
		return 0
	}
	return (r.Calls[len(r.Calls)-1].Sum - r.Calls[0].Sum) / (float64(r.Workers) * r.Took.Seconds())
}

// Ratio is the ideal time over the time taken: 1 when the pool was busy throughout.
func (r burstResult) Ratio() float64 { return r.Ideal.Seconds() / r.Took.Seconds() }

// burstIdeal is max(c·s / (min(n, c)/r), s·r).
func burstIdeal(n, c, s int, r time.Duration) time.Duration {
	pool := time.Duration(float64(c*s) / float64(min(n, c)) * float64(r))
	return max(pool, time.Duration(s)*r)
}

// runBurst has every conversation send all its sentences at once and times the pool's work
// through them, ramp-up and tail included: what a steady throughput window leaves out.
func (b *bench) runBurst(ctx context.Context) (res burstResult, err error) {
	cfg := b.cfg
	c, s := cfg.BurstConversations, cfg.BurstSentences
	res = burstResult{Workers: cfg.Workers, Conversations: c, Sentences: s, Latency: cfg.Latency,
		Ideal: burstIdeal(cfg.Workers, c, s, cfg.Latency)}
	sys, err := b.startSystem(ctx, systemSpec{name: "burst", queueLimit: s, workers: cfg.Workers, latency: cfg.Latency})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pool := newClientPool(sys.frontdoor().rpc, c, cfg.StreamsPerConn)
	defer pool.close()
	convs := b.conversations.add(c)

	limit := 10*res.Ideal + drainWait
	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// Every stream is opened first; then all send at once.
	streams := make([]*queueStream, c)
	for i := range streams {
		streams[i] = pool.client(i).QueueConversation(runCtx)
	}
	defer func() {
		for _, st := range streams {
			_ = st.CloseResponse() // the outcome is what Receive returned
		}
	}()
	var counts streamCounts
	var mu sync.Mutex
	var firsts, lasts []time.Duration         // each conversation's first and last reply
	var firstAdmitted, admitted time.Duration // the first and the last "enqueued" of any conversation
	var streamsDone sync.WaitGroup
	before := sys.cpu()
	sample := func(ctx context.Context, at time.Duration) (callSample, error) {
		m, err := sys.dispatcher.Metrics(ctx)
		if err != nil {
			return callSample{}, fmt.Errorf("burst: dispatcher metrics: %w", err)
		}
		return callSample{At: at, Calls: m[mLLMCallCount], Sum: m[mLLMCallSum]}, nil
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(runCtx)
	for i, st := range streams {
		streamsDone.Add(1)
		g.Go(func() error {
			defer streamsDone.Done()
			times, err := burstStream(gctx, st, i, convs[i], s, start, &counts)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if times.last > 0 {
				firsts, lasts = append(firsts, times.first), append(lasts, times.last)
			}
			admitted = max(admitted, times.admitted)
			if times.firstAdmitted > 0 && (firstAdmitted == 0 || times.firstAdmitted < firstAdmitted) {
				firstAdmitted = times.firstAdmitted
			}
			return nil
		})
	}
	done := make(chan struct{})
	g.Go(func() error {
		streamsDone.Wait()
		close(done)
		return nil
	})
	g.Go(func() error {
		res.Progress = progress(gctx, done, start, &counts.replies)
		return nil
	})
	g.Go(func() error {
		return every(gctx, done, callSampleEvery, func() error {
			c, err := sample(gctx, time.Since(start))
			if err != nil {
				return err
			}
			res.Calls = append(res.Calls, c)
			return nil
		})
	})
	b.log.Info("burst: sending", "conversations", c, "sentences_each", s, "ideal", res.Ideal)
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	if err := runCtx.Err(); err != nil {
		return res, fmt.Errorf("burst: not answered within %s: %w", limit, err)
	}
	res.CPU = benchkit.CPUDelta(before, sys.cpu())
	last, err := sample(runCtx, time.Since(start))
	if err != nil {
		return res, err
	}
	res.Calls = append(res.Calls, last)
	res.Replies, res.FailedReplies = counts.replies.Load(), counts.failed.Load()
	res.Refused, res.Invalid = counts.refused.Load(), counts.invalid.Load()
	if len(lasts) > 0 {
		res.FirstReply, res.LastFirstReply = slices.Min(firsts), slices.Max(firsts)
		res.FirstDone, res.Took = slices.Min(lasts), slices.Max(lasts)
	}
	res.FirstAdmitted, res.Admitted = firstAdmitted, admitted
	b.log.Info("burst: done", "took", res.Took, "ideal", res.Ideal, "ratio", fmt.Sprintf("%.3f", res.Ratio()), "replies", res.Replies)
	return res, nil
}

// streamTimes is when a burst stream received its first and last reply and its first and
// last "enqueued", counted from the burst's start.
type streamTimes struct{ first, last, firstAdmitted, admitted time.Duration }

// burstStream sends conversation conv's sentences on stream at once, half-closes it and
// reads until the server ends it, which it does once every job is answered.
func burstStream(ctx context.Context, stream *queueStream, i int, conv uuid.UUID, sentences int, start time.Time, counts *streamCounts) (times streamTimes, err error) {
	for n := 1; n <= sentences; n++ {
		req := &elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("conversation %d, sentence %d: I keep thinking about my work", i, n)}
		if n == 1 {
			req.ConversationId = conv.String()
		}
		if err := stream.Send(req); err != nil {
			return times, streamError(ctx, i, "send", err)
		}
	}
	if err := stream.CloseRequest(); err != nil {
		return times, streamError(ctx, i, "half-close", err)
	}
	for {
		r, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return times, nil
		}
		if err != nil {
			return times, streamError(ctx, i, "receive", err)
		}
		switch {
		case counts.count(r):
			times.last = time.Since(start)
			if times.first == 0 {
				times.first = times.last
			}
		case r.GetKind() == elizav1.QueueConversationResponse_KIND_ENQUEUED:
			times.admitted = time.Since(start)
			if times.firstAdmitted == 0 {
				times.firstAdmitted = times.admitted
			}
		}
	}
}
