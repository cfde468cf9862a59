package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// writes records every Write it is given.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func newLogger(t *testing.T, w *writes, format string) *slog.Logger {
	t.Helper()
	log, err := New(w, Config{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func TestHold_WritesTheHeldLinesInOneWriteWhenReleased(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			w := &writes{}
			log := newLogger(t, w, format)
			log.Info("before")
			release := Hold(log)
			log.Info("one")
			log.With("partition", 2).Info("two") // a derived logger is held too
			log.Debug("below the level")
			if got := w.all(); len(got) != 1 {
				t.Fatalf("lines were written while held: %q", got)
			}
			release()
			release() // a second call does nothing
			log.Info("after")
			got := w.all()
			if len(got) != 3 {
				t.Fatalf("want 3 writes (before, the held two together, after), got %d: %q", len(got), got)
			}
			held := strings.Split(strings.TrimSuffix(got[1], "\n"), "\n")
			if len(held) != 2 || !strings.Contains(held[0], "one") || !strings.Contains(held[1], "two") || !strings.Contains(held[1], "partition") {
				t.Fatalf("held write: %q", got[1])
			}
			if !strings.Contains(got[2], "after") {
				t.Fatalf("last write: %q", got[2])
			}
		})
	}
}

func TestHold_NestedHoldsWriteWhenTheLastIsReleased(t *testing.T) {
	w := &writes{}
	log := newLogger(t, w, "text")
	outer := Hold(log)
	log.Info("a")
	inner := Hold(log)
	log.Info("b")
	inner()
	if got := w.all(); len(got) != 0 {
		t.Fatalf("written before the outer hold was released: %q", got)
	}
	outer()
	if got := w.all(); len(got) != 1 || strings.Count(got[0], "\n") != 2 {
		t.Fatalf("want both lines in one write, got %q", got)
	}
}

func TestHold_WritesEarlyInOrderPastItsBound(t *testing.T) {
	w := &writes{}
	log := newLogger(t, w, "text")
	release := Hold(log)
	line := strings.Repeat("x", 1000)
	n := 3 * heldBytes / 1000
	for i := range n {
		log.Info(line, "i", i)
	}
	if got := w.all(); len(got) < 2 {
		t.Fatalf("want the held lines written past %d bytes, got %d writes", heldBytes, len(got))
	}
	release()
	var all bytes.Buffer
	for _, c := range w.all() {
		if len(c) > heldBytes+1100 {
			t.Fatalf("a write of %d bytes, past the bound", len(c))
		}
		all.WriteString(c)
	}
	lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("want %d lines, got %d", n, len(lines))
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, " i="+itoa(i)) {
			t.Fatalf("line %d out of order: ...%s", i, l[len(l)-10:])
		}
	}
}

func itoa(i int) string { return slog.IntValue(i).String() }

func TestHold_LinesOfConcurrentLoggersAreNeitherLostNorMixed(t *testing.T) {
	w := &writes{}
	log := newLogger(t, w, "json")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 50 {
				release := Hold(log)
				for i := range 5 {
					log.Info("line", "g", g, "i", i)
				}
				release()
				log.Info("alone", "g", g)
			}
		})
	}
	wg.Wait()
	var lines []string
	for _, c := range w.all() {
		lines = append(lines, strings.Split(strings.TrimSuffix(c, "\n"), "\n")...)
	}
	if len(lines) != 4*50*6 {
		t.Fatalf("want %d lines, got %d", 4*50*6, len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("mixed line: %q", l)
		}
	}
}

func TestHold_DoesNothingForALoggerNotMadeByNew(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	release := Hold(log)
	log.Info("written at once")
	if !strings.Contains(buf.String(), "written at once") {
		t.Fatal("the line was held")
	}
	release()
}

func TestNew_NamesTheVariableThatIsWrong(t *testing.T) {
	if _, err := New(&writes{}, Config{Format: "yaml"}); err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("format: %v", err)
	}
	if _, err := New(&writes{}, Config{Level: "loud"}); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("level: %v", err)
	}
}
