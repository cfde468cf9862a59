package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// metricSet is one scrape of a Prometheus text endpoint: each sample's value, summed over its
// labels, by metric name. Histogram buckets are left out; their _sum and _count are kept.
type metricSet map[string]float64

// Metric names the harness reads.
const (
	mOpenStreams  = "frontdoor_rpc_open_streams" // the front door's streams (only QueueConversation here)
	mHeapInuse    = "go_memstats_heap_inuse_bytes"
	mStackInuse   = "go_memstats_stack_inuse_bytes"
	mGoroutines   = "go_goroutines"
	mWorkerJobs   = "worker_jobs_total"
	mModelSum     = "worker_model_duration_seconds_sum"
	mModelCount   = "worker_model_duration_seconds_count"
	mLLMCalls     = "llm_calls_total"
	mLLMCallSum   = "llm_call_duration_seconds_sum"
	mLLMCallCount = "llm_call_duration_seconds_count"
	mRateWaitSum  = "llm_ratelimit_wait_seconds_sum"
	mRateWaitN    = "llm_ratelimit_wait_seconds_count"
	mBusy         = "worker_busy"
	mRetries      = "llm_retries_total"
)

func scrape(ctx context.Context, client *http.Client, url string) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, res.Status)
	}
	m, err := parseMetrics(res.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return m, nil
}

// parseMetrics reads the Prometheus text format, which is all /metrics serves here.
func parseMetrics(r io.Reader) (metricSet, error) {
	m := metricSet{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("metric line %q: unterminated labels", line)
			}
			rest = rest[end+1:]
		}
		if strings.HasSuffix(name, "_bucket") {
			continue
		}
		fields := strings.Fields(rest) // the value, then maybe a timestamp
		if len(fields) == 0 {
			return nil, fmt.Errorf("metric line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		m[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return m, nil
}

// delta returns after − before for name.
func delta(before, after metricSet, name string) float64 { return after[name] - before[name] }

// mean returns the mean of a histogram or summary over the interval between two scrapes, or 0.
func mean(before, after metricSet, sum, count string) float64 {
	n := delta(before, after, count)
	if n <= 0 {
		return 0
	}
	return delta(before, after, sum) / n
}
