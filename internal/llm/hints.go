package llm

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// proxyPrefix is how OpenAI-compatible proxies (LiteLLM) pass on the provider's headers:
// "llm_provider-retry-after", "llm_provider-x-ratelimit-reset-requests", ... A proxy's own
// model-level limit may send only these forms.
const proxyPrefix = "llm_provider-"

// serverWait returns how long the API asked the client to wait before trying again, and
// whether it asked at all. It reads, on any error answer, retry-after-ms (OpenAI's
// millisecond form) and Retry-After (seconds or an HTTP date); and on a 429 also
// x-ratelimit-reset-requests and x-ratelimit-reset-tokens (Go-style durations such as "1s",
// "6m0s", "20ms"). Each is read as sent and behind a proxy's llm_provider- prefix. A reset
// header is skipped when its x-ratelimit-remaining-* companion (of the same form) says that
// limit is not used up: OpenAI sends them on every answer, and the tokens reset of an
// untouched token budget says nothing about when a request may be sent. When several apply,
// the longest wins.
func serverWait(err error, now time.Time) (time.Duration, bool) {
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Header == nil {
		return 0, false
	}
	var wait time.Duration
	found := false
	take := func(d time.Duration, ok bool) {
		if ok {
			found = true
			wait = max(wait, d)
		}
	}
	for _, prefix := range []string{"", proxyPrefix} {
		take(parseRetryAfterMs(se.Header.Get(prefix + "retry-after-ms")))
		take(parseRetryAfter(se.Header.Get(prefix+"Retry-After"), now))
		if se.Status == http.StatusTooManyRequests {
			for _, limit := range []string{"requests", "tokens"} {
				if remaining(se.Header.Get(prefix + "x-ratelimit-remaining-" + limit)) {
					continue
				}
				take(parseReset(se.Header.Get(prefix + "x-ratelimit-reset-" + limit)))
			}
		}
	}
	return wait, found
}

// parseRetryAfter reads Retry-After as delay-seconds (a fraction is accepted) or an
// HTTP date, which is taken relative to now; a date in the past means "now".
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return count(secs, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func parseRetryAfterMs(v string) (time.Duration, bool) {
	ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, false
	}
	return count(ms, time.Millisecond)
}

// parseReset reads an x-ratelimit-reset-* value: a Go-style duration, or bare seconds.
func parseReset(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, true
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, false
	}
	return count(secs, time.Second)
}

// count is n units (a number a header sent) as a Duration. A negative n or NaN asks for
// nothing; an n past the longest Duration (Inf among them) asks for the longest, which no
// retry waits for. Converted as it is, it would wrap to a negative Duration, read as no
// wait at all: an API asking for ten billion seconds would be called again at once.
func count(n float64, unit time.Duration) (time.Duration, bool) {
	switch {
	case math.IsNaN(n) || n < 0:
		return 0, false
	case n >= float64(math.MaxInt64)/float64(unit):
		return math.MaxInt64, true
	}
	return time.Duration(n * float64(unit)), true
}

// remaining reports whether an x-ratelimit-remaining-* value says some budget is left.
func remaining(v string) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return err == nil && n > 0
}
