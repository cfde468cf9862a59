package worker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/worker"
)

// staleList is a store whose Lost returns what was lost when it was made: jobs that may have
// been answered since, as another replica's sweep or a late worker may have.
type staleList struct {
	*transcript.Memory
	jobs []transcript.Job
}

func (s staleList) Lost(context.Context, time.Duration, int) ([]transcript.Job, error) {
	return s.jobs, nil
}

// A job accepted longer ago than after and still without an outcome gets the lost error,
// once, which its client sees and which frees its slot; one answered in the meantime keeps its
// answer and is not counted.
func TestFailLost_RecordsTheLostErrorForJobsLeftWithoutOutcome(t *testing.T) {
	ctx := t.Context()
	store := transcript.NewMemory(time.Hour)
	conv := uuid.New()
	if _, err := store.Open(ctx, conv, true, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	lost, answered, recent := uuid.New(), uuid.New(), uuid.New()
	for _, job := range []uuid.UUID{lost, answered} {
		if err := store.Reserve(ctx, conv, job, "s "+job.String(), 3); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Accept(ctx, conv, job, "s "+job.String()); err != nil {
			t.Fatal(err)
		}
	}
	const after = 500 * time.Millisecond // the recent job is younger when Lost runs, even on a busy machine
	time.Sleep(2 * after)
	if _, err := store.Accept(ctx, conv, recent, "s "+recent.String()); err != nil {
		t.Fatal(err)
	}
	listed, err := store.Lost(ctx, after, 10)
	if err != nil || len(listed) != 2 {
		t.Fatalf("lost: %v, %v; want the two old jobs", listed, err)
	}
	if _, _, err := store.Finish(ctx, conv, answered, "s "+answered.String(), transcript.Reply, "the answer"); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	var logged bytes.Buffer
	n, err := worker.FailLost(ctx, staleList{store, listed}, after, after, 10, worker.NewMetrics(reg), slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil || n != 2 {
		t.Fatalf("fail lost: %d, %v; want 2 looked at", n, err)
	}
	evs, err := store.Events(ctx, conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, ev := range evs {
		if ev.Kind != transcript.Accepted {
			outcomes = append(outcomes, string(ev.Kind)+": "+ev.Text)
		}
	}
	want := []string{"reply: the answer", "error: " + worker.LostText(after)}
	if strings.Join(outcomes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("outcomes:\n%s\nwant:\n%s", strings.Join(outcomes, "\n"), strings.Join(want, "\n"))
	}
	if got := jobsCounted(t, reg, "lost"); got != 1 {
		t.Errorf("worker_jobs_total{outcome=lost} %v, want 1", got)
	}
	if got := strings.Count(logged.String(), "job lost"); got != 1 || !strings.Contains(logged.String(), lost.String()) {
		t.Errorf("logged:\n%s\nwant one line for job %s", logged.String(), lost)
	}
	// Its slot is free: the conversation holds only the recent job.
	waiting, err := store.Waiting(ctx, conv)
	if err != nil || len(waiting) != 1 || waiting[0] != recent {
		t.Errorf("waiting: %v, %v; want only the recent job %s", waiting, err, recent)
	}
	// Listed, then expired (or refused) before its error was recorded: nobody waits for it.
	gone := transcript.Job{Conversation: uuid.New(), ID: uuid.New(), Sentence: "s"}
	if n, err := worker.FailLost(ctx, staleList{store, []transcript.Job{gone}}, after, after, 10, worker.NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler)); err != nil || n != 1 {
		t.Errorf("a job of a conversation gone: %d, %v; want 1 looked at and no error", n, err)
	}
	if again, err := worker.FailLost(ctx, store, after, after, 10, worker.NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler)); err != nil || again != 0 {
		t.Errorf("a second sweep: %d, %v; want nothing left", again, err)
	}
}

// wakeLost is the in-memory transcript whose first Finish stores its outcome and then fails,
// as pgtranscript's does when the wake-up after the outcome's commit cannot be sent. Later
// calls count.
type wakeLost struct {
	*transcript.Memory
	failed   *atomic.Bool
	finishes *atomic.Int32
}

func (w wakeLost) Finish(ctx context.Context, conv, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error) {
	w.finishes.Add(1)
	ev, recorded, err := w.Memory.Finish(ctx, conv, job, sentence, kind, text)
	if err == nil && w.failed.CompareAndSwap(false, true) {
		return transcript.Event{}, false, errors.New("wake the watchers: connection reset")
	}
	return ev, recorded, err
}

// A sweep whose lost error is stored but whose wake-up failed asks again at once: the next
// sweep would not list the job (it has an outcome), and its watchers would never hear of it.
// It counts the job as lost, once.
func TestFailLost_AFailureStoredWhoseWakeUpFailedIsWokenAndCounted(t *testing.T) {
	ctx := t.Context()
	mem := transcript.NewMemory(time.Hour)
	conv, job := uuid.New(), uuid.New()
	if _, err := mem.Open(ctx, conv, true, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	if err := mem.Reserve(ctx, conv, job, "hello", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Accept(ctx, conv, job, "hello"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	var failed atomic.Bool
	var finishes atomic.Int32
	store := wakeLost{Memory: mem, failed: &failed, finishes: &finishes}
	reg := prometheus.NewRegistry()
	m := worker.NewMetrics(reg)
	if _, err := worker.FailLost(ctx, store, 10*time.Millisecond, time.Minute, 10, m, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("FailLost: %v", err)
	}
	if n := finishes.Load(); n != 2 {
		t.Errorf("Finish called %d times, want 2: the wake-up asked again", n)
	}
	if n := jobsCounted(t, reg, "lost"); n != 1 {
		t.Errorf("jobs counted lost: %v, want 1", n)
	}
}
