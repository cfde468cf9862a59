package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/dispatch/synth"
	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
)

// backlogPartitions is the partition count of the backlog topic, as of the signal topic.
const backlogPartitions = 3

// backlogLag is how many recordings after its eeg event a recording's accelerometer event is
// produced, so that recordings interleave in the backlog and some complete across batches.
const backlogLag = 250

// backlogResult is the outcome of the throughput phase.
type backlogResult struct {
	Topic         string
	Events, Bytes int64
	Recordings    int
	Produce       time.Duration
	// BareRead is the mean of two bare loops dialled as kafka-go does, BareReadBuffered of two
	// through the dispatcher's dialer (consumer.ReaderDialer), whose reads of the socket are
	// larger than kafka-go's.
	BareRead, BareReadBuffered time.Duration
	// SpeedBefore and SpeedAfter are the machine's speed (benchkit.MachineSpeed) just before
	// the bare loop and just after the drain: the ratio of the two compares like with like
	// only when they are close.
	SpeedBefore, SpeedAfter time.Duration
	// Startup is from starting the dispatcher to its /readyz (joined, database reachable);
	// Drain from then until dispatcher_events_total reached Events.
	Startup, Drain time.Duration
	// Processed counts the backlog's recordings with a processed row afterwards.
	Processed int
	// From the dispatcher's metrics over the drain.
	Batches, ApplySeconds, Retries, DeadLettered float64
	// CPU is the CPU time each process group used during the drain.
	CPU map[string]time.Duration
	// Progress is dispatcher_events_total during the drain, every progressEvery from ready.
	Progress []benchkit.Point
	// ProfileCPU and ProfileAllocs are the top of the dispatcher's profiles (-profile).
	ProfileCPU, ProfileAllocs string
}

// progressEvery is how often the drain's progress is kept for its plot.
const progressEvery = 250 * time.Millisecond

// How often the drain reads the dispatcher's event count: every pollFar, then every pollNear
// near the end.
const (
	pollFar  = 50 * time.Millisecond
	pollNear = 5 * time.Millisecond
)

// runBacklog produces the backlog to a topic of its own, reads it with a bare kafka-go loop,
// then has a dispatcher drain it.
func (b *bench) runBacklog(ctx context.Context) (backlogResult, error) {
	res := backlogResult{Topic: "bench.signal." + b.runID[len("bench-"):], Recordings: b.cfg.Backlog / 2}
	b.topics = append(b.topics, res.Topic, res.Topic+".dlq")
	if err := b.kafka.CreateTopics(ctx, backlogPartitions, res.Topic); err != nil {
		return res, err
	}
	factory, err := synth.Load(b.cfg.Testdata, b.cfg.Schemas)
	if err != nil {
		return res, fmt.Errorf("backlog templates (-testdata): %w", err)
	}

	b.log.Info("backlog: producing", "events", b.cfg.Backlog, "topic", res.Topic)
	start := time.Now()
	if res.Bytes, err = b.produceBacklog(ctx, factory, res.Topic, res.Recordings); err != nil {
		return res, err
	}
	res.Produce = time.Since(start)
	ends, err := kafkabus.EndOffsets(ctx, b.kafka.Client, res.Topic)
	if err != nil {
		return res, err
	}
	for _, end := range ends {
		res.Events += end
	}
	if res.Events != int64(b.cfg.Backlog) {
		return res, fmt.Errorf("backlog topic %s holds %d events, want %d", res.Topic, res.Events, b.cfg.Backlog)
	}

	res.SpeedBefore = benchkit.MachineSpeed()
	b.log.Info("backlog: bare kafka-go read loop", "machine_speed", res.SpeedBefore)
	// Each loop twice, in the order kafka-go's, the dispatcher's, the dispatcher's, kafka-go's,
	// so that neither has the other's warm start: each is the mean of its two.
	var reads [4]time.Duration
	for i, dialer := range []*kafka.Dialer{nil, consumer.ReaderDialer, consumer.ReaderDialer, nil} {
		if reads[i], err = bareRead(ctx, b.cfg.Endpoints.KafkaBrokers, res.Topic, ends, dialer); err != nil {
			return res, err
		}
	}
	res.BareRead, res.BareReadBuffered = (reads[0]+reads[3])/2, (reads[1]+reads[2])/2
	if err := b.drain(ctx, &res); err != nil {
		return res, err
	}
	res.SpeedAfter = benchkit.MachineSpeed()
	return res, nil
}

// produceBacklog writes recordings × (eeg, accelerometer) create events, keyed by recording,
// and returns the bytes written. Each accelerometer event follows its eeg event backlogLag
// recordings later; LSNs rise in production order, as Debezium's do.
func (b *bench) produceBacklog(ctx context.Context, f *synth.Factory, topic string, recordings int) (int64, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(b.cfg.Endpoints.KafkaBrokers...), Topic: topic,
		Balancer:     &kafka.Murmur2Balancer{}, // Kafka Connect's default partitioner
		RequiredAcks: kafka.RequireAll, BatchSize: 100, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	type signals struct{ rec, eeg, acc uuid.UUID }
	recs := make([]signals, recordings)
	for i := range recs {
		recs[i] = signals{uuid.New(), uuid.New(), uuid.New()}
		b.dispatcherOnly = append(b.dispatcherOnly, recs[i].rec)
	}

	const chunk = 5000
	var bytes int64
	msgs := make([]kafka.Message, 0, chunk)
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("produce the backlog: %w", err)
		}
		msgs = msgs[:0]
		return nil
	}
	// Event n: its own transaction, committed n µs after the first, at a plausible LSN.
	var n int64
	base := time.Now()
	emit := func(s signals, eeg bool) error {
		n++
		at := base.Add(time.Duration(n) * time.Microsecond)
		c := synth.Change{Recording: s.rec, LSN: 1<<40 + 512*n, TxID: 1<<20 + n, Committed: at, Emitted: at.Add(100 * time.Millisecond)}
		var key, value []byte
		if eeg {
			c.Signal = s.eeg
			key, value = f.EEG(c)
		} else {
			c.Signal = s.acc
			key, value = f.Accelerometer(c)
		}
		bytes += int64(len(key) + len(value))
		msgs = append(msgs, kafka.Message{Key: key, Value: value})
		if len(msgs) == chunk {
			return flush()
		}
		return nil
	}
	for i := range recordings + backlogLag {
		if i < recordings {
			if err := emit(recs[i], true); err != nil {
				return bytes, err
			}
		}
		if j := i - backlogLag; j >= 0 && j < recordings {
			if err := emit(recs[j], false); err != nil {
				return bytes, err
			}
		}
	}
	return bytes, flush()
}

// bareRead reads every partition from its start to end with kafka-go partition readers
// whose fetches are the dispatcher's, without decoding or anything else, and times it. With
// a nil dialer the readers dial as kafka-go does by default: issue 15's "bare kafka-go loop".
func bareRead(ctx context.Context, brokers []string, topic string, ends map[int]int64, dialer *kafka.Dialer) (time.Duration, error) {
	start := time.Now()
	g, ctx := errgroup.WithContext(ctx)
	for partition, end := range ends {
		g.Go(func() error {
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: brokers, Dialer: dialer, Topic: topic, Partition: partition,
				MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
			})
			defer r.Close()
			for next := int64(0); next < end; {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return fmt.Errorf("bare read of %s/%d: %w", topic, partition, err)
				}
				next = m.Offset + 1
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// drain runs a dispatcher on the backlog topic under a fresh group and times it until every
// event is durable (dispatcher_events_total counts events only once their batch committed in
// Postgres; the offset commit follows at once).
func (b *bench) drain(ctx context.Context, res *backlogResult) error {
	group := b.runID + "-backlog"
	b.groups = append(b.groups, group)
	b.log.Info("backlog: dispatcher draining", "group", group)
	start := time.Now()
	d, err := startDispatcher(ctx, b.bin, dispatcherEnv{
		DatabaseURL: b.cfg.Endpoints.DatabaseURL, Brokers: b.cfg.Endpoints.KafkaBrokers, Topic: res.Topic, Group: group,
	}, filepath.Join(b.dir, "dispatcher-backlog.log"))
	if err != nil {
		return err
	}
	defer func() { _ = d.Stop() }() // on the error paths; the result of the normal one is checked below
	if err := d.WaitReady(ctx, time.Minute); err != nil {
		return err
	}
	ready := time.Now()
	res.Startup = ready.Sub(start)
	var cpuProfile *benchkit.CPUProfile
	if b.cfg.Profile != "" {
		cpuProfile = d.StartCPUProfile(ctx, b.cfg.ProfileSeconds, filepath.Join(b.cfg.Profile, "dispatcher-cpu.pb.gz"))
	}
	cpuBefore := cpuTimes(d.PID())
	before := benchkit.Metrics{} // a new process: its counters started at zero
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// The count is read every pollFar until the end is predicted within two of them, then
	// every pollNear, so the drain's end is known to within pollNear. Reading every pollFar
	// throughout would add half of it on average to a drain of a second (2.5 % at 50 ms);
	// reading every pollNear throughout would scrape the dispatcher ten times as often.
	events := float64(res.Events)
	var lastV float64
	var lastAt time.Duration
	near := func(v float64) bool { // at the rate since the last read, which the start does not slow
		at := time.Since(ready)
		rate := (v - lastV) / (at - lastAt).Seconds()
		lastV, lastAt = v, at
		return rate > 0 && time.Duration((events-v)/rate*float64(time.Second)) < 2*pollFar
	}
	progress := func(v float64) {
		if at := time.Since(ready); len(res.Progress) == 0 || at-res.Progress[len(res.Progress)-1].At >= progressEvery {
			res.Progress = append(res.Progress, benchkit.Point{At: at, Value: v})
		}
	}
	after, err := d.WaitMetric(waitCtx, mEvents, pollFar, func(v float64) bool {
		progress(v)
		return v >= events || near(v)
	})
	if err == nil && after[mEvents] < events {
		after, err = d.WaitMetric(waitCtx, mEvents, pollNear, func(v float64) bool {
			progress(v)
			return v >= events
		})
	}
	if err != nil {
		return fmt.Errorf("dispatcher draining the backlog: %w", err)
	}
	res.Drain = time.Since(ready)
	res.CPU = benchkit.CPUDelta(cpuBefore, cpuTimes(d.PID()))
	res.Batches = benchkit.Delta(before, after, mApplyCount)
	res.ApplySeconds = benchkit.Delta(before, after, mApplySum)
	res.Retries = benchkit.Delta(before, after, mRetries)
	res.DeadLettered = benchkit.Delta(before, after, mDead)
	if cpuProfile != nil {
		allocs := filepath.Join(b.cfg.Profile, "dispatcher-allocs.pb.gz")
		if res.ProfileCPU, res.ProfileAllocs, err = cpuProfile.Tops(ctx, allocs); err != nil {
			return err
		}
		b.log.Info("backlog: profiles written", "dir", b.cfg.Profile)
	}
	if err := d.Stop(); err != nil {
		return err
	}
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM dispatcher.processed_recording WHERE recording = ANY($1)`,
		b.dispatcherOnly).Scan(&res.Processed); err != nil {
		return fmt.Errorf("count the backlog's processed rows: %w", err)
	}
	return nil
}
