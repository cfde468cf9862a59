package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeRetry returns a RetryConfig on a fake clock whose jitter is the largest value allowed,
// so waits are predictable.
func fakeRetry(c *clock, cfg RetryConfig) RetryConfig {
	cfg.now, cfg.sleep = c.now, c.sleep
	cfg.jitter = func(limit time.Duration) time.Duration { return limit }
	return cfg
}

func TestRetry_RetriesRetryableErrorsUntilAnAnswer(t *testing.T) {
	for _, err := range []error{
		status(500), status(502), status(503),
		fmt.Errorf("%w after 30s: %w", ErrTimeout, context.DeadlineExceeded),
		fmt.Errorf("chat completion: %w: invalid character", ErrMalformedResponse),
		fmt.Errorf("post: %w", syscall.ECONNRESET),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			model := &scripted{errs: []error{err, err}}
			c := newClock()
			resp, gotErr := Chain(model.call, Retry(fakeRetry(c, RetryConfig{})))(context.Background(), Request{Sentence: "hi"})
			if gotErr != nil || resp.Text != "answer to hi" {
				t.Fatalf("got %+v, %v", resp, gotErr)
			}
			if model.count() != 3 {
				t.Errorf("model called %d times, want 3", model.count())
			}
			if w := c.waits(); len(w) != 2 || w[0] != 200*time.Millisecond || w[1] != 400*time.Millisecond {
				t.Errorf("waits = %v, want the backoff bounds [200ms 400ms]", w)
			}
		})
	}
}

// A 429 is waited out longer than other failures: at least half a second, then one, then two,
// doubling up to the cap. With the 200 ms full-jitter backoff, four attempts were spent in
// under a second against a limit of a minute. So it is for one that asks for no wait, or for
// none ("Retry-After: 0", as a proxy passes on an upstream's), or for a few milliseconds
// (OpenAI's x-ratelimit-reset-tokens says when its tokens come back, 6ms say): before, those
// spent a job's attempts as fast.
func TestRetry_WaitsLongerAfterA429ThatAsksForNoWaitOrLessThanTheFloor(t *testing.T) {
	for name, err := range map[string]error{
		"asking nothing": status(429),
		"Retry-After 0":  status(429, "llm_provider-retry-after", "0"),
		"reset in 6ms":   status(429, "x-ratelimit-reset-tokens", "6ms"),
	} {
		t.Run(name, func(t *testing.T) {
			model := &scripted{errs: []error{err, err, err}}
			c := newClock()
			cfg := fakeRetry(c, RetryConfig{})
			cfg.jitter = func(time.Duration) time.Duration { return 0 } // the least it can wait
			if _, err := Chain(model.call, Retry(cfg))(context.Background(), Request{Sentence: "hi"}); err != nil {
				t.Fatal(err)
			}
			if w := c.waits(); !slices.Equal(w, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}) {
				t.Errorf("waits = %v, want at least [500ms 1s 2s]", w)
			}
		})
	}
}

func TestRetry_WaitsAtLeastWhatTheAPIAskedFor(t *testing.T) {
	now := newClock().now()
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"Retry-After 1", status(429, "Retry-After", "1"), time.Second},
		{"Retry-After as date", status(503, "Retry-After", now.Add(3*time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT")), 3 * time.Second},
		{"reset requests", status(429, "x-ratelimit-reset-requests", "6s"), 6 * time.Second},
		{"reset tokens", status(429, "x-ratelimit-reset-tokens", "1.5s"), 1500 * time.Millisecond},
		{"hint shorter than backoff keeps the backoff", status(503, "x-ratelimit-reset-requests", "20ms"), 200 * time.Millisecond},
		{"a 429's hint shorter than the floor keeps the floor", status(429, "x-ratelimit-reset-requests", "20ms"), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := &scripted{errs: []error{tt.err}}
			c := newClock()
			_, err := Chain(model.call, Retry(fakeRetry(c, RetryConfig{})))(context.Background(), Request{})
			if err != nil {
				t.Fatal(err)
			}
			if w := c.waits(); len(w) != 1 || w[0] != tt.want {
				t.Errorf("waits = %v, want [%v]", w, tt.want)
			}
		})
	}
}

func TestRetry_HonoursRetryAfterEvenWhenTheJitterIsSmall(t *testing.T) {
	c := newClock()
	cfg := fakeRetry(c, RetryConfig{})
	cfg.jitter = func(time.Duration) time.Duration { return 0 }
	model := &scripted{errs: []error{status(429, "Retry-After", "2")}}
	if _, err := Chain(model.call, Retry(cfg))(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	if w := c.waits(); len(w) != 1 || w[0] < 2*time.Second {
		t.Errorf("waits = %v, want one of at least 2s", w)
	}
}

func TestRetry_DoesNotRetryPermanentErrors(t *testing.T) {
	for _, err := range []error{status(400), status(401), status(404), errors.New("cannot encode request")} {
		t.Run(err.Error(), func(t *testing.T) {
			model := &scripted{errs: []error{err}}
			c := newClock()
			_, got := Chain(model.call, Retry(fakeRetry(c, RetryConfig{})))(context.Background(), Request{})
			if model.count() != 1 || len(c.waits()) != 0 {
				t.Errorf("model called %d times, waited %v; want one call and no wait", model.count(), c.waits())
			}
			re, ok := errors.AsType[*RetryError](got)
			if !ok || re.Attempts != 1 || re.Exhausted || errors.Is(got, ErrExhausted) {
				t.Errorf("err = %#v, want a RetryError after 1 attempt, not exhausted", got)
			}
			if !errors.Is(got, err) {
				t.Errorf("err = %v does not wrap %v", got, err)
			}
		})
	}
}

func TestRetry_ExhaustsItsAttempts(t *testing.T) {
	model := &scripted{fallback: status(503)}
	c := newClock()
	_, err := Chain(model.call, Retry(fakeRetry(c, RetryConfig{MaxAttempts: 5, Base: 100 * time.Millisecond, Cap: 300 * time.Millisecond})))(context.Background(), Request{})
	if model.count() != 5 {
		t.Errorf("model called %d times, want 5", model.count())
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
	if w := c.waits(); fmt.Sprint(w) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v (capped)", w, want)
	}
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "after 5 attempts") {
		t.Errorf("err = %v, want exhausted after 5 attempts", err)
	}
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 503 {
		t.Errorf("last error not reachable: %v", err)
	}
}

func TestRetry_DefaultsToFourAttempts(t *testing.T) {
	model := &scripted{fallback: status(500)}
	_, err := Chain(model.call, Retry(fakeRetry(newClock(), RetryConfig{})))(context.Background(), Request{})
	if re, ok := errors.AsType[*RetryError](err); !ok || re.Attempts != 4 || model.count() != 4 {
		t.Errorf("err = %v after %d calls, want 4 attempts", err, model.count())
	}
}

func TestRetry_FullJitterStaysWithinItsBounds(t *testing.T) {
	cfg := RetryConfig{Base: 100 * time.Millisecond, Cap: time.Second}.withDefaults()
	for n, limit := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		limit *= time.Millisecond
		if got := doubled(cfg.Base, n, cfg.Cap); got != limit {
			t.Errorf("doubled(Base, %d, Cap) = %v, want %v", n, got, limit)
		}
		low, high := limit, time.Duration(0)
		for range 2000 {
			d := fullJitter(limit)
			if d < 0 || d >= limit {
				t.Fatalf("jitter(%v) = %v, outside [0, %v)", limit, d, limit)
			}
			low, high = min(low, d), max(high, d)
		}
		// Full jitter spreads over the whole range, not just near the bound.
		if low > limit/10 || high < limit*9/10 {
			t.Errorf("jitter(%v) spread over [%v, %v], want nearly [0, %v)", limit, low, high, limit)
		}
	}
	if got := doubled(cfg.Base, 200, cfg.Cap); got != time.Second {
		t.Errorf("doubled(Base, 200, Cap) = %v, want the cap (no overflow)", got)
	}
}

func TestRetry_GivesUpWhenTheAPIAsksForTooLongAWait(t *testing.T) {
	// Ten billion seconds, and infinity, are past the longest Duration: before, they wrapped
	// to a negative wait, and the API was called again at once.
	for retryAfter, says := range map[string]string{"120": "asked to wait 2m0s", "10000000000": "asked to wait 2562047h", "inf": "asked to wait 2562047h"} {
		model := &scripted{errs: []error{status(429, "Retry-After", retryAfter)}}
		c := newClock()
		_, err := Chain(model.call, Retry(fakeRetry(c, RetryConfig{MaxWait: time.Minute})))(context.Background(), Request{})
		if model.count() != 1 || len(c.waits()) != 0 {
			t.Errorf("Retry-After %s: model called %d times, waited %v; want no retry", retryAfter, model.count(), c.waits())
		}
		if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), says) {
			t.Errorf("Retry-After %s: err = %v", retryAfter, err)
		}
	}
}

// A proxy's model-level limit asks for a minute (in its llm_provider- form only): the job
// waits it out while its age budget allows, and is told to come back later at once when not.
func TestRetry_AWaitPastTheJobsAgeBudgetEndsItAsUnavailable(t *testing.T) {
	limited := func() *scripted { return &scripted{errs: []error{status(429, "llm_provider-retry-after", "60")}} }
	c := newClock()
	m := newTestMetrics(t)
	cfg := fakeRetry(c, RetryConfig{MaxJobAge: 2 * time.Minute, Metrics: m})

	young := limited()
	if _, err := Chain(young.call, Retry(cfg))(context.Background(), Request{EnqueuedAt: c.now().Add(-30 * time.Second)}); err != nil ||
		young.count() != 2 || c.waits()[0] != time.Minute {
		t.Fatalf("a job 30 s old: %v after %d calls and waits %v; want it answered after the minute asked for", err, young.count(), c.waits())
	}

	old := limited()
	_, err := Chain(old.call, Retry(cfg))(context.Background(), Request{EnqueuedAt: c.now().Add(-90 * time.Second)})
	var ue interface{ UserMessage() string }
	if old.count() != 1 || !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || !strings.Contains(err.Error(), "age budget") {
		t.Fatalf("a job 90 s old of 2m: %v after %d calls; want ErrUnavailable at once, saying why", err, old.count())
	}
	if n := counterValue(t, m.unavailable); n != 1 {
		t.Errorf("llm_jobs_unavailable_total = %v, want 1: the job failed as unavailable", n)
	}
}

// A job past its age budget already (it waited in a backlog) is retried after a short wait the
// API asks for, as after a 429 that asks for none, which the retry would wait as long: only a
// wait longer than the retry's own is refused for the budget. Before, a Retry-After of 1 s
// failed it as unavailable where a bare 429 had it retried and answered.
func TestRetry_AJobPastItsBudgetWaitsOutAShortWaitTheAPIAsksFor(t *testing.T) {
	c := newClock()
	cfg := fakeRetry(c, RetryConfig{MaxJobAge: 20 * time.Second})
	old := Request{EnqueuedAt: c.now().Add(-24 * time.Second)}
	for _, h := range []string{"Retry-After", "llm_provider-retry-after"} {
		short := &scripted{errs: []error{status(429, h, "1")}}
		if _, err := Chain(short.call, Retry(cfg))(context.Background(), old); err != nil || short.count() != 2 {
			t.Errorf("%s: 1 on a job 24 s old of 20 s: %v after %d calls; want it answered after the wait", h, err, short.count())
		}
	}
	if w := c.waits(); !slices.Equal(w, []time.Duration{time.Second, time.Second}) {
		t.Errorf("waits = %v, want the second asked for, each time", w)
	}
	long := &scripted{errs: []error{status(429, "Retry-After", "5")}}
	if _, err := Chain(long.call, Retry(cfg))(context.Background(), old); long.count() != 1 || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Retry-After 5 on a job past its budget: %v after %d calls; want ErrUnavailable at once", err, long.count())
	}
	unavailable := &scripted{errs: []error{status(503, "Retry-After", "1")}}
	if _, err := Chain(unavailable.call, Retry(cfg))(context.Background(), old); unavailable.count() != 1 || !errors.Is(err, ErrUnavailable) {
		t.Errorf("503 with Retry-After 1 on a job past its budget: %v after %d calls; want ErrUnavailable (the retry's own wait is 200 ms)", err, unavailable.count())
	}
}

// LLM_MAX_ATTEMPTS has no upper bound: a 429's floor doubles to the cap and stays there.
// Before, it overflowed from the 35th attempt on (a negative wait, then none).
func TestRetry_ManyAttemptsAfter429sKeepTheCap(t *testing.T) {
	c := newClock()
	cfg := fakeRetry(c, RetryConfig{MaxAttempts: 70})
	cfg.jitter = func(time.Duration) time.Duration { return 0 }
	model := &scripted{fallback: status(429)}
	if _, err := Chain(model.call, Retry(cfg))(context.Background(), Request{}); err == nil {
		t.Fatal("no error after 70 429s")
	}
	w := c.waits()
	if len(w) != 69 {
		t.Fatalf("%d waits, want 69", len(w))
	}
	capped := cfg.withDefaults().Cap / 2
	for i, d := range w[10:] {
		if d != capped {
			t.Fatalf("wait %d = %v, want %v (half the cap, the jitter none)", i+10, d, capped)
		}
	}
}

func TestRetry_LogsEachRetryAtDebug(t *testing.T) {
	var logged strings.Builder
	c := newClock()
	cfg := fakeRetry(c, RetryConfig{Log: slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	model := &scripted{errs: []error{status(429, "Retry-After", "3"), status(500)}}
	if _, err := Chain(model.call, Retry(cfg))(context.Background(), Request{JobID: "j1", ConversationID: "c1"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %q, want a line for each of the two retries", logged.String())
	}
	for i, want := range []string{"attempt=1 of=4 wait=3s error=\"model API answered 429", "attempt=2 of=4 wait=400ms error=\"model API answered 500"} {
		if l := lines[i]; !strings.Contains(l, "level=DEBUG") || !strings.Contains(l, "job=j1 conversation=c1") || !strings.Contains(l, want) {
			t.Errorf("line %d: %s\nwant the job, the conversation and %s", i+1, l, want)
		}
	}
}

func TestRetry_GivesUpWhenTheWaitWouldPassTheCallersDeadline(t *testing.T) {
	model := &scripted{errs: []error{status(429, "Retry-After", "5")}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cfg := RetryConfig{}
	cfg.sleep = func(context.Context, time.Duration) error { t.Error("slept"); return nil }
	_, err := Chain(model.call, Retry(cfg))(ctx, Request{})
	if model.count() != 1 || !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v after %d calls", err, model.count())
	}
}

func TestRetry_StopsWaitingAtOnceWhenTheCallerCancels(t *testing.T) {
	model := &scripted{fallback: status(429, "Retry-After", "30")}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := Chain(model.call, Retry(RetryConfig{}))(ctx, Request{})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %v, want at once after the cancel", took)
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrExhausted) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Status != 429 {
		t.Errorf("last error lost: %v", err)
	}
}

func TestRetry_DoesNotRetryWhenTheCallerHasGoneAway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	model := func(context.Context, Request) (Response, error) {
		cancel()
		return Response{}, status(500)
	}
	_, err := Chain(model, Retry(fakeRetry(newClock(), RetryConfig{})))(ctx, Request{})
	if re, ok := errors.AsType[*RetryError](err); !ok || re.Attempts != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one attempt and the cancellation", err)
	}
}

func TestRetry_PassesUnavailableThroughUntouched(t *testing.T) {
	model := &scripted{errs: []error{status(500), ErrUnavailable}}
	_, err := Chain(model.call, Retry(fakeRetry(newClock(), RetryConfig{})))(context.Background(), Request{})
	if err != ErrUnavailable { //nolint:errorlint // the exact value is the point
		t.Errorf("err = %v, want ErrUnavailable itself", err)
	}
}

func TestRetry_CountsRetriesByReason(t *testing.T) {
	m := newTestMetrics(t)
	model := &scripted{errs: []error{status(429), status(503), ErrTimeout}}
	cfg := fakeRetry(newClock(), RetryConfig{Metrics: m})
	if _, err := Chain(model.call, Retry(cfg))(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	for reason, want := range map[string]float64{"429": 1, "503": 1, "timeout": 1} {
		if got := counterValue(t, m.retries.WithLabelValues(reason)); got != want {
			t.Errorf("llm_retries_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
}
