package benchkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestFinish_CleansUpThenRemovesTheDirAndWritesTheReportAfterASuccess(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.md")
	cleaned := false
	err := Finish(context.Background(), slog.New(slog.DiscardHandler), Outcome{
		Cleanup: func(context.Context) error { cleaned = true; return nil },
		Dir:     work, Out: out,
		Report: func(w io.Writer) { fmt.Fprint(w, "## report\n") },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cleaned {
		t.Error("cleanup not called")
	}
	if _, err := os.Stat(work); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory still there (%v)", err)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != "## report\n" {
		t.Errorf("-out file = %q, %v; want the report", got, err)
	}
}

func TestFinish_CleansUpAndKeepsTheDirAfterAFailure(t *testing.T) {
	work := t.TempDir()
	runErr, cleanErr := errors.New("run failed"), errors.New("cleanup failed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run's context has ended; cleanup still gets time of its own
	err := Finish(ctx, slog.New(slog.DiscardHandler), Outcome{
		Err: runErr,
		Cleanup: func(ctx context.Context) error {
			if ctx.Err() != nil {
				t.Error("cleanup got an ended context")
			}
			return cleanErr
		},
		Dir:    work,
		Report: func(io.Writer) { t.Error("report written after a failure") },
	})
	if !errors.Is(err, runErr) || !errors.Is(err, cleanErr) {
		t.Errorf("error %v, want the run's and the cleanup's", err)
	}
	if _, err := os.Stat(work); err != nil {
		t.Errorf("working directory removed after a failure: %v", err)
	}
}
