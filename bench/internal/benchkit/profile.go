package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Profile fetches one of the process's Go profiles from its admin port (/debug/pprof/) and
// writes it to path: kind "profile" is the CPU over the next seconds, "allocs" or "heap" the
// allocations since the process started or live now. It returns once the profile is written.
func (p *Process) Profile(ctx context.Context, kind string, seconds int, path string) error {
	url := "http://" + p.admin + "/debug/pprof/" + kind
	if seconds > 0 {
		url += "?seconds=" + strconv.Itoa(seconds)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Duration(seconds)*time.Second + adminTimeout}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s profile of %s: %w", kind, p.cfg.Name, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s profile of %s: %s: %s", kind, p.cfg.Name, res.Status, strings.TrimSpace(string(body)))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("%s profile of %s: %w", kind, p.cfg.Name, err)
	}
	return f.Close()
}

// PprofTop returns the first n lines of `go tool pprof -top` of the profile at path (profiles
// from /debug/pprof carry their symbols: no binary needed), with pprof's options before it,
// e.g. "-sample_index=alloc_space".
func PprofTop(ctx context.Context, path string, n int, options ...string) (string, error) {
	args := append([]string{"tool", "pprof", "-top", "-nodecount=" + strconv.Itoa(n)}, options...)
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -top %s: %w", path, err)
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// ProfileTop is how many functions of each profile a report shows.
const ProfileTop = 20

// CPUProfile is a CPU profile of a process being taken (StartCPUProfile).
type CPUProfile struct {
	p    *Process
	path string
	done chan error
}

// StartCPUProfile starts fetching p's CPU profile over the next seconds into path, in the
// background.
func (p *Process) StartCPUProfile(ctx context.Context, seconds int, path string) *CPUProfile {
	c := &CPUProfile{p: p, path: path, done: make(chan error, 1)}
	go func() { c.done <- p.Profile(ctx, "profile", seconds, path) }()
	return c
}

// Tops waits for the CPU profile, fetches the process's allocation profile (everything it has
// allocated since it started) into allocsPath, and returns the first ProfileTop entries of
// both: the CPU by flat time, the allocations by bytes.
func (c *CPUProfile) Tops(ctx context.Context, allocsPath string) (cpu, allocs string, err error) {
	if err := <-c.done; err != nil {
		return "", "", err
	}
	if err := c.p.Profile(ctx, "allocs", 0, allocsPath); err != nil {
		return "", "", err
	}
	if cpu, err = PprofTop(ctx, c.path, ProfileTop); err != nil {
		return "", "", err
	}
	allocs, err = PprofTop(ctx, allocsPath, ProfileTop, "-sample_index=alloc_space")
	return cpu, allocs, err
}
