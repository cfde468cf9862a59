package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// buildBinaries compiles ./cmd/frontdoor and ./cmd/dispatcher into dir.
func buildBinaries(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/frontdoor", "./cmd/dispatcher")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/frontdoor ./cmd/dispatcher: %w\n%s", err, out)
	}
	return nil
}

// proc is a running binary of the project, with its admin port.
type proc struct {
	name    string
	cmd     *exec.Cmd
	admin   string
	logPath string
	stop    context.CancelFunc
	done    chan struct{}
	http    *http.Client

	stopOnce sync.Once
	stopErr  error
}

// startProc runs bin with env added to the harness's environment and ADMIN_ADDR set to a
// free port, its output going to logPath. Stop must be called.
func startProc(ctx context.Context, name, bin, logPath string, env ...string) (*proc, error) {
	admin, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	procCtx, stop := context.WithCancel(ctx)
	cmd := exec.CommandContext(procCtx, bin)
	cmd.Env = append(append(os.Environ(), "ADMIN_ADDR="+admin), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the harness dies without stopping it (SIGKILL, SIGQUIT), the process gets SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// Stopping is SIGTERM, the binaries' graceful shutdown; SIGKILL if it is not done soon.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		stop()
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, admin: admin, logPath: logPath, stop: stop, done: make(chan struct{}),
		http: &http.Client{Timeout: 5 * time.Second}}
	go func() { // ends when the process does; Stop waits for it
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id, for memory and CPU readings.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// Stop shuts the process down gracefully and waits for it; it reports an unclean exit.
// Calling it again returns the first call's result.
func (p *proc) Stop() error {
	p.stopOnce.Do(func() {
		p.stop()
		<-p.done
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			p.stopErr = fmt.Errorf("%s exited with %s (log: %s)", p.name, p.cmd.ProcessState, p.logPath)
		}
	})
	return p.stopErr
}

// WaitReady waits until /readyz answers 200.
func (p *proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if benchkit.Ready(ctx, p.http, "http://"+p.admin+"/readyz") {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (log: %s)", p.name, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (log: %s)", p.name, timeout, p.logPath)
		case <-tick.C:
		}
	}
}

// Metrics scrapes the process's /metrics.
func (p *proc) Metrics(ctx context.Context) (metricSet, error) {
	select {
	case <-p.done:
		return nil, fmt.Errorf("%s exited (log: %s)", p.name, p.logPath)
	default:
	}
	return scrape(ctx, p.http, "http://"+p.admin+"/metrics")
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
