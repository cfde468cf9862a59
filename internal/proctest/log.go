package proctest

import (
	"log/slog"
	"sync"
	"testing"
)

// Log returns a logger that writes to t's log (shown when t fails, or with -v) and drops
// what is logged after t has ended. Code a test runs in its own process may log after the
// test is over (a background round nobody waits for), and the testing package must not be
// written to then: the race detector reports it, and a test that ended does not show it.
func Log(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ended = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter passes a logger's lines to its test's log until the test has ended.
type testWriter struct {
	t     *testing.T
	mu    sync.Mutex
	ended bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(string(b[:len(b)-1]))
	}
	return len(b), nil
}
