package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Metrics is one scrape of a Prometheus text endpoint, as ParseMetrics reads it: each
// sample's value summed over its labels, by metric name. A name the scrape did not have reads
// as 0, as a counter of a process that has not counted yet.
type Metrics map[string]float64

// Scrape GETs url (a process's /metrics) with client and parses the answer.
func Scrape(ctx context.Context, client *http.Client, url string) (Metrics, error) {
	var m Metrics
	err := get(ctx, client, url, func(body io.Reader) (err error) {
		m, err = ParseMetrics(body)
		return err
	})
	return m, err
}

// get GETs url with client and hands a 200 answer's body to read; the errors name url.
func get(ctx context.Context, client *http.Client, url string, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape %s: %s", url, res.Status)
	}
	if err := read(res.Body); err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	return nil
}

// Delta returns after − before for name: what a counter counted between two scrapes.
func Delta(before, after Metrics, name string) float64 { return after[name] - before[name] }

// Mean returns the mean observation of a histogram or summary between two scrapes, from its
// sum and count series (e.g. "x_seconds_sum", "x_seconds_count"), or 0 if it observed nothing.
func Mean(before, after Metrics, sum, count string) float64 {
	n := Delta(before, after, count)
	if n <= 0 {
		return 0
	}
	return Delta(before, after, sum) / n
}
