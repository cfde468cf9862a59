package benchkit

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Histogram is one series of a Prometheus histogram at one scrape: Counts[i] observations at
// or below Bounds[i], cumulative, with the +Inf bucket last.
type Histogram struct {
	Bounds []float64
	Counts []uint64
}

// ScrapeHistograms GETs url (a process's /metrics) with client and returns the series of the
// histogram name, keyed by the value of their label (the label's one series when every series
// lacks it: key ""). A histogram the scrape does not have comes back empty, as a histogram of a
// process that has not observed anything yet.
func ScrapeHistograms(ctx context.Context, client *http.Client, url, name, label string) (map[string]Histogram, error) {
	var families map[string]*dto.MetricFamily
	err := get(ctx, client, url, func(body io.Reader) error {
		parser := expfmt.NewTextParser(model.UTF8Validation)
		f, err := parser.TextToMetricFamilies(body)
		families = f
		return err
	})
	if err != nil {
		return nil, err
	}
	series := map[string]Histogram{}
	f, ok := families[name]
	if !ok {
		return series, nil
	}
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			return nil, fmt.Errorf("scrape %s: %s is not a histogram", url, name)
		}
		var key string
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				key = l.GetValue()
			}
		}
		var s Histogram
		for _, b := range h.GetBucket() {
			s.Bounds = append(s.Bounds, b.GetUpperBound())
			s.Counts = append(s.Counts, b.GetCumulativeCount())
		}
		if len(s.Bounds) == 0 || !math.IsInf(s.Bounds[len(s.Bounds)-1], 1) {
			s.Bounds = append(s.Bounds, math.Inf(1))
			s.Counts = append(s.Counts, h.GetSampleCount())
		}
		series[key] = s
	}
	return series, nil
}

// Quantile returns the q-quantile (0 < q ≤ 1) of the observations made between two scrapes of
// one histogram series, and how many there were. Within the bucket that holds it, the value is
// interpolated linearly from the bucket's lower bound (0 for the first), as PromQL's
// histogram_quantile does; in the +Inf bucket it is the highest finite bound, so read the
// result as "at most one bucket's width off". With no observations between them it returns 0,
// 0. An empty before reads as all zeros; the two must have the same buckets.
func Quantile(before, after Histogram, q float64) (float64, uint64, error) {
	if len(before.Bounds) > 0 && !slices.Equal(before.Bounds, after.Bounds) {
		return 0, 0, fmt.Errorf("quantile: the buckets changed between scrapes (%v, then %v)", before.Bounds, after.Bounds)
	}
	delta := func(i int) uint64 {
		if len(before.Counts) == 0 {
			return after.Counts[i]
		}
		return after.Counts[i] - before.Counts[i]
	}
	n := len(after.Counts)
	if n == 0 || delta(n-1) == 0 {
		return 0, 0, nil
	}
	total := delta(n - 1)
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i, upper := range after.Bounds {
		c := delta(i)
		if float64(c) >= rank {
			if math.IsInf(upper, 1) {
				return lower, total, nil
			}
			return lower + (upper-lower)*(rank-float64(below))/float64(c-below), total, nil
		}
		lower, below = upper, c
	}
	return lower, total, nil
}
