package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
	"github.com/beacon/eventdispatch/internal/fakeopenai"
)

// topicPartitions is what the local stack gives a new topic, and what the binaries create
// when a topic is missing.
const topicPartitions = 3

// systemSpec says how to configure one run's front doors, dispatcher and fake model.
type systemSpec struct {
	// name tells the run's topics, groups and logs apart from the other runs'.
	name string
	// frontdoors is how many front doors run (0 means 1), all on the run's topics and the
	// stack's Postgres.
	frontdoors int
	// countReads puts each front door's and the dispatcher's Postgres connections through a
	// counting proxy of its own (door.proxy, system.dispatcherProxy).
	countReads bool
	// queueLimit is the front doors' QUEUE_LIMIT.
	queueLimit int
	// workers and rpm are the dispatcher's WORKERS and LLM_RPM (0: no limit). With no
	// workers, no dispatcher runs: jobs stay on the topic unanswered.
	workers, rpm int
	// latency is the fake model's.
	latency time.Duration
}

// door is one front door of a system.
type door struct {
	proc *benchkit.Process
	rpc  string // its ADDR
	// proxy counts its traffic with Postgres; nil unless the spec has countReads.
	proxy *pgcount.Proxy
}

// system is one or more front doors and one dispatcher on topics of their own, sharing the
// stack's Postgres (the conversations' transcript), the dispatcher talking to a fake model
// served by the harness.
type system struct {
	spec  systemSpec
	doors []*door
	// dispatcher is nil when the spec has no workers.
	dispatcher *benchkit.Process
	// dispatcherProxy counts the dispatcher's traffic with Postgres; nil unless the spec has
	// countReads.
	dispatcherProxy *pgcount.Proxy
	model           *fakeopenai.Server
	// modelPort is the fake model's port.
	modelPort int
	// stopBackground ends the goroutines the system owns (the fake model's forgetting, the
	// proxies); background waits for them.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
}

// frontdoor is the system's first (often only) front door.
func (s *system) frontdoor() *door { return s.doors[0] }

// forgetEvery is how often the fake model is told to drop the requests it has recorded,
// which the harness does not use: kept, they would grow the harness's heap by megabytes a
// second and its garbage collector's work with it, on the machine being measured.
const forgetEvery = time.Second

// forget resets the fake model's record every forgetEvery until ctx ends.
func (s *system) forget(ctx context.Context) {
	tick := time.NewTicker(forgetEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.model.Reset()
		}
	}
}

// pids returns the process ids of the front doors and of the dispatcher (0 without one).
func (s *system) pids() (frontdoors []int, dispatcher int) {
	for _, d := range s.doors {
		frontdoors = append(frontdoors, d.proc.PID())
	}
	if s.dispatcher != nil {
		dispatcher = s.dispatcher.PID()
	}
	return frontdoors, dispatcher
}

// cpu returns the CPU times so far of the system's processes and the rest of the machine.
func (s *system) cpu() map[cpuGroup]time.Duration { return cpuTimes(s.pids()) }

// startSystem creates the run's topics, starts the fake model, the front doors and the
// dispatcher, and waits until all are ready. On error, whatever was started is stopped.
func (b *bench) startSystem(ctx context.Context, spec systemSpec) (sys *system, err error) {
	id := b.runID + "." + spec.name
	jobs, signals := "bench.jobs."+id, "bench.signals."+id
	group := "bench-llm-" + strings.TrimPrefix(id, "bench-llm-")
	// Remembered first, so that cleanup removes them whatever happens below.
	b.topics = append(b.topics, jobs, signals, jobs+".dlq", signals+".dlq")
	b.groups = append(b.groups, group, group+"-signals")
	if err := b.kafka.CreateTopics(ctx, topicPartitions, jobs, signals); err != nil {
		return nil, err
	}

	sys = &system{spec: spec, model: fakeopenai.New(fakeopenai.WithLatency(spec.latency))}
	var bgCtx context.Context
	bgCtx, sys.stopBackground = context.WithCancel(context.WithoutCancel(ctx))
	sys.background.Go(func() { sys.forget(bgCtx) })
	defer func() { //nolint:contextcheck // stopping must work once ctx has ended too
		if err != nil {
			err = errors.Join(err, sys.stop())
		}
	}()
	modelURL, err := sys.model.Start() //nolint:contextcheck // it serves until stop closes it, not for a context
	if err != nil {
		return sys, fmt.Errorf("fake model: %w", err)
	}
	if sys.modelPort, err = urlPort(modelURL); err != nil {
		return sys, fmt.Errorf("fake model: %w", err)
	}
	brokers := "KAFKA_BROKERS=" + strings.Join(b.cfg.Endpoints.KafkaBrokers, ",")
	for i := range max(spec.frontdoors, 1) {
		d, err := b.startDoor(ctx, bgCtx, sys, i, []string{
			brokers, "JOBS_TOPIC=" + jobs,
			"QUEUE_LIMIT=" + strconv.Itoa(spec.queueLimit), "MAX_INFLIGHT=" + strconv.Itoa(maxInflight),
			// The bench measures the system, not the anonymous caller's quota.
			"ANONYMOUS_REQUESTS_PER_SECOND=0", "ANONYMOUS_SENTENCES_PER_MINUTE=0",
			"SHUTDOWN_GRACE=5s",
		})
		if d != nil {
			sys.doors = append(sys.doors, d)
		}
		if err != nil {
			return sys, err
		}
	}
	for _, d := range sys.doors {
		if err := d.proc.WaitReady(ctx, 30*time.Second); err != nil {
			return sys, err
		}
	}
	if spec.workers == 0 {
		b.log.Info("system ready", "run", spec.name, "frontdoors", len(sys.doors), "dispatcher", "none")
		return sys, nil
	}
	dbURL := b.cfg.Endpoints.DatabaseURL
	if spec.countReads {
		if sys.dispatcherProxy, dbURL, err = b.startProxy(ctx, bgCtx, sys); err != nil {
			return sys, err
		}
	}
	sys.dispatcher, err = benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: "dispatcher", Path: filepath.Join(b.dir, "dispatcher"), Log: filepath.Join(b.dir, spec.name+".dispatcher.log"),
		Env: []string{
			brokers, "DATABASE_URL=" + dbURL,
			"JOBS_TOPIC=" + jobs, "LLM_GROUP_ID=" + group,
			"WORKERS=" + strconv.Itoa(spec.workers), "LLM_RPM=" + strconv.Itoa(spec.rpm),
			"OPENAI_BASE_URL=" + modelURL, "OPENAI_API_KEY=bench",
			// Its signal consumer reads a topic nobody writes, so it stays idle.
			"SIGNAL_TOPIC=" + signals, "GROUP_ID=" + group + "-signals",
			"KAFKA_SESSION_TIMEOUT=6s", "SHUTDOWN_GRACE=10s",
		},
	})
	if err != nil {
		return sys, err
	}
	if err := sys.dispatcher.WaitReady(ctx, time.Minute); err != nil {
		return sys, err
	}
	b.log.Info("system ready", "run", spec.name, "frontdoors", len(sys.doors), "workers", spec.workers, "rpm", spec.rpm, "model_latency", spec.latency)
	return sys, nil
}

// startDoor starts front door i of sys with env, and its proxy when the spec counts reads;
// the proxy serves until bgCtx ends (the system's stop), also when startDoor fails.
func (b *bench) startDoor(ctx, bgCtx context.Context, sys *system, i int, env []string) (*door, error) {
	d := &door{}
	dbURL := b.cfg.Endpoints.DatabaseURL
	var err error
	if sys.spec.countReads {
		if d.proxy, dbURL, err = b.startProxy(ctx, bgCtx, sys); err != nil {
			return nil, err
		}
	}
	if d.rpc, err = benchkit.FreeAddr(ctx); err != nil {
		return nil, err
	}
	name := "frontdoor"
	if i > 0 {
		name += strconv.Itoa(i + 1)
	}
	d.proc, err = benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: name, Path: filepath.Join(b.dir, "frontdoor"), Log: filepath.Join(b.dir, sys.spec.name+"."+name+".log"),
		Env: append(env, "ADDR="+d.rpc, "DATABASE_URL="+dbURL),
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// startProxy starts a counting proxy to Postgres that serves until bgCtx ends, and returns it
// with DATABASE_URL pointed at it.
func (b *bench) startProxy(ctx, bgCtx context.Context, sys *system) (*pgcount.Proxy, string, error) {
	proxy, err := pgcount.Listen(ctx, b.pgAddr)
	if err != nil {
		return nil, "", err
	}
	sys.background.Go(func() { _ = proxy.Serve(bgCtx) })
	dbURL, err := viaProxy(b.cfg.Endpoints.DatabaseURL, proxy.Addr())
	return proxy, dbURL, err
}

// viaProxy returns DATABASE_URL pointed at a counting proxy at addr, with TLS off (the proxy
// reads the protocol in the clear). It leaves application_name alone: the transcript's
// listener connection names itself only when the URL does not.
func viaProxy(databaseURL, addr string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("DATABASE_URL must be a postgres:// URL to count what front doors read")
	}
	q := u.Query()
	q.Set("sslmode", "disable")
	u.Host, u.RawQuery = addr, q.Encode()
	return u.String(), nil
}

// stop stops the front doors and the dispatcher, then the fake model and the proxies. Any may
// be missing.
func (s *system) stop() error {
	var errs []error
	procs := []*benchkit.Process{}
	for _, d := range s.doors {
		procs = append(procs, d.proc)
	}
	if s.dispatcher != nil {
		procs = append(procs, s.dispatcher)
	}
	done := make(chan error, len(procs))
	for _, p := range procs {
		go func() { done <- p.Stop() }()
	}
	for range procs {
		errs = append(errs, <-done)
	}
	s.stopBackground()
	s.background.Wait()
	if err := s.model.Close(); err != nil {
		errs = append(errs, fmt.Errorf("fake model: %w", err))
	}
	return errors.Join(errs...)
}
