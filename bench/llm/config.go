package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/internal/stack"
)

// config is the harness's configuration: the stack's endpoints from the environment (as the
// tests read them), everything else from flags.
type config struct {
	Endpoints stack.Endpoints

	// Throughput: Workers (the dispatcher's WORKERS) answer Conversations streams, each of
	// which keeps PerConversation jobs waiting, against a fake model answering in Latency.
	// The run is repeated with the dispatcher's LLM_RPM set to RPM (0 skips it).
	Workers         int
	Latency         time.Duration
	Conversations   int
	PerConversation int
	RPM             int
	// Warmup and Window are the throughput runs' unmeasured and measured parts.
	Warmup, Window time.Duration

	// Burst: BurstConversations conversations send BurstSentences sentences each at once, to
	// Workers workers and a model answering in Latency.
	BurstConversations, BurstSentences int

	// Enqueue latency: at each of Rates, that many sentences per second in all, spread over
	// Streams streams, for EnqueueWarmup, then EnqueueDuration (measured), then
	// EnqueueCooldown; the model answers in FastLatency. The cool-down keeps the streams'
	// ends, all within one interval, out of the measured window: closing 200 streams at once
	// is work of its own (each asks the transcript whether its conversation is drained).
	Rates           []float64
	Streams         int
	EnqueueWarmup   time.Duration
	EnqueueDuration time.Duration
	EnqueueCooldown time.Duration
	FastLatency     time.Duration
	// EnqueueRuns is how many times, one after the other, each rate is measured (with a
	// dispatcher, then alone): the enqueue target holds only if every run meets it.
	EnqueueRuns int
	// EnqueueWarmupRuns runs, at the first rate and with a dispatcher, go before the measured
	// ones: reported, not judged. A stack just started is slower for its first minutes of
	// load; its Kafka broker's JIT compiles for the first half-minute (BENCHMARKS.md,
	// "Fourteenth round").
	EnqueueWarmupRuns int

	// Resume: ResumeConversations conversations of ResumeEvents events each (ResumeEvents/2
	// sentences, each answered), then Resumes resumes from serial 0, one at a time, round
	// robin over the conversations.
	ResumeEvents, ResumeConversations, Resumes int

	// Fan-out: FanoutConversations conversations, each sending FanoutRate sentences per
	// second for FanoutDuration, all on one front door, then spread over FanoutDoors; what
	// each front door reads from Postgres is counted.
	FanoutConversations, FanoutDoors int
	FanoutRate                       float64
	FanoutDuration                   time.Duration

	// Memory: IdleStreams streams held open at once, on a front door with QUEUE_LIMIT
	// MemoryQueueLimit (the reply buffer each stream gets is sized from it).
	IdleStreams      int
	MemoryQueueLimit int
	// StreamsPerConn bounds the streams the harness puts on one HTTP/2 connection (the front
	// door allows 256).
	StreamsPerConn int
	// Settle is how long the front door is left alone before its memory is read.
	Settle time.Duration

	// Only, if set, names the measurements to run (see measurements); all when empty.
	Only map[string]bool

	// Timeout bounds the whole run; cleanup gets a minute more.
	Timeout time.Duration
	// Out, if set, also receives the report.
	Out string
	// Profile, if set, is a directory that receives the front door's CPU profile over each
	// enqueue run's measured window (at most 25 s of it) and its allocation profile after
	// it; the report shows the top entries of both.
	Profile string
}

func parseConfig(args []string) (config, error) {
	c := config{Endpoints: stack.Get()}
	fs := flag.NewFlagSet("bench-llm", flag.ContinueOnError)
	fs.IntVar(&c.Workers, "workers", 64, "the dispatcher's WORKERS in the throughput runs (N)")
	fs.DurationVar(&c.Latency, "latency", 100*time.Millisecond, "the fake model's latency in the throughput runs (R)")
	fs.IntVar(&c.Conversations, "conversations", 256, "streams with work waiting in the throughput runs (C)")
	fs.IntVar(&c.PerConversation, "per-conversation", 4, "jobs each throughput stream keeps waiting (at most the front door's QUEUE_LIMIT)")
	fs.IntVar(&c.RPM, "rpm", 12000, "LLM_RPM of the second throughput run; 0 skips it")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "throughput runs: time before measuring")
	fs.DurationVar(&c.Window, "window", 20*time.Second, "throughput runs: time measured")
	fs.IntVar(&c.BurstConversations, "burst-conversations", 256, "burst: conversations sending at once (the model answers in -latency, WORKERS is -workers)")
	fs.IntVar(&c.BurstSentences, "burst-sentences", 30, "burst: sentences each conversation sends at once (its QUEUE_LIMIT)")
	rates := fs.String("rate", "1000", "enqueue latency: sentences per second, all streams together; several, comma-separated, are run one after the other")
	fs.IntVar(&c.EnqueueRuns, "enqueue-runs", 1, "enqueue latency: consecutive runs at each rate, each with a dispatcher and then alone (the target needs every run under it; 9 take about 8 minutes, so raise -timeout)")
	fs.IntVar(&c.EnqueueWarmupRuns, "enqueue-warmup-runs", 1, "enqueue latency: runs at the first rate, with a dispatcher, before the measured ones; reported, not judged (a stack just started is slower for its first minutes of load)")
	fs.IntVar(&c.Streams, "streams", 200, "enqueue latency: streams sending")
	fs.DurationVar(&c.EnqueueWarmup, "enqueue-warmup", 3*time.Second, "enqueue latency: time before measuring")
	fs.DurationVar(&c.EnqueueDuration, "enqueue-duration", 20*time.Second, "enqueue latency: time measured")
	fs.DurationVar(&c.EnqueueCooldown, "enqueue-cooldown", 2*time.Second, "enqueue latency: time the streams go on sending after the measured window, not measured, before they close")
	fs.DurationVar(&c.FastLatency, "fast-latency", 10*time.Millisecond, "the fake model's latency outside the throughput runs")
	fs.IntVar(&c.ResumeEvents, "resume-events", 1000, "resume: events in each conversation resumed (an even number: a sentence and its answer each)")
	fs.IntVar(&c.ResumeConversations, "resume-conversations", 5, "resume: conversations built")
	fs.IntVar(&c.Resumes, "resumes", 50, "resume: resumes timed, one at a time, round robin over the conversations")
	fs.IntVar(&c.FanoutConversations, "fanout-conversations", 60, "fan-out: conversations, spread evenly over the front doors")
	fs.IntVar(&c.FanoutDoors, "fanout-doors", 3, "fan-out: front doors the conversations are spread over after the run on one")
	fs.Float64Var(&c.FanoutRate, "fanout-rate", 2, "fan-out: sentences per second in each conversation")
	fs.DurationVar(&c.FanoutDuration, "fanout-duration", 10*time.Second, "fan-out: how long each conversation sends")
	fs.IntVar(&c.IdleStreams, "idle-streams", 10000, "memory: streams held open at once")
	fs.IntVar(&c.MemoryQueueLimit, "memory-queue-limit", defaultQueueLimit, "memory: the front door's QUEUE_LIMIT")
	fs.IntVar(&c.StreamsPerConn, "streams-per-conn", 200, "most streams per HTTP/2 connection of the harness (the server allows 256)")
	fs.DurationVar(&c.Settle, "settle", 3*time.Second, "memory: quiet time before each reading")
	fs.DurationVar(&c.Timeout, "timeout", 8*time.Minute, "give up after this long")
	fs.StringVar(&c.Out, "out", "", "also write the report to this file")
	fs.StringVar(&c.Profile, "profile", "", "write the front door's CPU and allocation profiles of each enqueue run to this directory")
	only := fs.String("only", "", "comma-separated measurements to run: "+strings.Join(measurements, ", ")+" (default all)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.Rates, err = parseRates(*rates); err != nil {
		return c, fmt.Errorf("-rate: %w", err)
	}
	if *only != "" {
		c.Only = map[string]bool{}
		for _, m := range strings.Split(*only, ",") {
			c.Only[strings.TrimSpace(m)] = true
		}
	}
	return c, c.validate()
}

// parseRates reads a comma-separated list of rates ("1000,300").
func parseRates(s string) ([]float64, error) {
	var rates []float64
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", strings.TrimSpace(f))
		}
		rates = append(rates, r)
	}
	return rates, nil
}

// RunTimeout is -timeout, for benchkit.Main.
func (c config) RunTimeout() time.Duration { return c.Timeout }

// Front-door settings of the runs.
const (
	// defaultQueueLimit is the front door's own default QUEUE_LIMIT.
	defaultQueueLimit = 3
	// throughputQueueLimit is QUEUE_LIMIT in the throughput runs: room for PerConversation.
	throughputQueueLimit = 64
	// enqueueQueueLimit is QUEUE_LIMIT in the latency run, far above what a stream sending
	// 5 sentences a second has waiting, so that nothing is refused.
	enqueueQueueLimit = 1000
	// maxInflight is MAX_INFLIGHT in every run: never the limit.
	maxInflight = 1000000
)

// measurements are the harness's measurements, as -only names them.
var measurements = []string{"throughput", "burst", "enqueue", "resume", "fanout", "memory"}

// runs reports whether the run includes measurement m.
func (c config) runs(m string) bool { return len(c.Only) == 0 || c.Only[m] }

func (c config) validate() error {
	var errs []error
	positive := map[string]time.Duration{
		"-latency": c.Latency, "-warmup": c.Warmup, "-window": c.Window, "-enqueue-warmup": c.EnqueueWarmup,
		"-enqueue-duration": c.EnqueueDuration, "-fanout-duration": c.FanoutDuration, "-settle": c.Settle, "-timeout": c.Timeout,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.FastLatency < 0 {
		errs = append(errs, fmt.Errorf("-fast-latency must not be negative, got %s", c.FastLatency))
	}
	if c.EnqueueCooldown < 0 {
		errs = append(errs, fmt.Errorf("-enqueue-cooldown must not be negative, got %s", c.EnqueueCooldown))
	}
	if c.Workers < 1 || c.Workers > 4096 {
		errs = append(errs, fmt.Errorf("-workers must be in [1, 4096], got %d", c.Workers))
	}
	if c.Conversations < 1 || c.Streams < 1 || c.IdleStreams < 1 {
		errs = append(errs, fmt.Errorf("-conversations, -streams and -idle-streams must be at least 1, got %d, %d and %d", c.Conversations, c.Streams, c.IdleStreams))
	}
	if c.PerConversation < 1 || c.PerConversation > throughputQueueLimit {
		errs = append(errs, fmt.Errorf("-per-conversation must be in [1, %d] (the runs' QUEUE_LIMIT), got %d", throughputQueueLimit, c.PerConversation))
	}
	if c.BurstConversations < 1 || c.BurstSentences < 1 {
		errs = append(errs, fmt.Errorf("-burst-conversations and -burst-sentences must be at least 1, got %d and %d", c.BurstConversations, c.BurstSentences))
	}
	if c.ResumeEvents < 2 || c.ResumeEvents%2 != 0 {
		errs = append(errs, fmt.Errorf("-resume-events must be an even number of at least 2 (a sentence and its answer each), got %d", c.ResumeEvents))
	}
	if c.ResumeConversations < 1 || c.Resumes < 1 {
		errs = append(errs, fmt.Errorf("-resume-conversations and -resumes must be at least 1, got %d and %d", c.ResumeConversations, c.Resumes))
	}
	if c.FanoutDoors < 2 || c.FanoutConversations < c.FanoutDoors {
		errs = append(errs, fmt.Errorf("-fanout-doors must be at least 2 and -fanout-conversations at least as many, got %d and %d", c.FanoutDoors, c.FanoutConversations))
	}
	if c.FanoutRate <= 0 || c.FanoutRate > 100 {
		errs = append(errs, fmt.Errorf("-fanout-rate must be in (0, 100] sentences per second, got %g", c.FanoutRate))
	}
	if c.MemoryQueueLimit < 1 {
		errs = append(errs, fmt.Errorf("-memory-queue-limit must be at least 1, got %d", c.MemoryQueueLimit))
	}
	if c.RPM < 0 {
		errs = append(errs, fmt.Errorf("-rpm must not be negative, got %d", c.RPM))
	}
	for _, rate := range c.Rates {
		if rate <= 0 || rate/float64(max(c.Streams, 1)) > 100 {
			errs = append(errs, fmt.Errorf("-rate must be positive and at most 100 per stream, got %g over %d streams", rate, c.Streams))
		}
	}
	if c.EnqueueRuns < 1 || c.EnqueueRuns > 100 {
		errs = append(errs, fmt.Errorf("-enqueue-runs must be in [1, 100], got %d", c.EnqueueRuns))
	}
	if c.EnqueueWarmupRuns < 0 || c.EnqueueWarmupRuns > 10 {
		errs = append(errs, fmt.Errorf("-enqueue-warmup-runs must be in [0, 10], got %d", c.EnqueueWarmupRuns))
	}
	if c.StreamsPerConn < 1 || c.StreamsPerConn > 256 {
		errs = append(errs, fmt.Errorf("-streams-per-conn must be in [1, 256] (the front door's MaxConcurrentStreams), got %d", c.StreamsPerConn))
	}
	for m := range c.Only {
		if !slices.Contains(measurements, m) {
			errs = append(errs, fmt.Errorf("-only: unknown measurement %q (want some of %s)", m, strings.Join(measurements, ", ")))
		}
	}
	if len(c.Endpoints.KafkaBrokers) == 0 || c.Endpoints.KafkaBrokers[0] == "" {
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker given"))
	}
	return errors.Join(errs...)
}
