package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/lifecycle"
	"github.com/beacon/eventdispatch/internal/logging"
)

// System is one process being assembled: the parts a binary chose (the Add* methods), the
// metrics registry and logger they share, and what the lifecycle needs to run and stop them.
type System struct {
	// Log is the process logger (LOG_FORMAT, LOG_LEVEL).
	Log *slog.Logger
	// Registry holds every part's metrics, served on the admin port.
	Registry *prometheus.Registry

	proc      Process
	adminLn   net.Listener
	intake    []lifecycle.Task // stopped first: what brings work in
	work      []lifecycle.Task // stopped once the intake has drained
	ready     []admin.ReadyFunc
	draining  []func()
	closers   []func()
	consumers *consumer.Metrics
	pools     map[string]*pgxpool.Pool
	// queue is the process's JOBS_TOPIC, which its connections to Postgres name, "" for a
	// binary without one.
	queue string
	// brokerInMemory is set when the process's broker is its own, in memory (standalone's
	// without a directory): work left uncommitted at exit is lost with it, not redone.
	brokerInMemory bool
	// capture is the watch of Debezium's heartbeat (AddCaptureWatch), nil without one.
	capture *dispatch.CaptureWatch
}

// Build adds a binary's parts to sys from its settings. Work that outlives Build belongs in
// tasks the parts add; resources to release at exit go to OnClose.
type Build[S Settings] func(ctx context.Context, sys *System, cfg S) error

// Main runs a binary and exits: it loads S from the environment over defaults (a bad value
// stops it, naming the variable), sets up logging, opens the admin port, lets build add the
// binary's parts, and runs them until SIGTERM or SIGINT (internal/lifecycle). It exits 0 after
// a clean shutdown, 2 for arguments it does not take (ExitCode), and 1 otherwise, with the
// reason on stderr prefixed by name.
func Main[S Settings](name string, defaults S, build Build[S]) {
	done, err := Usage(name, defaults, os.Args[1:], os.Stdout)
	if err == nil && !done {
		err = run(name, defaults, build)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(ExitCode(err))
	}
}

func run[S Settings](name string, defaults S, build Build[S]) error {
	cfg, err := config.Load(defaults)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	proc := cfg.process()
	log, err := logging.New(os.Stderr, proc.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, again, stop := lifecycle.Interrupts()
	defer stop()

	sys := &System{Log: log, Registry: admin.NewRegistry(), proc: proc}
	if q, ok := any(cfg).(queued); ok {
		sys.queue = q.jobsTopic()
	}
	defer sys.close(closeWithin)
	if sys.adminLn, err = sys.Listen(ctx, "admin (ADMIN_ADDR)", proc.AdminAddr); err != nil {
		return err
	}
	if err := build(ctx, sys, cfg); err != nil {
		return err
	}
	log.Info(name+" starting", "admin", sys.adminLn.Addr().String())
	p := &lifecycle.Process{
		Log:    log,
		Grace:  proc.ShutdownGrace,
		Admin:  lifecycle.Admin{Listener: sys.adminLn, Metrics: sys.Registry, Ready: sys.readiness},
		Stages: [][]lifecycle.Task{sys.intake, sys.work},
		Draining: func() {
			for _, f := range sys.draining {
				f()
			}
		},
	}
	if sys.brokerInMemory {
		p.Unfinished = "unfinished work is lost with the process (the embedded broker is in memory)"
	}
	return p.Run(ctx, again)
}

// Listen opens a port before anything starts, so that a busy one stops the process with an
// error naming it and its variable; name says both, e.g. "rpc (ADDR)". The listener is closed
// at exit.
func (s *System) Listen(ctx context.Context, name, addr string) (net.Listener, error) {
	ln, err := httpserve.Listen(ctx, name, addr)
	if err != nil {
		return nil, err
	}
	s.OnClose(func() { _ = ln.Close() })
	return ln, nil
}

// OnClose registers f to run at exit, after every task has stopped; closers run in the
// reverse order of registration. f must be quick: releasing, not finishing work.
func (s *System) OnClose(f func()) { s.closers = append(s.closers, f) }

// closeWithin bounds the closers at exit, so that a writer stuck on an unreachable broker
// cannot hold the process past its shutdown deadline.
const closeWithin = 2 * time.Second

// ExitWithin is the longest a process takes to exit after SIGTERM with a SHUTDOWN_GRACE of
// grace: the drain, what tasks may overrun it (lifecycle.Overrun) and the closers. A
// Kubernetes pod's terminationGracePeriodSeconds must be longer.
func ExitWithin(grace time.Duration) time.Duration {
	return grace + lifecycle.Overrun + closeWithin
}

func (s *System) close(within time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, f := range slices.Backward(s.closers) {
			f()
		}
	}()
	select {
	case <-done:
	case <-time.After(within):
		// After "shut down cleanly": the work ended; a connection's close did not.
		s.Log.Warn("the work ended, but connections (Kafka writers, Postgres pools) were not all closed in time; exiting anyway", "waited", within)
	}
}

// AdminAddr is the address the admin port listens on.
func (s *System) AdminAddr() net.Addr { return s.adminLn.Addr() }

// ShutdownGrace is SHUTDOWN_GRACE, for parts that size their own drain from it.
func (s *System) ShutdownGrace() time.Duration { return s.proc.ShutdownGrace }

func (s *System) addIntake(t lifecycle.Task) { s.intake = append(s.intake, t) }
func (s *System) addWork(t lifecycle.Task)   { s.work = append(s.work, t) }
func (s *System) addReady(r admin.ReadyFunc) { s.ready = append(s.ready, r) }
func (s *System) onDraining(f func())        { s.draining = append(s.draining, f) }

// groupConfig is a consumer-group member's configuration as every part of the process
// wants it: its brokers, KAFKA_SESSION_TIMEOUT, half of SHUTDOWN_GRACE for the work in hand
// at shutdown, and the process's consumer metrics.
func (s *System) groupConfig(bus *kafkabus.Bus, groups Groups, group, topic string, batchSize int) consumer.Config {
	if s.consumers == nil {
		s.consumers = consumer.NewMetrics(s.Registry)
	}
	return consumer.Config{
		Brokers:        bus.Brokers(),
		GroupID:        group,
		Topic:          topic,
		BatchSize:      batchSize,
		SessionTimeout: groups.SessionTimeout,
		HandleTimeout:  s.ShutdownGrace() / 2,
		Metrics:        s.consumers,
		Log:            s.Log,
		LostAtExit:     s.brokerInMemory,
	}
}

// groupErr is the error a consumer-group member's Run ended with, naming KAFKA_SESSION_TIMEOUT
// when the brokers refused it.
func groupErr(err error) error {
	if errors.Is(err, consumer.ErrSessionTimeoutRefused) {
		return fmt.Errorf("KAFKA_SESSION_TIMEOUT: %w", err)
	}
	return err
}

// readiness is /readyz: every part's check, the first failure saying why not.
func (s *System) readiness(ctx context.Context) error {
	for _, r := range s.ready {
		if err := r(ctx); err != nil {
			return err
		}
	}
	return nil
}

// task adapts a function that runs until its context is done.
func task(name string, run func(ctx context.Context) error) lifecycle.Task {
	return lifecycle.Task{Name: name, Run: func(ctx, _ context.Context) error { return run(ctx) }}
}
