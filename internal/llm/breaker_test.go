package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

func TestBreaker_OpensAfterConsecutiveFailuresAndStopsCallingTheModel(t *testing.T) {
	model := &scripted{fallback: status(500)}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 3, Cooldown: time.Minute, MaxJobAge: 50 * time.Millisecond}))
	for range 3 {
		if _, err := call(context.Background(), Request{}); !errors.Is(err, errAPI(500)) {
			t.Fatalf("err = %v, want the model's 500", err)
		}
	}
	start := time.Now()
	_, err := call(context.Background(), Request{EnqueuedAt: time.Now()})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit breaker") || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v, want ErrUnavailable once the job is MaxJobAge old, naming the breaker and its last failure", err)
	}
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Errorf("gave up after %v, want the job to wait until it is 50ms old", took)
	}
	if model.count() != 3 {
		t.Errorf("model called %d times, want 3: an open breaker must not call it", model.count())
	}
}

func TestBreaker_WaitingJobsSucceedOnceItHalfOpensAndTheModelRecovers(t *testing.T) {
	model := &scripted{fallback: status(503)}
	m := newTestMetrics(t)
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 2, Cooldown: 150 * time.Millisecond, Probes: 2, Metrics: m}))
	beforeOpening := time.Now()
	for range 2 {
		_, _ = call(context.Background(), Request{})
	}
	if got := testutil.ToFloat64(m.breakerState); got != 2 {
		t.Fatalf("llm_breaker_state = %v, want 2 (open)", got)
	}
	model.setFallback(nil)

	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := call(context.Background(), Request{Sentence: "hi", EnqueuedAt: time.Now()})
			if err != nil || resp.Text != "answer to hi" {
				t.Errorf("got %+v, %v; want an answer after the breaker half-opens", resp, err)
			}
			if waited := time.Since(beforeOpening); waited < 150*time.Millisecond {
				t.Errorf("answered %v after the breaker opened, before its cool-down", waited)
			}
		})
	}
	wg.Wait()
	if model.count() != 2+6 {
		t.Errorf("model called %d times, want 8 (2 failures, then each waiting job once)", model.count())
	}
	if got := testutil.ToFloat64(m.breakerState); got != 0 {
		t.Errorf("llm_breaker_state = %v, want 0 (closed)", got)
	}
	for _, tr := range [][2]string{{"closed", "open"}, {"open", "half-open"}, {"half-open", "closed"}} {
		if got := testutil.ToFloat64(m.breakerTransitions.WithLabelValues(tr[0], tr[1])); got != 1 {
			t.Errorf("transitions %s→%s = %v, want 1", tr[0], tr[1], got)
		}
	}
}

// The breaker's changes of state are logged, its opening with the failure that opened it: the
// model API's own message, which the jobs it then fails only repeat.
func TestBreaker_LogsItsStatesAndTheFailureThatOpenedIt(t *testing.T) {
	var out proctest.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	model := &scripted{fallback: status(503)}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 2, Cooldown: 50 * time.Millisecond, Log: log}))
	for range 2 {
		_, _ = call(context.Background(), Request{})
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(out.String(), "half-open") },
		func() string { return "not half-open 5s after a cool-down of 50ms; logged:\n" + out.String() })
	got := out.String()
	if !strings.Contains(got, "model circuit breaker opened") || !strings.Contains(got, "last_failure") || !strings.Contains(got, "503") ||
		!strings.Contains(got, "model circuit breaker half-open") {
		t.Fatalf("logged:\n%s\nwant the opening with its last failure (503), then half-open", got)
	}
}

// An open breaker half-opens at the end of its cool-down whether or not a job asks: its gauge,
// which ModelBreakerOpen alerts on, does not stay "open" while the process is idle.
func TestBreaker_HalfOpensAfterItsCooldownWithNoJobCalling(t *testing.T) {
	model := &scripted{fallback: status(503)}
	m := newTestMetrics(t)
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 2, Cooldown: 100 * time.Millisecond, Metrics: m}))
	for range 2 {
		_, _ = call(context.Background(), Request{})
	}
	if got := testutil.ToFloat64(m.breakerState); got != 2 {
		t.Fatalf("llm_breaker_state = %v, want 2 (open)", got)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(m.breakerState) == 1 },
		func() string {
			return fmt.Sprintf("llm_breaker_state = %v after a cool-down of 100ms with no call, want 1 (half-open)", testutil.ToFloat64(m.breakerState))
		})
}

func TestBreaker_JobsOlderThanMaxJobAgeAreUnavailableAtOnce(t *testing.T) {
	model := &scripted{fallback: status(500)}
	m := newTestMetrics(t)
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 1, Cooldown: time.Minute, MaxJobAge: 2 * time.Minute, Metrics: m}))
	_, _ = call(context.Background(), Request{})

	start := time.Now()
	_, err := call(context.Background(), Request{EnqueuedAt: time.Now().Add(-3 * time.Minute)})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %q, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("an old job waited %v", took)
	}
	var ue interface{ UserMessage() string }
	if !errors.As(err, &ue) || ue.UserMessage() != "the assistant is unavailable, please try again later" {
		t.Errorf("ErrUnavailable does not carry its message for the client")
	}
	if got := testutil.ToFloat64(m.unavailable); got != 1 {
		t.Errorf("llm_jobs_unavailable_total = %v, want 1", got)
	}
}

func TestBreaker_PermanentErrorsDoNotOpenIt(t *testing.T) {
	model := &scripted{fallback: status(400)}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 2, MaxJobAge: time.Millisecond}))
	for range 10 {
		if _, err := call(context.Background(), Request{}); !errors.Is(err, errAPI(400)) {
			t.Fatalf("err = %v, want the model's 400", err)
		}
	}
	if model.count() != 10 {
		t.Errorf("model called %d times, want 10: 400s must not open the breaker", model.count())
	}
}

func TestBreaker_APermanentErrorBreaksARunOfFailures(t *testing.T) {
	model := &scripted{errs: []error{status(500), status(401), status(500), status(500)}}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 3, MaxJobAge: time.Millisecond}))
	for range 5 {
		_, _ = call(context.Background(), Request{})
	}
	if model.count() != 5 {
		t.Errorf("model called %d times, want 5: no three retryable failures in a row", model.count())
	}
}

func TestBreaker_CallsTheCallerAbandonedAreNotFailures(t *testing.T) {
	var calls int
	model := func(ctx context.Context, _ Request) (Response, error) {
		calls++
		<-ctx.Done()
		return Response{}, ctx.Err()
	}
	call := Chain(model, Breaker(BreakerConfig{Failures: 2, MaxJobAge: time.Millisecond}))
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		_, err := call(ctx, Request{})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls != 5 {
		t.Errorf("model called %d times, want 5: abandoned calls must not open the breaker", calls)
	}
}

func TestBreaker_AWaitingJobStopsWhenItsContextEnds(t *testing.T) {
	model := &scripted{fallback: status(500)}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 1, Cooldown: time.Minute}))
	_, _ = call(context.Background(), Request{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	start := time.Now()
	_, err := call(ctx, Request{EnqueuedAt: time.Now()})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want the cancellation", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopped after %v", took)
	}
}

// A failed probe opens the breaker again, and its job goes back to waiting rather than fail:
// with the model down for good, it probes once a cool-down and is unavailable at its age.
func TestBreaker_AFailedProbeOpensItAgainAndItsJobWaitsOn(t *testing.T) {
	model := &scripted{fallback: status(500)}
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 1, Cooldown: 50 * time.Millisecond, Probes: 1, MaxJobAge: 175 * time.Millisecond}))
	_, _ = call(context.Background(), Request{})
	start := time.Now()
	_, err := call(context.Background(), Request{EnqueuedAt: start})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable at the job's age, not the probe's 500", err)
	}
	if took := time.Since(start); took < 175*time.Millisecond {
		t.Errorf("unavailable after %v, before the job's age of 175ms", took)
	}
	if n := model.count(); n < 3 {
		t.Errorf("model called %d times, want the first call and a probe per cool-down (3 or more)", n)
	}
}

// poisoned is a model that fails every call for the sentence "poison" with a 500 and answers
// the others, after hold is closed when it is set; calls lists the sentences it was called
// for, in order.
type poisoned struct {
	hold  chan struct{}
	mu    sync.Mutex
	order []string
}

func (p *poisoned) call(_ context.Context, req Request) (Response, error) {
	p.mu.Lock()
	p.order = append(p.order, req.Sentence)
	p.mu.Unlock()
	if req.Sentence == "poison" {
		return Response{}, status(500)
	}
	if p.hold != nil {
		<-p.hold
	}
	return Response{Text: "answer to " + req.Sentence}, nil
}

func (p *poisoned) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.order)
}

// A job whose probe failed does not call the model while another job waits for the breaker
// or calls the model: the other probes first, however long its call takes.
func TestBreaker_AJobWhoseProbeFailedLetsAnotherJobProbeFirst(t *testing.T) {
	const cooldown = 50 * time.Millisecond
	held := make(chan struct{})
	model := &poisoned{hold: held}
	calls := model.calls
	call := Chain(model.call, Breaker(BreakerConfig{Failures: 1, Cooldown: cooldown, Probes: 2, MaxJobAge: time.Minute}))
	_, _ = call(context.Background(), Request{Sentence: "poison"}) // opens it
	poisonCtx, stopPoison := context.WithCancel(context.Background())
	defer stopPoison()
	go func() { _, _ = call(poisonCtx, Request{Sentence: "poison", EnqueuedAt: time.Now()}) }()
	kafkatest.Eventually(t, 5*time.Second, func() bool { return len(calls()) == 2 },
		func() string { return fmt.Sprintf("the model was called for %q, want the poison's probe", calls()) })
	answered := make(chan error, 1)
	go func() {
		_, err := call(context.Background(), Request{Sentence: "hello", EnqueuedAt: time.Now()})
		answered <- err
	}()
	kafkatest.Eventually(t, 5*time.Second, func() bool { return slices.Contains(calls(), "hello") },
		func() string {
			return fmt.Sprintf("the model was called for %q, want the other job let through", calls())
		})
	time.Sleep(4 * cooldown) // half-opens the breaker again, were it open
	if got := calls(); !slices.Equal(got, []string{"poison", "poison", "hello"}) {
		t.Fatalf("the model was called for %q while the other job's call lasted, want the poison's failure and probe, then the other job alone", got)
	}
	close(held)
	if err := <-answered; err != nil {
		t.Fatalf("the other job: %v, want it answered", err)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return len(calls()) == 4 },
		func() string {
			return fmt.Sprintf("the model was called for %q, want the poison to probe again once alone", calls())
		})
}

// A job that the model fails whatever the moment (a proxy's 5xx for one input) opens the
// breaker, and its probe fails: it lets a job that came meanwhile probe first, which the model
// answers, closing the breaker (one probe closes it here), and then spends its own attempts,
// as any job in a closed breaker does. Before, it was a probe of every cool-down and held
// every other job until its own age.
func TestPolicy_AJobTheModelAlwaysFailsDoesNotHoldTheOthersBehindTheBreaker(t *testing.T) {
	const cooldown = 200 * time.Millisecond
	model := &poisoned{}
	calls := model.calls
	call := NewPolicy(model.call, fastPolicy(PolicyConfig{
		MaxAttempts: 3, BreakerFailures: 2, BreakerCooldown: cooldown, BreakerProbes: 1, MaxJobAge: time.Minute, Timeout: -1,
	}), nil)
	poisoned := make(chan error, 1)
	go func() {
		_, err := call(context.Background(), Request{Sentence: "poison", EnqueuedAt: time.Now()})
		poisoned <- err
	}()
	// Two failures open the breaker; the third call is its probe, which fails.
	kafkatest.Eventually(t, 5*time.Second, func() bool { return len(calls()) == 3 },
		func() string {
			return fmt.Sprintf("the model was called for %q, want three calls for the poison", calls())
		})
	start := time.Now()
	resp, err := call(context.Background(), Request{Sentence: "hello", EnqueuedAt: start})
	if err != nil || resp.Text != "answer to hello" {
		t.Fatalf("the other job: %+v, %v; want it answered", resp, err)
	}
	if took := time.Since(start); took > 2*cooldown {
		t.Errorf("the other job was answered after %v, want it to probe at the next half-open (within %v)", took, 2*cooldown)
	}
	select {
	case err := <-poisoned:
		if !errors.Is(err, ErrExhausted) || !errors.Is(err, errAPI(500)) {
			t.Errorf("the poison job ended with %v, want its attempts spent on the model's 500", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poison job did not end once the breaker had closed")
	}
	if got, want := calls(), []string{"poison", "poison", "poison", "hello", "poison"}; !slices.Equal(got, want) {
		t.Errorf("the model was called for %q, want %q", got, want)
	}
}

// With the default three probes to close the breaker, and fewer jobs than that coming in a
// cool-down, a job the model always fails opens the breaker again at each half-open: but only
// after the jobs that came meanwhile have been let through, each answered at the first
// half-open after it came.
func TestPolicy_AJobTheModelAlwaysFailsProbesAfterTheJobsThatCameMeanwhile(t *testing.T) {
	const cooldown = 200 * time.Millisecond
	model := &poisoned{}
	calls := model.calls
	call := NewPolicy(model.call, fastPolicy(PolicyConfig{
		MaxAttempts: 3, BreakerFailures: 2, BreakerCooldown: cooldown, MaxJobAge: 8 * cooldown, Timeout: -1,
	}), nil)
	poisoned := make(chan error, 1)
	go func() {
		_, err := call(context.Background(), Request{Sentence: "poison", EnqueuedAt: time.Now()})
		poisoned <- err
	}()
	for i, sentence := range []string{"hello", "again"} {
		// Its two failures open the breaker and its probe fails (three calls); after the
		// first job, its next probe, after that job's answer, fails again.
		want := 3 + 2*i
		kafkatest.Eventually(t, 5*time.Second, func() bool { return len(calls()) == want },
			func() string { return fmt.Sprintf("the model was called for %q, want %d calls", calls(), want) })
		start := time.Now()
		resp, err := call(context.Background(), Request{Sentence: sentence, EnqueuedAt: start})
		if err != nil || resp.Text != "answer to "+sentence {
			t.Fatalf("job %q: %+v, %v; want it answered", sentence, resp, err)
		}
		if took := time.Since(start); took > 2*cooldown {
			t.Errorf("job %q was answered after %v, want it let through at the next half-open (within %v)", sentence, took, 2*cooldown)
		}
	}
	select {
	case err := <-poisoned:
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("the poison job ended with %v, want it unavailable at its age", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poison job did not end at its age")
	}
	if got := calls(); len(got) < 5 || !slices.Equal(got[:5], []string{"poison", "poison", "poison", "hello", "poison"}) || !slices.Contains(got, "again") {
		t.Errorf("the model was called for %q, want the poison's two failures and probe, the first job, the poison's probe, and the second job later", got)
	}
}

// An outage of three cool-downs: a job queued before it is answered after it. It fails once
// (which opens the breaker), then, with no other job waiting, is the probe of each
// cool-down: had the failed probes cost it attempts, its three would be spent before the
// model came back.
func TestPolicy_AnOutageOfThreeCooldownsFailsNoJob(t *testing.T) {
	model := &scripted{fallback: status(503)}
	cooldown := 100 * time.Millisecond
	call := NewPolicy(model.call, fastPolicy(PolicyConfig{
		MaxAttempts: 3, BreakerFailures: 1, BreakerCooldown: cooldown, BreakerProbes: 1, MaxJobAge: time.Minute, Timeout: -1,
	}), nil)
	go func() {
		time.Sleep(3*cooldown + cooldown/2)
		model.setFallback(nil)
	}()
	resp, err := call(context.Background(), Request{Sentence: "hello", EnqueuedAt: time.Now()})
	if err != nil || resp.Text != "answer to hello" {
		t.Fatalf("a job queued before the outage: %+v, %v; want it answered after the outage", resp, err)
	}
	if n := model.count(); n != 5 {
		t.Errorf("model called %d times, want the failure, three failed probes and the answer", n)
	}
}

// ModelBreakerOpen counts re-openings with increase(), which misses a series' first sample:
// every transition is exported at zero before the breaker makes it.
func TestMetrics_EveryBreakerTransitionIsExportedAtZeroFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	want := `
# HELP llm_breaker_transitions_total Circuit breaker state changes, by the states left and entered (closed, half-open, open).
# TYPE llm_breaker_transitions_total counter
llm_breaker_transitions_total{from="closed",to="open"} 0
llm_breaker_transitions_total{from="half-open",to="closed"} 0
llm_breaker_transitions_total{from="half-open",to="open"} 0
llm_breaker_transitions_total{from="open",to="half-open"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "llm_breaker_transitions_total"); err != nil {
		t.Fatal(err)
	}
}
