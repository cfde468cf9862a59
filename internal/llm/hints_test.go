package llm

import (
	"math"
	"net/http"
	"testing"
	"time"
)

func TestServerWait_ReadsRetryAfterAndRateLimitResets(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		err  error
		want time.Duration
		ok   bool
	}{
		{"Retry-After seconds", status(429, "Retry-After", "1"), time.Second, true},
		{"Retry-After fraction", status(503, "Retry-After", "0.5"), 500 * time.Millisecond, true},
		{"Retry-After HTTP date", status(503, "Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, true},
		{"Retry-After date in the past", status(503, "Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), 0, true},
		{"retry-after-ms", status(429, "retry-after-ms", "250"), 250 * time.Millisecond, true},
		{"reset requests 1s", status(429, "x-ratelimit-reset-requests", "1s"), time.Second, true},
		{"reset requests 20ms", status(429, "x-ratelimit-reset-requests", "20ms"), 20 * time.Millisecond, true},
		{"reset tokens 1.5s", status(429, "x-ratelimit-reset-tokens", "1.5s"), 1500 * time.Millisecond, true},
		{"reset tokens 6m0s", status(429, "x-ratelimit-reset-tokens", "6m0s"), 6 * time.Minute, true},
		{"reset as bare seconds", status(429, "x-ratelimit-reset-requests", "2"), 2 * time.Second, true},
		{"longest wins", status(429, "Retry-After", "1", "x-ratelimit-reset-requests", "2.5s"), 2500 * time.Millisecond, true},
		{
			"reset of a budget not used up is ignored",
			status(429, "x-ratelimit-reset-tokens", "6m0s", "x-ratelimit-remaining-tokens", "4000",
				"x-ratelimit-reset-requests", "3s", "x-ratelimit-remaining-requests", "0"),
			3 * time.Second, true,
		},
		{"proxy retry-after", status(429, "llm_provider-retry-after", "60"), time.Minute, true},
		{"proxy retry-after-ms", status(429, "llm_provider-retry-after-ms", "1500"), 1500 * time.Millisecond, true},
		{"proxy reset requests", status(429, "llm_provider-x-ratelimit-reset-requests", "2s"), 2 * time.Second, true},
		{"proxy reset tokens", status(429, "llm_provider-x-ratelimit-reset-tokens", "750ms"), 750 * time.Millisecond, true},
		{
			"proxy reset of a budget not used up is ignored",
			status(429, "llm_provider-x-ratelimit-reset-tokens", "6m0s", "llm_provider-x-ratelimit-remaining-tokens", "4000"),
			0, false,
		},
		{"proxy and standard forms: longest wins", status(429, "Retry-After", "1", "llm_provider-retry-after", "5"), 5 * time.Second, true},
		{"resets ignored on a 500", status(500, "x-ratelimit-reset-requests", "1s"), 0, false},
		{"garbage ignored", status(429, "Retry-After", "soon", "x-ratelimit-reset-requests", "later"), 0, false},
		{"negative ignored", status(429, "Retry-After", "-3"), 0, false},
		{"NaN ignored", status(429, "Retry-After", "NaN", "retry-after-ms", "nan"), 0, false},
		// Past the longest Duration: the longest, not a wrapped negative (no wait at all).
		{"Retry-After of ten billion seconds", status(503, "Retry-After", "10000000000"), math.MaxInt64, true},
		{"Retry-After infinite", status(503, "Retry-After", "inf"), math.MaxInt64, true},
		{"retry-after-ms past the longest", status(429, "retry-after-ms", "1e17"), math.MaxInt64, true},
		{"reset past the longest", status(429, "x-ratelimit-reset-requests", "1e30"), math.MaxInt64, true},
		{"no headers", status(429), 0, false},
		{"not a status error", ErrTimeout, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := serverWait(tt.err, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("serverWait = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
