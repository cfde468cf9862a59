package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// ackWait bounds how long the enqueue run waits for the last acknowledgements once every
// sentence is sent.
const ackWait = 10 * time.Second

// enqueueResult is one enqueue-latency run: Send of a sentence → its acknowledgement
// received, on the client.
type enqueueResult struct {
	// Dispatcher tells whether a dispatcher with Workers workers answered the jobs meanwhile
	// (with a model answering in ModelDelay), or none ran and the jobs stayed on the topic.
	Dispatcher bool
	Workers    int
	ModelDelay time.Duration
	Streams    int
	Rate       float64 // asked for, sentences per second
	// Run is which of Runs consecutive runs at this rate this is, from 1; or, when Warmup,
	// which of Runs warm-up runs (reported, not judged).
	Run, Runs int
	Warmup    bool
	// Speed is the machine's speed just before the run's processes started
	// (benchkit.MachineSpeed): runs compare like with like only at a like speed.
	Speed time.Duration
	// Window is the measured part; Sent the sentences sent in it and acknowledged (their
	// latencies are Latency's sample); Acked the acknowledgements received in it, whenever
	// their sentences were sent: what the front door kept up with.
	Window      time.Duration
	Sent, Acked int64
	Latency     benchkit.Distribution
	// Samples are Latency's sample, for the plot.
	Samples []time.Duration
	// SecondP99 is the p99 of the sentences sent in each second of the window, in order: it
	// tells a run slow throughout from one with a few slow seconds.
	SecondP99 []time.Duration
	// SecondStages is, for each second of the window, the p99 of each stage of the front
	// door's admissions that ended in it (its frontdoor_admission_stage_seconds, scraped
	// every second), by stage: where a slow second's time went.
	SecondStages []map[string]time.Duration
	// SecondDiskPause is, for each second of the window, the longest pause of the disk of
	// Postgres's data that began in it (requests in flight, none completed: benchkit.DiskPauses),
	// 0 for none; DiskPauses counts the window's pauses of minDiskPause or more. Both are
	// left zero when the disk is not watched.
	SecondDiskPause []time.Duration
	DiskPauses      int
	// ProfileCPU and ProfileAllocs are the top of the front door's profiles (-profile), the
	// CPU one over ProfiledFor from the start of the window.
	ProfileCPU, ProfileAllocs string
	ProfiledFor               time.Duration
	// Over the whole run: sentences enqueued, refused ("queue is full!" or busy), invalid or
	// unavailable, never acknowledged; replies received before the streams were closed.
	Enqueued, Refused, Invalid, Unacked, Replies int64
	// MaxLag is the latest a sentence was sent after its scheduled time: the harness's own
	// scheduling delay.
	MaxLag time.Duration
	CPU    map[cpuGroup]time.Duration
}

// AchievedRate is the measured sentences per second.
func (r enqueueResult) AchievedRate() float64 { return float64(r.Sent) / r.Window.Seconds() }

// AckedRate is the acknowledgements received per second in the window.
func (r enqueueResult) AckedRate() float64 { return float64(r.Acked) / r.Window.Seconds() }

// sendTimes is one stream's sentences sent and not yet acknowledged, oldest first: the
// server answers a stream's sentences in order.
type sendTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (s *sendTimes) push(t time.Time) {
	s.mu.Lock()
	s.times = append(s.times, t)
	s.mu.Unlock()
}

func (s *sendTimes) pop() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.times) == 0 {
		return time.Time{}, false
	}
	t := s.times[0]
	s.times = s.times[1:]
	return t, true
}

// enqueueStream is one stream of the run and what it saw.
type enqueueStream struct {
	stream  *queueStream
	conv    uuid.UUID // its conversation, named in its first sentence
	pending sendTimes
	samples []time.Duration // latencies of sentences sent in the measured window
	sentAt  []time.Duration // when each of them was sent, from the window's start
	acked   int64           // acknowledgements received in the measured window
	maxLag  time.Duration
}

// runEnqueueLatency sends rate sentences per second in all, evenly over Streams streams, for
// EnqueueWarmup + EnqueueDuration + EnqueueCooldown, and times each sentence sent in the
// EnqueueDuration from just before Send to its acknowledgement's Receive. With
// withDispatcher, a dispatcher and a fast model answer the jobs meanwhile, as in production;
// without, the front door works alone. run is which of the EnqueueRuns at this rate it is, or
// with warmup which of the EnqueueWarmupRuns.
func (b *bench) runEnqueueLatency(ctx context.Context, rate float64, withDispatcher bool, run int, warmup bool) (res enqueueResult, err error) {
	cfg := b.cfg
	res = enqueueResult{Dispatcher: withDispatcher, Streams: cfg.Streams, Rate: rate, Window: cfg.EnqueueDuration, Run: run, Runs: cfg.EnqueueRuns, Warmup: warmup,
		Speed: benchkit.MachineSpeed()}
	spec := systemSpec{name: fmt.Sprintf("enqueue%g", rate), queueLimit: enqueueQueueLimit, latency: cfg.FastLatency}
	switch {
	case warmup:
		res.Runs = cfg.EnqueueWarmupRuns
		spec.name += fmt.Sprintf("-warmup%d", run)
	case cfg.EnqueueRuns > 1:
		spec.name += fmt.Sprintf("-run%d", run) // each run its own topics: the jobs left alone stay there
	}
	if withDispatcher {
		spec.workers = cfg.Workers
		res.Workers, res.ModelDelay = cfg.Workers, cfg.FastLatency
	} else {
		spec.name += "-alone"
	}
	sys, err := b.startSystem(ctx, spec)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, sys.stop()) }() //nolint:contextcheck // stopping must work once ctx has ended too
	pool := newClientPool(sys.frontdoor().rpc, cfg.Streams, cfg.StreamsPerConn)
	defer pool.close()

	// Stream i sends every interval, offset by i/rate: together, one sentence every 1/rate.
	interval := time.Duration(float64(cfg.Streams) / rate * float64(time.Second))
	start := time.Now().Add(100 * time.Millisecond)
	measureFrom := start.Add(cfg.EnqueueWarmup)
	end := measureFrom.Add(cfg.EnqueueDuration)
	stopSending := end.Add(cfg.EnqueueCooldown)
	seconds := int(math.Ceil(cfg.EnqueueDuration.Seconds())) // of the window, each reported on its own

	var counts streamCounts
	var outstanding atomic.Int64 // sent, not yet acknowledged
	streamsCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	// The streams live on the group's context, the one their goroutines check when a stream
	// fails: had they the parent's, a stream could see the parent cancelled before the
	// group's context is, and its end would count as a failure.
	g, gctx := errgroup.WithContext(streamsCtx)
	streams := make([]*enqueueStream, cfg.Streams)
	for i, conv := range b.conversations.add(cfg.Streams) {
		streams[i] = &enqueueStream{stream: pool.client(i).QueueConversation(gctx), conv: conv}
	}
	defer func() {
		for _, s := range streams {
			_ = s.stream.CloseResponse() // the outcome is what Receive returned
		}
	}()

	var sendersDone sync.WaitGroup
	for i, s := range streams {
		first := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		sendersDone.Add(1)
		g.Go(func() error {
			defer sendersDone.Done()
			return s.send(gctx, i, first, interval, stopSending, &outstanding)
		})
		g.Go(func() error { return s.receive(gctx, i, measureFrom, end, &outstanding, &counts) })
	}
	g.Go(func() error {
		stages, err := sampleStages(gctx, sys.frontdoor().proc, measureFrom, seconds)
		res.SecondStages = stages
		return err
	})
	if b.disk != nil {
		g.Go(func() error {
			samples, err := sampleDisk(gctx, *b.disk, measureFrom, end)
			res.SecondDiskPause, res.DiskPauses = pausesBySecond(benchkit.DiskPauses(samples), measureFrom, seconds)
			return err
		})
	}
	g.Go(func() error {
		// CPU over the measured window; then, once every sentence is sent and acknowledged
		// (or ackWait has passed), the streams are closed.
		defer stopStreams()
		if sleep.For(gctx, time.Until(measureFrom)) != nil {
			return nil
		}
		before := sys.cpu()
		var cpuProfile *benchkit.CPUProfile
		if cfg.Profile != "" && !warmup {
			res.ProfiledFor = min(cfg.EnqueueDuration.Truncate(time.Second), maxProfile)
			cpuProfile = sys.frontdoor().proc.StartCPUProfile(gctx, int(res.ProfiledFor.Seconds()), b.profilePath(spec.name, "cpu"))
		}
		if sleep.For(gctx, time.Until(end)) != nil {
			return nil
		}
		res.CPU = benchkit.CPUDelta(before, sys.cpu())
		if cpuProfile != nil {
			var err error
			if res.ProfileCPU, res.ProfileAllocs, err = cpuProfile.Tops(gctx, b.profilePath(spec.name, "allocs")); err != nil {
				return err
			}
			b.log.Info("enqueue latency: profiles written", "run", spec.name, "dir", cfg.Profile)
		}
		sendersDone.Wait()
		for deadline := time.Now().Add(ackWait); outstanding.Load() > 0 && time.Now().Before(deadline); {
			if sleep.For(gctx, 10*time.Millisecond) != nil {
				return nil
			}
		}
		return nil
	})
	b.log.Info("enqueue latency: sending", "run", spec.name, "rate", rate, "streams", cfg.Streams, "warmup", cfg.EnqueueWarmup, "duration", cfg.EnqueueDuration, "cooldown", cfg.EnqueueCooldown)
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("%s: %w", spec.name, err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("%s: %w", spec.name, err)
	}
	var all []time.Duration
	bySecond := make([][]time.Duration, seconds)
	for _, s := range streams {
		all = append(all, s.samples...)
		for i, at := range s.sentAt {
			sec := min(int(at/time.Second), len(bySecond)-1)
			bySecond[sec] = append(bySecond[sec], s.samples[i])
		}
		res.Acked += s.acked
		res.MaxLag = max(res.MaxLag, s.maxLag)
	}
	res.Sent = int64(len(all))
	res.Latency, res.Samples = benchkit.Summarise(all), all
	for _, sec := range bySecond {
		res.SecondP99 = append(res.SecondP99, benchkit.Summarise(sec).P99)
	}
	res.Enqueued, res.Refused, res.Invalid = counts.enqueued.Load(), counts.refused.Load(), counts.invalid.Load()
	res.Unacked, res.Replies = outstanding.Load(), counts.replies.Load()
	b.log.Info("enqueue latency: done", "run", spec.name, "sent", res.Sent, "p50", res.Latency.P50, "p99", res.Latency.P99, "unacked", res.Unacked)
	return res, nil
}

// sampleStages scrapes the front door's admission stages at from and at each of the seconds
// after it, and returns the p99 of each stage in each second (the stages that ended in it).
// When ctx ends first it returns the seconds it has.
func sampleStages(ctx context.Context, frontdoor *benchkit.Process, from time.Time, seconds int) ([]map[string]time.Duration, error) {
	if sleep.For(ctx, time.Until(from)) != nil {
		return nil, nil
	}
	before, err := frontdoor.Histograms(ctx, mAdmissionStages, "stage")
	if err != nil {
		return nil, stagesError(ctx, err)
	}
	var bySecond []map[string]time.Duration
	for i := 1; i <= seconds; i++ {
		if sleep.For(ctx, time.Until(from.Add(time.Duration(i)*time.Second))) != nil {
			return bySecond, nil
		}
		after, err := frontdoor.Histograms(ctx, mAdmissionStages, "stage")
		if err != nil {
			return bySecond, stagesError(ctx, err)
		}
		p99s := map[string]time.Duration{}
		for stage, h := range after {
			q, n, err := benchkit.Quantile(before[stage], h, 0.99)
			if err != nil {
				return bySecond, fmt.Errorf("admission stage %s: %w", stage, err)
			}
			if n > 0 {
				p99s[stage] = time.Duration(q * float64(time.Second))
			}
		}
		bySecond, before = append(bySecond, p99s), after
	}
	return bySecond, nil
}

// diskSampleEvery is how often an enqueue run samples the disk of Postgres's data: half the
// shortest pause it reports (minDiskPause), for a read of /proc/diskstats each time, about a
// hundred a second.
const diskSampleEvery = 10 * time.Millisecond

// minDiskPause is the shortest pause of the disk a run reports: on a disk that completes a
// request in well under a millisecond, 20 ms without one, with requests waiting, is the
// device standing still.
const minDiskPause = 20 * time.Millisecond

// sampleDisk samples disk every diskSampleEvery from from until to, or until ctx ends.
func sampleDisk(ctx context.Context, disk benchkit.Disk, from, to time.Time) ([]benchkit.DiskSample, error) {
	if sleep.For(ctx, time.Until(from)) != nil {
		return nil, nil
	}
	tick := time.NewTicker(diskSampleEvery)
	defer tick.Stop()
	samples := make([]benchkit.DiskSample, 0, int(to.Sub(from)/diskSampleEvery)+1)
	for time.Now().Before(to) {
		s, err := disk.Sample()
		if err != nil {
			return samples, fmt.Errorf("disk %s: %w", disk.Name, err)
		}
		samples = append(samples, s)
		select {
		case <-ctx.Done():
			return samples, nil
		case <-tick.C:
		}
	}
	return samples, nil
}

// pausesBySecond returns, for each of the seconds from from, the longest of pauses that began
// in it (0 for none), and how many pauses were minDiskPause or longer.
func pausesBySecond(pauses []benchkit.DiskPause, from time.Time, seconds int) ([]time.Duration, int) {
	longest, n := make([]time.Duration, seconds), 0
	for _, p := range pauses {
		if p.Length >= minDiskPause {
			n++
		}
		if sec := int(p.Start.Sub(from) / time.Second); sec >= 0 && sec < seconds {
			longest[sec] = max(longest[sec], p.Length)
		}
	}
	return longest, n
}

// stagesError is a failed scrape of the admission stages, or nil once ctx has ended: the run
// is over, and says why elsewhere.
func stagesError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("front door's admission stages: %w", err)
}

// send sends one sentence every interval from first until end, recording when each was
// sent, then half-closes the stream.
func (s *enqueueStream) send(ctx context.Context, i int, first time.Time, interval time.Duration, end time.Time, outstanding *atomic.Int64) error {
	// Half-closing also lets the HTTP/2 transport act on a cancelled ctx: while the request
	// body is open, it only waits for the body's next message.
	defer s.stream.CloseRequest() //nolint:errcheck // a broken stream shows in Receive
	for n, at := 0, first; at.Before(end); n, at = n+1, at.Add(interval) {
		if err := sleep.For(ctx, time.Until(at)); err != nil {
			return nil
		}
		now := time.Now()
		s.maxLag = max(s.maxLag, now.Sub(at))
		s.pending.push(now)
		outstanding.Add(1)
		req := &elizav1.QueueConversationRequest{Sentence: fmt.Sprintf("stream %d, sentence %d: I feel a little anxious today", i, n)}
		if n == 0 {
			req.ConversationId = s.conv.String()
		}
		if err := s.stream.Send(req); err != nil {
			return streamError(ctx, i, "send", err)
		}
	}
	return nil
}

// receive reads the stream until the server ends it or ctx ends, timing each
// acknowledgement against its send. Sentences sent in [from, to) are the sample.
func (s *enqueueStream) receive(ctx context.Context, i int, from, to time.Time, outstanding *atomic.Int64, counts *streamCounts) error {
	for {
		res, err := s.stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return streamError(ctx, i, "receive", err)
		}
		at := time.Now()
		if counts.count(res) {
			continue
		}
		sent, ok := s.pending.pop()
		if !ok {
			return fmt.Errorf("stream %d: an acknowledgement for no sentence: %+v", i, res)
		}
		outstanding.Add(-1)
		if !sent.Before(from) && sent.Before(to) {
			s.samples = append(s.samples, at.Sub(sent))
			s.sentAt = append(s.sentAt, sent.Sub(from))
		}
		if !at.Before(from) && at.Before(to) {
			s.acked++
		}
	}
}

// maxProfile bounds a CPU profile: the admin server's write timeout is 30 s.
const maxProfile = 25 * time.Second

// profilePath is where run's profile of kind goes.
func (b *bench) profilePath(run, kind string) string {
	return filepath.Join(b.cfg.Profile, "frontdoor-"+run+"-"+kind+".pb.gz")
}
