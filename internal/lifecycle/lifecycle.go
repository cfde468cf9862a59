// Package lifecycle runs the long-lived parts of a process and stops them in order, the same
// way in every binary:
//
//   - the admin port (/metrics, /healthz, /readyz) serves from the start until everything
//     else has stopped, so probes and scrapes see a draining process to the end;
//   - on the first SIGINT or SIGTERM (or when a task ends by itself), /readyz starts failing
//     at once, then the stages stop one after the other: a stage is told to stop only when
//     every task of the stage before it has returned (the RPC server drains before the reply
//     router it relies on stops, say);
//   - SHUTDOWN_GRACE after the shutdown began the drain context ends: tasks abandon what they
//     still hold and must return promptly; a process still not stopped a moment later gives up
//     with an error naming what was still running;
//   - a second signal ends the process at once.
//
// A binary describes itself as a Process of stages of Tasks; internal/app builds them.
package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/httpserve"
)

// Task is one long-running part of a process.
type Task struct {
	// Name identifies the task in logs and errors.
	Name string
	// Run works until ctx is done, then finishes what it holds and returns. drain is done
	// when the shutdown deadline has passed: whatever is still held then is abandoned and
	// Run returns at once. Returning before ctx is done, with or without an error, starts
	// the shutdown of the whole process.
	Run func(ctx, drain context.Context) error
}

// Admin is what the admin port serves.
type Admin struct {
	// Listener is the admin port, opened beforehand so that a busy port is reported by its
	// variable before anything starts.
	Listener net.Listener
	// Metrics is served on /metrics.
	Metrics prometheus.Gatherer
	// Ready reports why the process should not get traffic yet, or nil. Once the shutdown
	// has begun, /readyz fails whatever it says.
	Ready admin.ReadyFunc
}

// Process is a binary's set of tasks, in the stages in which they stop.
type Process struct {
	Log *slog.Logger
	// Grace bounds the whole shutdown (SHUTDOWN_GRACE).
	Grace time.Duration
	Admin Admin
	// Stages are stopped in order; the tasks of one stage are stopped together. Put first
	// what brings work in (RPC servers, simulators), then what the first stage relies on.
	Stages [][]Task
	// Draining, if set, runs once when the shutdown begins, after /readyz has started to fail
	// and before the first stage is stopped (gRPC health turns NOT_SERVING there, say).
	Draining func()
	// Unfinished says what becomes of the work in hand when the shutdown overruns Grace, for
	// its error: "unfinished work will be redone" when empty.
	Unfinished string
}

// Overrun is how long tasks may take to return once the drain context has ended.
const Overrun = time.Second

// ErrInterrupted is returned when a second signal cut the shutdown short.
var ErrInterrupted = errors.New("second signal: stopped without finishing the work in hand")

type result struct {
	stage, index int
	err          error
}

// Run starts every task and the admin port, and returns once all have stopped. The shutdown
// begins when ctx is done or a task returns; again being closed (a second signal) makes Run
// return ErrInterrupted at once. Run returns nil when every task stopped cleanly, else the
// tasks' errors, or an error naming the tasks still running when the grace ran out.
func (p *Process) Run(ctx context.Context, again <-chan struct{}) error {
	var draining atomic.Bool
	adminSrv := admin.NewServer(p.Admin.Listener.Addr().String(), admin.NewHandler(p.Admin.Metrics, func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return p.Admin.Ready(ctx)
	}))

	drain, endDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer endDrain()
	// The admin port is one more stage, stopped last.
	stages := append(slices.Clone(p.Stages), []Task{{Name: "admin", Run: func(ctx, drain context.Context) error {
		return httpserve.Serve(ctx, drain, p.Log, "admin", adminSrv, p.Admin.Listener)
	}}})
	stops := make([]context.CancelFunc, len(stages))
	running := make([]map[int]string, len(stages)) // per stage, index → name of the tasks not returned
	tasks := 0
	for _, stage := range stages {
		tasks += len(stage)
	}
	results := make(chan result, tasks) // tasks never block on a Run that has returned
	for i, stage := range stages {
		stageCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		stops[i], running[i] = stop, map[int]string{}
		for j, t := range stage {
			running[i][j] = t.Name
			go func() { results <- result{i, j, t.Run(stageCtx, drain)} }()
		}
	}

	var errs []error
	record := func(r result) string {
		name := running[r.stage][r.index]
		delete(running[r.stage], r.index)
		if r.err != nil {
			p.Log.Error("stopped with an error", "task", name, "error", r.err)
			errs = append(errs, fmt.Errorf("%s: %w", name, r.err))
		}
		return name
	}
	select {
	case <-ctx.Done():
		p.Log.Info("shutting down", "grace", p.Grace)
	case r := <-results:
		p.Log.Info("shutting down: "+record(r)+" has stopped", "grace", p.Grace)
	}
	draining.Store(true)
	if p.Draining != nil {
		p.Draining()
	}

	grace := time.NewTimer(p.Grace)
	defer grace.Stop()
	var giveUp <-chan time.Time
	for stage := 0; stage < len(stages); {
		if len(running[stage]) == 0 {
			stage++
			continue
		}
		stops[stage]()
		select {
		case r := <-results:
			record(r)
		case <-again:
			return errors.Join(append(errs, ErrInterrupted)...)
		case <-grace.C:
			endDrain()
			giveUp = time.After(Overrun)
		case <-giveUp:
			return errors.Join(append(errs, fmt.Errorf("shutdown took longer than SHUTDOWN_GRACE (%s); still running: %s; %s",
				p.Grace, stillRunning(running), cmp.Or(p.Unfinished, "unfinished work will be redone")))...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.Log.Info("shut down cleanly")
	return nil
}

func stillRunning(running []map[int]string) string {
	var names []string
	for _, stage := range running {
		for _, name := range stage {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Interrupts relays SIGINT and SIGTERM: ctx ends at the first, again is closed at the second.
// stop restores the default handling.
func Interrupts() (ctx context.Context, again <-chan struct{}, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	second, quit := make(chan struct{}), make(chan struct{})
	go func() {
		for n := 0; n < 2; n++ {
			select {
			case <-sigs:
			case <-quit:
				return
			}
			if n == 0 {
				cancel()
			} else {
				close(second)
			}
		}
	}()
	return ctx, second, func() {
		signal.Stop(sigs)
		close(quit)
		cancel()
	}
}
