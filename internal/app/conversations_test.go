package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// forgetter is a callCounts that has expireBatch+1 old counts to forget.
type forgetter struct {
	mu    sync.Mutex
	left  int
	asked []time.Duration
	done  chan struct{}
}

func (f *forgetter) ForgetModelCalls(_ context.Context, olderThan time.Duration, batch int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, olderThan)
	n := min(batch, f.left)
	f.left -= n
	if n < batch {
		close(f.done)
	}
	return n, nil
}

// It logs one line for the sweep, with what its batches deleted in all.
func TestExpire_ForgetsTheTokenCountsOlderThanTheTTLInBatches(t *testing.T) {
	const ttl = 36 * time.Hour
	f := &forgetter{left: expireBatch + 1, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	var logged bytes.Buffer // written by the sweep's goroutine, read once it has stopped
	go func() {
		expire(ctx, transcript.NewMemory(ttl), f, ttl, slog.New(slog.NewTextHandler(&logged, nil)))
		close(stopped)
	}()
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep did not forget the old token counts")
	}
	cancel()
	<-stopped
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) != 2 || f.asked[0] != ttl || f.asked[1] != ttl || f.left != 0 {
		t.Errorf("asked %v with %d left, want two batches of counts older than %s, none left", f.asked, f.left, ttl)
	}
	want := fmt.Sprintf(`msg="old token counts deleted" rows=%d batches=2`, expireBatch+1)
	if got := logged.String(); strings.Count(got, "old token counts deleted") != 1 || !strings.Contains(got, want) {
		t.Errorf("logged:\n%s\nwant one line with %s", got, want)
	}
}
