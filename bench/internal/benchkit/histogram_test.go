package benchkit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestScrapeHistograms_KeysTheSeriesByTheirLabel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# TYPE h histogram
h_bucket{stage="a",le="0.01"} 3
h_bucket{stage="a",le="0.1"} 5
h_bucket{stage="a",le="+Inf"} 6
h_sum{stage="a"} 1
h_count{stage="a"} 6
h_bucket{stage="b",le="0.01"} 0
h_bucket{stage="b",le="0.1"} 0
h_bucket{stage="b",le="+Inf"} 0
h_sum{stage="b"} 0
h_count{stage="b"} 0
# TYPE c counter
c 1
`)
	}))
	defer srv.Close()
	got, err := ScrapeHistograms(context.Background(), srv.Client(), srv.URL, "h", "stage")
	if err != nil {
		t.Fatal(err)
	}
	a := got["a"]
	if len(got) != 2 || fmt.Sprint(a.Bounds) != fmt.Sprint([]float64{0.01, 0.1, math.Inf(1)}) || fmt.Sprint(a.Counts) != "[3 5 6]" {
		t.Fatalf("series: %+v", got)
	}
	if missing, err := ScrapeHistograms(context.Background(), srv.Client(), srv.URL, "nothing", "stage"); err != nil || len(missing) != 0 {
		t.Errorf("a histogram not served: %v, %v; want no series and no error", missing, err)
	}
	if _, err := ScrapeHistograms(context.Background(), srv.Client(), srv.URL, "c", "stage"); err == nil {
		t.Error("a counter read as a histogram: no error")
	}
}

func TestQuantile_InterpolatesWithinTheBucketOfTheObservationsBetweenScrapes(t *testing.T) {
	bounds := []float64{0.01, 0.02, 0.05, math.Inf(1)}
	before := Histogram{Bounds: bounds, Counts: []uint64{90, 95, 100, 100}}
	// Between the scrapes: 90 observations ≤ 10 ms, 0 in (10, 20] ms, 10 in (20, 50] ms.
	after := Histogram{Bounds: bounds, Counts: []uint64{180, 185, 200, 200}}
	cases := []struct {
		q    float64
		want float64
	}{
		{0.5, 0.01 * 50 / 90},
		{0.9, 0.01},
		{0.95, 0.02 + 0.03*5/10},
		{1, 0.05},
	}
	for _, c := range cases {
		got, n, err := Quantile(before, after, c.q)
		if err != nil || n != 100 || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("q %g: %g of %d (%v), want %g of 100", c.q, got, n, err, c.want)
		}
	}
	if got, n, err := Quantile(Histogram{}, Histogram{Bounds: bounds, Counts: []uint64{0, 0, 1, 2}}, 0.99); err != nil || n != 2 || got != 0.05 {
		t.Errorf("past the highest finite bound, from an empty before: %g of %d (%v), want 0.05 of 2", got, n, err)
	}
	if got, n, err := Quantile(after, after, 0.99); err != nil || n != 0 || got != 0 {
		t.Errorf("nothing observed: %g of %d (%v), want 0 of 0", got, n, err)
	}
	if _, _, err := Quantile(Histogram{Bounds: []float64{1, math.Inf(1)}, Counts: []uint64{0, 0}}, after, 0.99); err == nil {
		t.Error("different buckets: no error")
	}
}
