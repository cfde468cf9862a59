package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/beacon/eventdispatch/internal/stack"
)

// config is the harness's configuration: endpoints from the environment (as the tests read
// them), everything else from flags.
type config struct {
	Endpoints stack.Endpoints
	// SignalTopic is the real topic the connector writes and the live dispatcher reads.
	SignalTopic string
	// Testdata holds the captured Debezium events used as templates for the backlog.
	Testdata string
	// Schemas renders the backlog's values with JsonConverter's schema, as connectors with
	// the converter's default write them; without, as this project's connector writes them.
	Schemas bool

	// Rate is recordings per second in the latency workload; Warmup and Duration its length
	// before and during measurement.
	Rate     float64
	Warmup   time.Duration
	Duration time.Duration
	// VisiblePoll is how often the harness looks for processed rows.
	VisiblePoll time.Duration
	// Idle is how long both consumers are watched with nothing to do.
	Idle time.Duration
	// PollInterval is the baseline poller's interval.
	PollInterval time.Duration
	// Pairs interleaved recording pairs, played by Lanes concurrent players.
	Pairs, Lanes int
	// Backlog is the number of events put on the backlog topic (an even number: two per
	// recording).
	Backlog int
	// Timeout bounds the whole run; cleanup gets a minute more.
	Timeout time.Duration
	// Seed makes the generated recordings and timings repeatable; 0 draws one.
	Seed uint64
	// Out, if set, also receives the report.
	Out string
	// Profile, if set, is a directory that receives the dispatcher's CPU profile over the
	// first ProfileSeconds of the backlog drain and its allocation profile after it; the
	// report shows the top entries of both.
	Profile        string
	ProfileSeconds int
}

func parseConfig(args []string) (config, error) {
	c := config{Endpoints: stack.Get()}
	fs := flag.NewFlagSet("bench-dispatch", flag.ContinueOnError)
	fs.StringVar(&c.SignalTopic, "topic", "postgres.datastore.signal", "the connector's topic (the live dispatcher's SIGNAL_TOPIC)")
	fs.StringVar(&c.Testdata, "testdata", "internal/debezium/testdata", "captured Debezium events used as templates for the backlog")
	fs.BoolVar(&c.Schemas, "schemas", false, "render the backlog's values with the converter's schema (value.converter.schemas.enable=true), not as the project's connector writes them")
	fs.Float64Var(&c.Rate, "rate", 50, "recordings per second in the latency workload")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "latency workload before measuring")
	fs.DurationVar(&c.Duration, "duration", 40*time.Second, "latency workload measured")
	fs.DurationVar(&c.VisiblePoll, "visible-poll", 10*time.Millisecond, "how often the harness looks for processed rows")
	fs.DurationVar(&c.Idle, "idle", 20*time.Second, "idle window in which both consumers' statements are counted")
	fs.DurationVar(&c.PollInterval, "poll-interval", time.Second, "the baseline poller's interval")
	fs.IntVar(&c.Pairs, "pairs", 100, "interleaved recording pairs (A's eeg, B's eeg and accelerometer, A's accelerometer)")
	fs.IntVar(&c.Lanes, "lanes", 4, "pairs played at once")
	fs.IntVar(&c.Backlog, "backlog", 100000, "events in the backlog (two per recording)")
	fs.DurationVar(&c.Timeout, "timeout", 9*time.Minute, "give up after this long")
	fs.Uint64Var(&c.Seed, "seed", 0, "seed for recordings and timings (0: random)")
	fs.StringVar(&c.Out, "out", "", "also write the report to this file")
	fs.StringVar(&c.Profile, "profile", "", "write the dispatcher's CPU and allocation profiles of the backlog drain to this directory")
	fs.IntVar(&c.ProfileSeconds, "profile-seconds", 15, "length of the CPU profile, from the start of the drain (below 30: the admin server's write timeout)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	positive := map[string]time.Duration{
		"-warmup": c.Warmup, "-duration": c.Duration, "-visible-poll": c.VisiblePoll,
		"-idle": c.Idle, "-poll-interval": c.PollInterval, "-timeout": c.Timeout,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.Rate <= 0 || c.Rate > 1000 {
		errs = append(errs, fmt.Errorf("-rate must be in (0, 1000], got %g", c.Rate))
	}
	if c.Pairs < 1 || c.Lanes < 1 {
		errs = append(errs, fmt.Errorf("-pairs and -lanes must be at least 1, got %d and %d", c.Pairs, c.Lanes))
	}
	if c.ProfileSeconds < 1 || c.ProfileSeconds > 25 {
		errs = append(errs, fmt.Errorf("-profile-seconds must be in [1, 25], got %d", c.ProfileSeconds))
	}
	if c.Backlog < 2 || c.Backlog%2 != 0 {
		errs = append(errs, fmt.Errorf("-backlog must be a positive even number, got %d", c.Backlog))
	}
	if len(c.Endpoints.KafkaBrokers) == 0 || c.Endpoints.KafkaBrokers[0] == "" {
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker given"))
	}
	return errors.Join(errs...)
}

// RunTimeout is -timeout, for benchkit.Main.
func (c config) RunTimeout() time.Duration { return c.Timeout }

// recordings is the number of recordings in the latency workload's warm-up and measurement.
func (c config) recordings() (warmup, measured int) {
	return int(c.Rate * c.Warmup.Seconds()), int(c.Rate * c.Duration.Seconds())
}
