package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// buildDispatcher compiles ./cmd/dispatcher into dir and returns the binary's path.
func buildDispatcher(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "dispatcher")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dispatcher")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dispatcher: %w\n%s", err, out)
	}
	return bin, nil
}

// dispatcherProc is a running dispatcher binary.
type dispatcherProc struct {
	cmd     *exec.Cmd
	admin   string
	logPath string
	stop    context.CancelFunc
	done    chan struct{}
	http    *http.Client

	stopOnce sync.Once
	stopErr  error
}

// dispatcherEnv is the configuration a benchmark gives a dispatcher.
type dispatcherEnv struct {
	DatabaseURL string
	Brokers     []string
	Topic       string
	Group       string
}

// startDispatcher runs bin with env, its output going to logPath. Stop must be called.
func startDispatcher(ctx context.Context, bin string, env dispatcherEnv, logPath string) (*dispatcherProc, error) {
	admin, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("dispatcher log: %w", err)
	}
	procCtx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(procCtx, bin)
	cmd.Env = append(os.Environ(),
		"ADMIN_ADDR="+admin,
		"KAFKA_BROKERS="+strings.Join(env.Brokers, ","),
		"DATABASE_URL="+env.DatabaseURL,
		"SIGNAL_TOPIC="+env.Topic,
		"GROUP_ID="+env.Group,
		"KAFKA_SESSION_TIMEOUT=6s",
		"SHUTDOWN_GRACE=10s",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Stopping is SIGTERM, the dispatcher's graceful shutdown; SIGKILL if it is not done soon.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		stop()
		_ = logFile.Close()
		return nil, fmt.Errorf("start dispatcher: %w", err)
	}
	d := &dispatcherProc{cmd: cmd, admin: admin, logPath: logPath, stop: stop, done: make(chan struct{}),
		http: &http.Client{Timeout: 5 * time.Second}}
	go func() { // ends when the process does; Stop waits for it
		_ = cmd.Wait()
		_ = logFile.Close()
		close(d.done)
	}()
	return d, nil
}

// PID is the process id, for CPU accounting.
func (d *dispatcherProc) PID() int { return d.cmd.Process.Pid }

// Stop shuts the dispatcher down gracefully and waits for it. It reports an unclean exit.
// Calling it again returns the first call's result.
func (d *dispatcherProc) Stop() error {
	d.stopOnce.Do(func() {
		d.stop()
		<-d.done
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			d.stopErr = fmt.Errorf("dispatcher exited with %s (log: %s)", d.cmd.ProcessState, d.logPath)
		}
	})
	return d.stopErr
}

// WaitReady waits until /readyz answers 200: the dispatcher has joined its group and reaches
// the database.
func (d *dispatcherProc) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if benchkit.Ready(ctx, d.http, "http://"+d.admin+"/readyz") {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("dispatcher exited before it was ready (log: %s)", d.logPath)
		case <-ctx.Done():
			return fmt.Errorf("dispatcher not ready within %s (log: %s)", timeout, d.logPath)
		case <-tick.C:
		}
	}
}

// Metrics scrapes the dispatcher's /metrics.
func (d *dispatcherProc) Metrics(ctx context.Context) (metricSet, error) {
	select {
	case <-d.done:
		return nil, fmt.Errorf("dispatcher exited (log: %s)", d.logPath)
	default:
	}
	return scrape(ctx, d.http, "http://"+d.admin+"/metrics")
}

// WaitMetric polls /metrics every interval until name reaches at least want, and returns the
// scrape that showed it.
func (d *dispatcherProc) WaitMetric(ctx context.Context, name string, want float64, every time.Duration) (metricSet, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		m, err := d.Metrics(ctx)
		if err != nil {
			return nil, err
		}
		if m[name] >= want {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s reached %.0f of %.0f: %w", name, m[name], want, ctx.Err())
		case <-tick.C:
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
