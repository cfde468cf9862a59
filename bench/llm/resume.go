package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// Bounds of the resume run's steps.
const (
	// buildWait bounds building the conversations: every sentence queued and answered.
	buildWait = 2 * time.Minute
	// resumeWait bounds one resume, from the first message to the end of the stream.
	resumeWait = 30 * time.Second
)

// resumeResult is the resume run: conversations of Events events each are built, then
// resumed from serial 0 one at a time, each resume timed on the client until its last event.
type resumeResult struct {
	Conversations, Events, Runs int
	// Build is how long building the conversations took (queueing and answering every
	// sentence).
	Build time.Duration
	// First and All are, over the runs, the time from the resuming stream's first message to
	// its first event, and to its last (serial Events).
	First, All benchkit.Distribution
	// Wrong counts the runs whose events were not serials 1 to Events, in order, each once.
	Wrong int
	// Reads is what the front door exchanged with Postgres over all runs, each from its first
	// message to the stream's end (the replay, and the end of the stream once the client
	// half-closed).
	Reads pgcount.Counts
}

// runResume builds ResumeConversations conversations of ResumeEvents events each through one
// front door, in the normal way (a QueueConversation stream per conversation queueing
// ResumeEvents/2 sentences, each answered by the fast model), then resumes them from serial 0,
// Resumes times in all, round robin, one at a time.
func (b *bench) runResume(ctx context.Context) (res resumeResult, err error) {
	cfg := b.cfg
	sentences := cfg.ResumeEvents / 2
	res = resumeResult{Conversations: cfg.ResumeConversations, Events: cfg.ResumeEvents}
	sys, err := b.startSystem(ctx, systemSpec{
		name: "resume", countReads: true, queueLimit: max(enqueueQueueLimit, sentences), workers: cfg.Workers, latency: cfg.FastLatency,
	})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pool := newClientPool(sys.frontdoor().rpc, cfg.ResumeConversations, cfg.StreamsPerConn)
	defer pool.close()
	client := pool.client(0)

	convs := b.conversations.add(cfg.ResumeConversations)
	b.log.Info("resume: building conversations", "conversations", len(convs), "sentences", sentences, "events", cfg.ResumeEvents)
	start := time.Now()
	buildCtx, cancel := context.WithTimeout(ctx, buildWait)
	defer cancel()
	g, gctx := errgroup.WithContext(buildCtx)
	for i, conv := range convs {
		g.Go(func() error { return buildConversation(gctx, client, i, conv, sentences) })
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("resume: build: %w", err)
	}
	res.Build = time.Since(start)

	// One resume untimed, so that the HTTP/2 connection is up before the first timed one.
	if _, err := resumeOnce(ctx, client, convs[0], cfg.ResumeEvents); err != nil {
		return res, fmt.Errorf("resume: warm-up: %w", err)
	}
	b.log.Info("resume: resuming", "runs", cfg.Resumes, "built_in", res.Build.Round(time.Millisecond))
	var first, all []time.Duration
	before := sys.frontdoor().proxy.Counts()
	for i := range cfg.Resumes {
		run, err := resumeOnce(ctx, client, convs[i%len(convs)], cfg.ResumeEvents)
		if err != nil {
			return res, fmt.Errorf("resume %d: %w", i+1, err)
		}
		first, all = append(first, run.first), append(all, run.all)
		if !run.inOrder {
			res.Wrong++
		}
	}
	res.Reads = sys.frontdoor().proxy.Counts().Sub(before)
	res.Runs, res.First, res.All = cfg.Resumes, benchkit.Summarise(first), benchkit.Summarise(all)
	b.log.Info("resume: done", "runs", res.Runs, "p50", res.All.P50, "max", res.All.Max, "wrong", res.Wrong)
	return res, nil
}

// buildConversation starts conversation conv on a stream, queues sentences on it, half-closes
// and reads until the server ends the stream, which it does once every job is answered. The
// conversation then has 2 × sentences events: each sentence's acceptance and its answer.
func buildConversation(ctx context.Context, client elizav1connect.ElizaServiceClient, i int, conv uuid.UUID, sentences int) error {
	stream := client.QueueConversation(ctx)
	defer stream.CloseResponse() //nolint:errcheck // the stream's outcome is what Receive returned
	for n := range sentences {
		req := &elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("conversation %d, sentence %d: I remember my childhood", i, n+1)}
		if n == 0 {
			req.ConversationId = conv.String()
		}
		if err := stream.Send(req); err != nil {
			return streamError(ctx, i, "send", err)
		}
	}
	if err := stream.CloseRequest(); err != nil {
		return streamError(ctx, i, "half-close", err)
	}
	var last uint64
	for {
		res, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return streamError(ctx, i, "receive", err)
		}
		if res.GetSerial() == 0 {
			return fmt.Errorf("conversation %d: sentence refused: %s", i, res.GetSentence())
		}
		if isReply(res) && res.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY {
			return fmt.Errorf("conversation %d: job failed: %s", i, res.GetSentence())
		}
		last = res.GetSerial()
	}
	if want := uint64(2 * sentences); last != want {
		return fmt.Errorf("conversation %d: the stream ended at serial %d, want %d", i, last, want)
	}
	return nil
}

// resumeRun is one resume's timings, from its first message.
type resumeRun struct {
	first, all time.Duration
	// inOrder: the events were serials 1 to the last, in order, each once.
	inOrder bool
}

// resumeOnce attaches a new stream to conv from serial 0 (a first message with the
// conversation and resume_after 0, and no sentence), reads until the event with serial
// events, then half-closes and reads until the server ends the stream.
func resumeOnce(ctx context.Context, client elizav1connect.ElizaServiceClient, conv uuid.UUID, events int) (resumeRun, error) {
	ctx, cancel := context.WithTimeout(ctx, resumeWait)
	defer cancel()
	stream := client.QueueConversation(ctx)
	defer stream.CloseResponse() //nolint:errcheck // the stream's outcome is what Receive returned
	run := resumeRun{inOrder: true}
	start := time.Now()
	if err := stream.Send(&elizav1.QueueConversationRequest{ConversationId: conv.String(), ResumeAfter: 0}); err != nil {
		return run, fmt.Errorf("send: %w", err)
	}
	for want := uint64(1); want <= uint64(events); want++ {
		res, err := stream.Receive()
		if err != nil {
			return run, fmt.Errorf("receive event %d of %d: %w", want, events, err)
		}
		if want == 1 {
			run.first = time.Since(start)
		}
		if res.GetSerial() != want {
			run.inOrder = false
			want = res.GetSerial()
		}
	}
	run.all = time.Since(start)
	if err := stream.CloseRequest(); err != nil {
		return run, fmt.Errorf("half-close: %w", err)
	}
	for {
		_, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return run, nil
		}
		if err != nil {
			return run, fmt.Errorf("after the last event: %w", err)
		}
		run.inOrder = false // nothing was appended: nothing more should come
	}
}
