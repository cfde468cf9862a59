package app

import (
	"context"
	"io"
	"log/slog"
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

func TestExpire_ForgetsTheTokenCountsOlderThanTheTTLInBatches(t *testing.T) {
	const ttl = 36 * time.Hour
	f := &forgetter{left: expireBatch + 1, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		expire(ctx, transcript.NewMemory(ttl), f, ttl, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
}
