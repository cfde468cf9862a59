package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// listenerApp is the application_name of a transcript store's listener connection
// (pgtranscript names it so when DATABASE_URL names none).
const listenerApp = "pgtranscript listener"

// Bounds of the fan-out run's steps.
const (
	// fanoutDrainWait bounds how long the conversations may take to end once they stop
	// sending.
	fanoutDrainWait = 30 * time.Second
	// fanoutSettle is how long the run waits after the last stream ended before its last
	// reading, so that the last notifications have reached every listener.
	fanoutSettle = 500 * time.Millisecond
)

// fanoutResult is the fan-out run: one conversation workload on one front door, then spread
// over several, with what each front door read from Postgres.
type fanoutResult struct {
	Conversations int
	Rate          float64 // sentences per second in each conversation
	Duration      time.Duration
	Runs          []fanoutRun
}

// fanoutRun is the workload on Doors busy front doors, beside one quiet one.
type fanoutRun struct {
	Doors int
	// Window is from just before the first stream opened to fanoutSettle after the last
	// ended.
	Window time.Duration
	// Sentences were sent and Events received by the workload's streams, over the whole
	// system: what every front door together served.
	Sentences, Events int64
	// Wrong counts streams whose events were not consecutive serials, or not two for each
	// sentence sent (its acceptance and its answer).
	Wrong int
	// PerDoor is each busy front door, then the quiet one.
	PerDoor []fanoutDoor
	// Dispatcher is what the dispatcher exchanged with Postgres in the window.
	Dispatcher pgcount.Counts
	CPU        map[cpuGroup]time.Duration
}

// fanoutDoor is what one front door served and read in a fan-out run's window.
type fanoutDoor struct {
	// Quiet: the front door has one conversation, watched and without traffic.
	Quiet         bool
	Conversations int
	// Sentences were sent and Events received by its streams.
	Sentences, Events int64
	// Pool is what its pool's connections exchanged with Postgres, Listener what its
	// listener connection did (the notifications it was sent).
	Pool, Listener pgcount.Counts
	// ListenerBackend is the CPU time of the Postgres backend serving its listener
	// connection; -1 if it could not be found.
	ListenerBackend time.Duration
}

// Reads is everything the front door received from Postgres.
func (d fanoutDoor) Reads() pgcount.Counts { return d.Pool.Add(d.Listener) }

// runFanout runs the same conversation workload twice: on one front door, then spread over
// FanoutDoors; each time beside one more front door whose only stream watches a conversation
// without traffic. Each front door's Postgres connections go through a proxy of its own that
// counts what it reads.
func (b *bench) runFanout(ctx context.Context) (fanoutResult, error) {
	cfg := b.cfg
	res := fanoutResult{Conversations: cfg.FanoutConversations, Rate: cfg.FanoutRate, Duration: cfg.FanoutDuration}
	for _, doors := range []int{1, cfg.FanoutDoors} {
		run, err := b.runFanoutOn(ctx, doors)
		if err != nil {
			return res, err
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// fanoutReading is what the run's counters said at one moment.
type fanoutReading struct {
	at       time.Time
	doors    []map[string]pgcount.Counts // by application_name
	backends map[int]time.Duration       // by door, its listener backend's CPU time
	disp     pgcount.Counts
	cpu      map[cpuGroup]time.Duration
}

// runFanoutOn runs the workload on doors busy front doors and one quiet one.
func (b *bench) runFanoutOn(ctx context.Context, doors int) (run fanoutRun, err error) {
	cfg := b.cfg
	run = fanoutRun{Doors: doors}
	name := fmt.Sprintf("fanout%d", doors)
	sys, err := b.startSystem(ctx, systemSpec{
		name: name, frontdoors: doors + 1, countReads: true, queueLimit: throughputQueueLimit, workers: cfg.Workers, latency: cfg.FastLatency,
	})
	if err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pools := make([]*clientPool, len(sys.doors))
	for i, d := range sys.doors {
		pools[i] = newClientPool(d.rpc, cfg.FanoutConversations, cfg.StreamsPerConn)
		defer pools[i].close()
	}

	// The quiet front door: one conversation with one exchange, then watched.
	quietCtx, stopQuiet := context.WithCancel(ctx)
	defer stopQuiet()
	quiet := pools[doors].client(0)
	if err := watchQuiet(quietCtx, quiet, b.conversations.add(1)[0]); err != nil {
		return run, fmt.Errorf("%s: quiet front door: %w", name, err)
	}
	backends, err := listenerBackends(ctx, b.cfg.Endpoints.DatabaseURL, sys)
	if err != nil {
		return run, fmt.Errorf("%s: %w", name, err)
	}

	read := func() fanoutReading {
		r := fanoutReading{at: time.Now(), disp: sys.dispatcherProxy.Counts(), cpu: sys.cpu()}
		for _, d := range sys.doors {
			r.doors = append(r.doors, d.proxy.ByApplication())
		}
		r.backends = backendCPU(backends)
		return r
	}
	convs := b.conversations.add(cfg.FanoutConversations)
	interval := time.Duration(float64(time.Second) / cfg.FanoutRate)
	start := time.Now().Add(100 * time.Millisecond)
	end := start.Add(cfg.FanoutDuration)
	did := make([]conversed, len(convs))
	before := read()
	b.log.Info("fan-out: conversations", "run", name, "conversations", len(convs), "frontdoors", doors, "rate", cfg.FanoutRate, "duration", cfg.FanoutDuration)
	streamsCtx, cancel := context.WithDeadline(ctx, end.Add(fanoutDrainWait))
	defer cancel()
	g, gctx := errgroup.WithContext(streamsCtx)
	for i, conv := range convs {
		// Conversation i on front door i mod doors; its first sentence offset so that all
		// together send evenly.
		first := start.Add(time.Duration(float64(interval) * float64(i) / float64(len(convs))))
		g.Go(func() error {
			var err error
			did[i], err = converse(gctx, pools[i%doors].client(i/doors), i, conv, first, interval, end)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return run, fmt.Errorf("%s: %w", name, err)
	}
	if err := sleep.For(ctx, fanoutSettle); err != nil {
		return run, err
	}
	after := read()

	run.Window = after.at.Sub(before.at)
	run.Dispatcher, run.CPU = after.disp.Sub(before.disp), benchkit.CPUDelta(before.cpu, after.cpu)
	for _, c := range did {
		run.Sentences += c.sentences
		run.Events += c.events
		if !c.inOrder || c.events != 2*c.sentences { // an acceptance and an answer each
			run.Wrong++
		}
	}
	for i := range sys.doors {
		d := fanoutDoor{Quiet: i == doors, ListenerBackend: -1}
		if !d.Quiet {
			for c := i; c < len(convs); c += doors {
				d.Conversations++
				d.Sentences += did[c].sentences
				d.Events += did[c].events
			}
		} else {
			d.Conversations = 1
		}
		d.Listener = after.doors[i][listenerApp].Sub(before.doors[i][listenerApp])
		for app, c := range after.doors[i] {
			if app != listenerApp {
				d.Pool = d.Pool.Add(c.Sub(before.doors[i][app]))
			}
		}
		if cpu, ok := after.backends[i]; ok {
			d.ListenerBackend = cpu - before.backends[i]
		}
		run.PerDoor = append(run.PerDoor, d)
	}
	b.log.Info("fan-out: done", "run", name, "events", run.Events, "window", run.Window.Round(time.Millisecond))
	return run, nil
}

// watchQuiet starts conversation conv with one sentence (Send), then watches it (Watch from
// serial 0) until ctx ends, in a goroutine of its own once the two events (the sentence's
// acceptance and its answer) have arrived.
func watchQuiet(ctx context.Context, client elizav1connect.ElizaServiceClient, conv uuid.UUID) error {
	sent, err := client.Send(ctx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv.String(), Sentence: "I have nothing more to say"}))
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if sent.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		return fmt.Errorf("send: %s", sent.Msg.GetSentence())
	}
	stream, err := client.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv.String()}))
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	for n := 0; n < 2; n++ {
		if !stream.Receive() {
			_ = stream.Close()
			return fmt.Errorf("watch: ended after %d events: %w", n, stream.Err())
		}
	}
	go func() {
		defer stream.Close()
		for stream.Receive() { // nothing more comes; ends with ctx
		}
	}()
	return nil
}

// conversed is what one conversation of the fan-out workload did.
type conversed struct {
	// sentences were sent, events received.
	sentences, events int64
	// inOrder: the events' serials were consecutive.
	inOrder bool
}

// converse starts conversation conv on a stream and sends a sentence every interval from
// first until end, then half-closes and reads until the server ends the stream.
func converse(ctx context.Context, client elizav1connect.ElizaServiceClient, i int, conv uuid.UUID, first time.Time, interval time.Duration, end time.Time) (conversed, error) {
	stream := client.QueueConversation(ctx)
	defer stream.CloseResponse() //nolint:errcheck // the stream's outcome is what Receive returned
	c := conversed{inOrder: true}
	var g errgroup.Group
	g.Go(func() error {
		defer stream.CloseRequest() //nolint:errcheck // a broken stream shows in Receive
		for n, at := 0, first; at.Before(end); n, at = n+1, at.Add(interval) {
			if err := sleep.For(ctx, time.Until(at)); err != nil {
				return nil
			}
			req := &elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("conversation %d, sentence %d: my mother worries about me", i, n+1)}
			if n == 0 {
				req.ConversationId = conv.String()
			}
			if err := stream.Send(req); err != nil {
				return streamError(ctx, i, "send", err)
			}
			c.sentences++
		}
		return nil
	})
	var last uint64
	for {
		res, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = g.Wait()
			return c, streamError(ctx, i, "receive", err)
		}
		if res.GetSerial() == 0 {
			continue // a refusal, not an event
		}
		c.events++
		if res.GetSerial() != last+1 {
			c.inOrder = false
		}
		last = res.GetSerial()
	}
	return c, g.Wait()
}
