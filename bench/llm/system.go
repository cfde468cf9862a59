package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/fakeopenai"
)

// topicPartitions is what the local stack gives a new topic, and what the binaries create
// when a topic is missing.
const topicPartitions = 3

// systemSpec says how to configure one run's front door, dispatcher and fake model.
type systemSpec struct {
	// name tells the run's topics, groups and logs apart from the other runs'.
	name string
	// queueLimit is the front door's QUEUE_LIMIT.
	queueLimit int
	// workers and rpm are the dispatcher's WORKERS and LLM_RPM (0: no limit). With no
	// workers, no dispatcher runs: jobs stay on the topic unanswered.
	workers, rpm int
	// latency is the fake model's.
	latency time.Duration
}

// system is one front door and one dispatcher on topics of their own, the dispatcher talking
// to a fake model served by the harness.
type system struct {
	spec      systemSpec
	rpc       string // the front door's ADDR
	frontdoor *benchkit.Process
	// dispatcher is nil when the spec has no workers.
	dispatcher *benchkit.Process
	model      *fakeopenai.Server
	// modelPort is the fake model's port.
	modelPort int
	// stopForgetting ends the goroutine that keeps the fake model's memory small; forgotten
	// is closed when it has.
	stopForgetting context.CancelFunc
	forgotten      chan struct{}
}

// forgetEvery is how often the fake model is told to drop the requests it has recorded,
// which the harness does not use: kept, they would grow the harness's heap by megabytes a
// second and its garbage collector's work with it, on the machine being measured.
const forgetEvery = time.Second

// forget resets the fake model's record every forgetEvery until ctx ends.
func (s *system) forget(ctx context.Context) {
	defer close(s.forgotten)
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

// dispatcherPID is the dispatcher's process id, or 0 without one.
func (s *system) dispatcherPID() int {
	if s.dispatcher == nil {
		return 0
	}
	return s.dispatcher.PID()
}

// startSystem creates the run's topics, starts the fake model, the front door and the
// dispatcher, and waits until both are ready. On error, whatever was started is stopped.
func (b *bench) startSystem(ctx context.Context, spec systemSpec) (sys *system, err error) {
	id := b.runID + "." + spec.name
	jobs, replies, signals := "bench.jobs."+id, "bench.replies."+id, "bench.signals."+id
	group := "bench-llm-" + strings.TrimPrefix(id, "bench-llm-")
	// Remembered first, so that cleanup removes them whatever happens below.
	b.topics = append(b.topics, jobs, replies, signals, jobs+".dlq", signals+".dlq")
	b.groups = append(b.groups, group, group+"-signals")
	if err := b.kafka.CreateTopics(ctx, topicPartitions, jobs, replies, signals); err != nil {
		return nil, err
	}

	sys = &system{spec: spec, model: fakeopenai.New(fakeopenai.WithLatency(spec.latency)), forgotten: make(chan struct{})}
	var forgetCtx context.Context
	forgetCtx, sys.stopForgetting = context.WithCancel(ctx)
	go sys.forget(forgetCtx)
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
	if sys.rpc, err = benchkit.FreeAddr(ctx); err != nil {
		return sys, err
	}
	brokers := "KAFKA_BROKERS=" + strings.Join(b.cfg.Endpoints.KafkaBrokers, ",")
	sys.frontdoor, err = benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: "frontdoor", Path: filepath.Join(b.dir, "frontdoor"), Log: filepath.Join(b.dir, spec.name+".frontdoor.log"),
		Env: []string{
			"ADDR=" + sys.rpc, brokers, "JOBS_TOPIC=" + jobs, "REPLIES_TOPIC=" + replies,
			"QUEUE_LIMIT=" + strconv.Itoa(spec.queueLimit), "MAX_INFLIGHT=" + strconv.Itoa(maxInflight),
			"SHUTDOWN_GRACE=5s",
		},
	})
	if err != nil {
		return sys, err
	}
	if err := sys.frontdoor.WaitReady(ctx, 30*time.Second); err != nil {
		return sys, err
	}
	if spec.workers == 0 {
		b.log.Info("system ready", "run", spec.name, "frontdoor", sys.rpc, "dispatcher", "none")
		return sys, nil
	}
	sys.dispatcher, err = benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: "dispatcher", Path: filepath.Join(b.dir, "dispatcher"), Log: filepath.Join(b.dir, spec.name+".dispatcher.log"),
		Env: []string{
			brokers, "DATABASE_URL=" + b.cfg.Endpoints.DatabaseURL,
			"JOBS_TOPIC=" + jobs, "REPLIES_TOPIC=" + replies, "LLM_GROUP_ID=" + group,
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
	b.log.Info("system ready", "run", spec.name, "frontdoor", sys.rpc, "workers", spec.workers, "rpm", spec.rpm, "model_latency", spec.latency)
	return sys, nil
}

// stop stops the front door and the dispatcher, then the fake model. Any may be missing.
func (s *system) stop() error {
	var errs []error
	done := make(chan error, 2)
	n := 0
	for _, p := range []*benchkit.Process{s.frontdoor, s.dispatcher} {
		if p != nil {
			n++
			go func() { done <- p.Stop() }()
		}
	}
	for range n {
		errs = append(errs, <-done)
	}
	s.stopForgetting()
	<-s.forgotten
	if err := s.model.Close(); err != nil {
		errs = append(errs, fmt.Errorf("fake model: %w", err))
	}
	return errors.Join(errs...)
}
