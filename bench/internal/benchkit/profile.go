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
