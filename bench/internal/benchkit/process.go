package benchkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beacon/eventdispatch/internal/proctest"
)

// Timings of the processes a harness starts.
const (
	// readyPoll is how often WaitReady asks /readyz: finer than the startup times reported.
	readyPoll = 20 * time.Millisecond
	// stopGrace is how long Stop waits after SIGTERM before it kills the process.
	stopGrace = 20 * time.Second
	// adminTimeout bounds each request to a process's admin port.
	adminTimeout = 5 * time.Second
)

// Build compiles the project's packages (e.g. "./cmd/dispatcher") into dir, each binary named
// for its package's directory. It runs from the working directory, the repository's root.
//
// Then it has the kernel write every dirty page of the machine to the disk (sync(2)): the
// binaries just written (and the harness's own, when it runs with go run) are a hundred
// megabytes or so, which the kernel would otherwise write back all at once half a minute
// later (vm.dirty_expire_centisecs), in the middle of a measurement. On a machine whose one
// disk also holds Postgres's WAL, every commit waits behind that burst, and the run would
// report it as the stack's latency (BENCHMARKS.md, "Thirteenth round").
func Build(ctx context.Context, dir string, packages ...string) error {
	args := append([]string{"build", "-o", dir + string(filepath.Separator)}, packages...)
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	syscall.Sync()
	return nil
}

// ProcessConfig says how to start one of the project's binaries.
type ProcessConfig struct {
	// Name tells the process apart in errors: "dispatcher".
	Name string
	// Path is the binary.
	Path string
	// Env is added to the harness's environment; ADMIN_ADDR is set for it.
	Env []string
	// Log is the file its standard output and error go to, created or truncated.
	Log string
}

// Process is a running binary of the project, started by StartProcess, with its admin port
// (/readyz, /metrics) on a free loopback port. It must be stopped with Stop.
type Process struct {
	cfg   ProcessConfig
	cmd   *exec.Cmd
	admin string
	stop  context.CancelFunc
	done  chan struct{} // closed once the process has exited
	http  *http.Client

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts cfg.Path with cfg.Env and ADMIN_ADDR set to a free loopback port. The
// process is stopped gracefully (SIGTERM) by Stop or when ctx ends, and gets SIGTERM too if
// the harness dies without stopping it.
func StartProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	admin, err := FreeAddr(ctx)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", cfg.Name, err)
	}
	procCtx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(procCtx, cfg.Path)
	cmd.Env = append(append(os.Environ(), "ADMIN_ADDR="+admin), cfg.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the harness dies without stopping it (SIGKILL, SIGQUIT), the process gets SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// Stopping is SIGTERM, the binaries' graceful shutdown; SIGKILL if it is not done soon.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		stop()
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	p := &Process{cfg: cfg, cmd: cmd, admin: admin, stop: stop, done: make(chan struct{}),
		http: &http.Client{Timeout: adminTimeout}}
	go func() { // ends when the process does; Stop waits for it
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id, for CPU and memory readings.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop shuts the process down gracefully and waits for it; it reports an unclean exit.
// Calling it again returns the first call's result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stop()
		<-p.done
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			p.stopErr = fmt.Errorf("%s exited with %s (log: %s)", p.cfg.Name, p.cmd.ProcessState, p.cfg.Log)
		}
	})
	return p.stopErr
}

// WaitReady waits until the process's /readyz answers 200 OK, for at most timeout.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		if p.ready(ctx) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (log: %s)", p.cfg.Name, p.cfg.Log)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (log: %s)", p.cfg.Name, timeout, p.cfg.Log)
		case <-tick.C:
		}
	}
}

// ready reports whether a GET of /readyz answers 200 OK.
func (p *Process) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/readyz", nil)
	if err != nil {
		return false
	}
	res, err := p.http.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// Metrics scrapes the process's /metrics.
func (p *Process) Metrics(ctx context.Context) (Metrics, error) {
	if p.exited() {
		return nil, fmt.Errorf("%s exited (log: %s)", p.cfg.Name, p.cfg.Log)
	}
	return Scrape(ctx, p.http, "http://"+p.admin+"/metrics")
}

// Histograms scrapes the process's /metrics for the series of the histogram name, keyed by
// the value of their label (see ScrapeHistograms).
func (p *Process) Histograms(ctx context.Context, name, label string) (map[string]Histogram, error) {
	if p.exited() {
		return nil, fmt.Errorf("%s exited (log: %s)", p.cfg.Name, p.cfg.Log)
	}
	return ScrapeHistograms(ctx, p.http, "http://"+p.admin+"/metrics", name, label)
}

// WaitMetric scrapes /metrics every interval until reached(the value of name) holds, and
// returns the scrape that showed it. A failed scrape is tried again; the wait ends with an
// error when the process exits or ctx ends first.
func (p *Process) WaitMetric(ctx context.Context, name string, every time.Duration, reached func(float64) bool) (Metrics, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		m, err := p.Metrics(ctx)
		if err == nil && reached(m[name]) {
			return m, nil
		}
		if p.exited() {
			return nil, fmt.Errorf("%s exited while waiting for %s (log: %s)", p.cfg.Name, name, p.cfg.Log)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("wait for %s of %s: %w", name, p.cfg.Name, errors.Join(err, ctx.Err()))
			}
			return nil, fmt.Errorf("wait for %s of %s, still %g: %w", name, p.cfg.Name, m[name], ctx.Err())
		case <-tick.C:
		}
	}
}

// exited reports whether the process has exited.
func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// FreeAddr returns a loopback address whose port is free now, outside the range of ports
// outgoing connections take (proctest.LoopbackAddr): a process started with it binds it a
// moment later.
func FreeAddr(ctx context.Context) (string, error) { return proctest.LoopbackAddr(ctx) }
