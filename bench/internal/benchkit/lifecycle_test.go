package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
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

func TestFinish_WritesTheFiguresAsPNGsNextToTheReportAndLinksThem(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "dispatch.md")
	sample := []time.Duration{time.Millisecond, 2 * time.Millisecond, 40 * time.Millisecond}
	err := Finish(context.Background(), slog.New(slog.DiscardHandler), Outcome{
		Cleanup: func(context.Context) error { return nil },
		Out:     out,
		Report:  func(w io.Writer) { fmt.Fprint(w, "## report\n\n") },
		Figures: func() []Figure {
			return []Figure{
				{Name: "latency", Plot: LatencyCDF("latency", Series{Name: "a", Sample: sample}, Series{Name: "empty"})},
				{Name: "nothing", Plot: LatencyCDF("nothing measured", Series{Name: "empty"})},
				{Name: "drain", Plot: OverTime("drain", "events/s", true, Line{Name: "events", Points: []Point{
					{0, 0}, {time.Second, 1000}, {2 * time.Second, 3000},
				}})},
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dispatch-latency.png", "dispatch-nothing.png", "dispatch-drain.png"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s is not a PNG: %v", name, err)
		}
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "## report\n\n\n### Plots\n\n![dispatch-latency](dispatch-latency.png)\n\n![dispatch-nothing](dispatch-nothing.png)\n\n![dispatch-drain](dispatch-drain.png)\n\n"
	if string(got) != want {
		t.Errorf("report = %q, want %q", got, want)
	}
}
