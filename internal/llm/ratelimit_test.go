package llm

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func ok(context.Context, Request) (Response, error) { return Response{Text: "ok"}, nil }

func fakeLimit(c *clock, cfg RateLimitConfig) RateLimitConfig {
	cfg.now, cfg.sleep = c.now, c.sleep
	return cfg
}

func TestRateLimit_SpacesCallsAtTheRequestRateAfterAOneSecondBurst(t *testing.T) {
	c := newClock()
	call := Chain(ok, RateLimit(fakeLimit(c, RateLimitConfig{RPM: 600})))
	for range 30 {
		if _, err := call(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	}
	// 600 rpm is 10 per second: a burst of 10, then one every 100ms on the fake clock;
	// each call sleeps only for its own gap, so 20 gaps of 100ms.
	waits := c.waits()
	if len(waits) != 20 {
		t.Fatalf("%d calls waited, want 20 (30 calls, burst 10): %v", len(waits), waits)
	}
	for i, w := range waits {
		if w != 100*time.Millisecond {
			t.Errorf("wait %d = %v, want 100ms", i, w)
		}
	}
	if elapsed := c.now().Sub(newClock().now()); elapsed != 2*time.Second {
		t.Errorf("30 calls took %v of fake time, want 2s", elapsed)
	}
}

func TestRateLimit_OneLimiterIsSharedByEveryCallItWraps(t *testing.T) {
	c := newClock()
	limit := RateLimit(fakeLimit(c, RateLimitConfig{RPM: 60}))
	a, b := Chain(ok, limit), Chain(ok, limit)
	for _, call := range []Call{a, b, a, b} {
		if _, err := call(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	}
	// 60 rpm: burst 1, then one a second, whichever Call is used.
	if w := c.waits(); !slices.Equal(w, []time.Duration{time.Second, time.Second, time.Second}) {
		t.Errorf("waits = %v, want 3 of 1s", w)
	}
}

func TestRateLimit_HoldsCallsFromManyGoroutinesToTheRate(t *testing.T) {
	// Real time: 1200 rpm = 20/s with a burst of 20, so of 30 concurrent calls the k-th
	// (k > 20) cannot start before (k-20)/20 s. The whole test takes about half a second.
	call := Chain(ok, RateLimit(RateLimitConfig{RPM: 1200}))
	start := time.Now()
	var (
		mu     sync.Mutex
		starts []time.Duration
		wg     sync.WaitGroup
	)
	for range 30 {
		wg.Go(func() {
			if _, err := call(context.Background(), Request{}); err != nil {
				t.Error(err)
			}
			mu.Lock()
			starts = append(starts, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(starts)
	const slack = 10 * time.Millisecond
	for k, at := range starts {
		if earliest := time.Duration(k+1-20) * 50 * time.Millisecond; at < earliest-slack {
			t.Errorf("call %d passed at %v, before %v", k+1, at, earliest)
		}
	}
}

func TestRateLimit_TakesEachCallsEstimatedTokens(t *testing.T) {
	c := newClock()
	call := Chain(ok, RateLimit(fakeLimit(c, RateLimitConfig{
		TPM:      6000, // 100 tokens a second, a minute's worth in the bucket
		Estimate: func(Request) int { return 2500 },
	})))
	for range 3 {
		if _, err := call(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	}
	// 5000 of 6000 tokens go at once; the third call needs 1500 more: 15s.
	if w := c.waits(); !slices.Equal(w, []time.Duration{15 * time.Second}) {
		t.Errorf("waits = %v, want [15s]", w)
	}
}

func TestRateLimit_ACallLargerThanTheBucketStillGoes(t *testing.T) {
	c := newClock()
	call := Chain(ok, RateLimit(fakeLimit(c, RateLimitConfig{TPM: 100, Estimate: func(Request) int { return 1000 }})))
	if _, err := call(context.Background(), Request{}); err != nil {
		t.Errorf("err = %v, want the call to take the whole bucket and go", err)
	}
}

func TestRateLimit_ACanceledWaitGivesItsReservationBack(t *testing.T) {
	c := newClock()
	m := newTestMetrics(t)
	cfg := fakeLimit(c, RateLimitConfig{RPM: 60, Metrics: m})
	call := Chain(ok, RateLimit(cfg))
	if _, err := call(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := call(ctx, Request{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The canceled call's slot is free again: the next call waits 1s, not 2s.
	if _, err := call(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	if w := c.waits(); !slices.Equal(w, []time.Duration{time.Second}) {
		t.Errorf("waits = %v, want [1s]", w)
	}
	// The wait given up at once counts as none, not as the second it was to be.
	if n, sum := histogram(t, m.limiterWait); n != 3 || sum != 1 {
		t.Errorf("llm_ratelimit_wait_seconds count %d sum %v, want 3 and 1", n, sum)
	}
}

func TestRateLimit_ZeroLimitsNothing(t *testing.T) {
	c := newClock()
	call := Chain(ok, RateLimit(fakeLimit(c, RateLimitConfig{})))
	for range 100 {
		if _, err := call(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.waits()) != 0 {
		t.Errorf("waited %v", c.waits())
	}
}

func TestRateLimit_RecordsTheWait(t *testing.T) {
	m := newTestMetrics(t)
	c := newClock()
	call := Chain(ok, RateLimit(fakeLimit(c, RateLimitConfig{RPM: 60, Metrics: m})))
	for range 3 {
		if _, err := call(context.Background(), Request{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, sum := histogram(t, m.limiterWait); n != 3 || sum != 2 {
		t.Errorf("llm_ratelimit_wait_seconds count %d sum %v, want 3 and 2", n, sum)
	}
}

func TestEstimateTokens_CountsPromptHistorySentAndAnswer(t *testing.T) {
	cfg := OpenAIConfig{SystemPrompt: "12345678", MaxHistory: 2, MaxCompletionTokens: 100}
	req := Request{Sentence: "abcd", History: []Turn{
		{RoleUser, "not sent because MaxHistory is 2 ......"},
		{RoleUser, "abcdefgh"},
		{RoleAssistant, "abcd"},
	}}
	// (8 + 8 + 4 + 4) bytes / 4 = 6, 4 messages x 4 = 16, answer 100.
	if got := cfg.EstimateTokens(req); got != 122 {
		t.Errorf("EstimateTokens = %d, want 122", got)
	}
	if got := (OpenAIConfig{}).EstimateTokens(Request{}); got < defaultAnswerGuess {
		t.Errorf("default estimate %d leaves no room for the answer", got)
	}
}

// The wait recorded is the whole of it, the time in line behind other calls included: the
// third of three calls at one a second waits a second in line and a second for its own turn.
func TestRateLimit_RecordsTheTimeInLine(t *testing.T) {
	m := newTestMetrics(t)
	call := Chain(ok, RateLimit(RateLimitConfig{RPM: 60, Metrics: m})) // real time: one a second
	if _, err := call(context.Background(), Request{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := call(context.Background(), Request{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, sum := histogram(t, m.limiterWait); n != 3 || sum < 2.8 {
		t.Errorf("llm_ratelimit_wait_seconds count %d sum %v, want 3 and about 3 (1 s, and 1 s in line and 1 s)", n, sum)
	}
}
