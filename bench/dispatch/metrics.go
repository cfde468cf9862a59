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

// metricSet is one scrape of a Prometheus text endpoint: every sample's value summed over its
// labels, by metric name (histogram buckets left out, their _sum and _count kept).
type metricSet map[string]float64

// Metric names the harness reads from the dispatcher.
const (
	mEvents     = "dispatcher_events_total"
	mCompleted  = "dispatcher_recordings_completed_total"
	mApplySum   = "dispatcher_process_duration_seconds_sum"
	mApplyCount = "dispatcher_process_duration_seconds_count"
	mRetries    = "kafka_consumer_batch_retries_total"
	mDead       = "dispatcher_dead_lettered_total"
	mCPU        = "process_cpu_seconds_total"
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
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 && i < len(name) {
			name = line[:i]
			_, rest, ok = strings.Cut(line[strings.LastIndexByte(line, '}')+1:], " ")
		}
		if !ok || strings.HasSuffix(name, "_bucket") {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		m[name] += v
	}
	return m, sc.Err()
}

// delta returns after − before for name.
func delta(before, after metricSet, name string) float64 { return after[name] - before[name] }
