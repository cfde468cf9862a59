package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/worker"
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

// A job older than LOST_JOB_AFTER is failed as lost only once the workers' group has read
// everything enqueued before it with lostMargin to spare: not while Kafka cannot say (which
// is logged), nor while the group has a backlog from before it, nor from just after it
// (within the margin: the job's own record may be in it).
func TestSweepLost_FailsOnlyJobsOlderThanWhatTheWorkersHaveYetToRead(t *testing.T) {
	const after = 40 * time.Millisecond
	ctx := t.Context()
	store := transcript.NewMemory(time.Hour)
	conv := uuid.New()
	if _, err := store.Open(ctx, conv, true, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	job := uuid.New()
	if _, err := store.Accept(ctx, conv, job, "hello"); err != nil {
		t.Fatal(err)
	}
	accepted := time.Now()
	var mu sync.Mutex
	var unread time.Time
	unreadErr := errors.New("no broker answers")
	asked := 0 // how often the sweep asked what the workers have read
	set := func(at time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		unread, unreadErr = at, err
	}
	logged := &proctest.Buffer{}
	sweepCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sweepLost(sweepCtx, lostSweep{
			store: store, after: after, metrics: worker.NewMetrics(prometheus.NewRegistry()),
			log: slog.New(slog.NewTextHandler(logged, nil)),
			unread: func(context.Context) (time.Time, error) {
				mu.Lock()
				defer mu.Unlock()
				asked++
				return unread, unreadErr
			},
		})
	}()
	defer func() { cancel(); <-stopped }()
	// sweeps waits until the sweep has looked twice more (the first may have begun before).
	sweeps := func() {
		t.Helper()
		mu.Lock()
		from := asked
		mu.Unlock()
		kafkatest.Eventually(t, 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return asked >= from+2
		}, func() string { return "the sweep did not look again" })
	}
	outcome := func() string {
		evs, err := store.Events(ctx, conv, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return ""
		}
		return evs[0].Text
	}

	time.Sleep(2 * after) // the job is older than LOST_JOB_AFTER; Kafka does not answer
	sweeps()
	if got := outcome(); got != "" {
		t.Fatalf("failed while Kafka could not say what the workers read: %q", got)
	}
	if !strings.Contains(logged.String(), "cannot tell which jobs the workers have read") {
		t.Fatalf("logged:\n%s\nwant that Kafka cannot say", logged.String())
	}
	for _, backlog := range []time.Time{accepted.Add(-time.Second), accepted.Add(100 * time.Millisecond)} {
		set(backlog, nil)
		sweeps()
		if got := outcome(); got != "" {
			t.Fatalf("failed while the workers had a job of %v to read, %v after this one's: %q", backlog, backlog.Sub(accepted), got)
		}
	}
	set(time.Time{}, nil) // the workers have read everything
	kafkatest.Eventually(t, 5*time.Second, func() bool { return outcome() != "" }, func() string { return "the lost job was not failed" })
	if got, want := outcome(), worker.LostText(after); got != want {
		t.Fatalf("outcome %q, want %q", got, want)
	}
}

// recordingLost is a store of one open job that records what the sweep asks of it.
type recordingLost struct {
	mu        sync.Mutex
	olderThan []time.Duration
	texts     []string
	job       transcript.Job
}

func (r *recordingLost) Lost(_ context.Context, olderThan time.Duration, _ int) ([]transcript.Job, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.olderThan = append(r.olderThan, olderThan)
	if len(r.texts) > 0 {
		return nil, nil
	}
	return []transcript.Job{r.job}, nil
}

func (r *recordingLost) Finish(_ context.Context, conv, job uuid.UUID, _ string, _ transcript.Kind, text string) (transcript.Event, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text)
	return transcript.Event{Conversation: conv, JobID: job, Serial: 2}, true, nil
}

// Behind a backlog, the sweep asks for jobs older than the backlog's oldest by lostMargin,
// and tells their clients LOST_JOB_AFTER, not that age (it said "within 47m13s").
func TestSweepLost_BehindABacklogAsksForOlderJobsAndSaysLostJobAfter(t *testing.T) {
	const after = 30 * time.Minute
	store := &recordingLost{job: transcript.Job{Conversation: uuid.New(), ID: uuid.New(), Sentence: "hello"}}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sweepLost(ctx, lostSweep{
			store: store, after: after, metrics: worker.NewMetrics(prometheus.NewRegistry()), log: slog.New(slog.DiscardHandler),
			unread: func(context.Context) (time.Time, error) { return time.Now().Add(-45 * time.Minute), nil },
		})
	}()
	defer func() { cancel(); <-stopped }()
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.texts) > 0
	}, func() string { return "the sweep recorded nothing" })
	store.mu.Lock()
	defer store.mu.Unlock()
	if got := store.olderThan[0]; got < 46*time.Minute-time.Second || got > 46*time.Minute+time.Second {
		t.Errorf("asked for jobs older than %s, want about 46m (the backlog's 45m and the margin's minute)", got)
	}
	if got, want := store.texts[0], worker.LostText(after); got != want {
		t.Errorf("told %q, want %q", got, want)
	}
}
