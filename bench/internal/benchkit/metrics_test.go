package benchkit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseMetrics_SumsLabelsAndSkipsBucketsAndComments(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       Metrics
	}{
		{"empty", "", Metrics{}},
		{"comments and blank lines only", "# HELP x A counter.\n\n# TYPE x counter\n   \n", Metrics{}},
		{"plain sample", "go_goroutines 42\n", Metrics{"go_goroutines": 42}},
		{"tab-separated, no final newline", "go_goroutines\t42", Metrics{"go_goroutines": 42}},
		{"labels summed into the name", "worker_jobs_total{outcome=\"answered\"} 120\nworker_jobs_total{outcome=\"failed\"} 3\n",
			Metrics{"worker_jobs_total": 123}},
		{"empty label set", "x{} 2\n", Metrics{"x": 2}},
		{"timestamp ignored", "frontdoor_rpc_open_streams{procedure=\"/a.B/C\"} 10000 1700000000000\n",
			Metrics{"frontdoor_rpc_open_streams": 10000}},
		{"brace in a label value", "label_with_brace{text=\"a } b\"} 1\n", Metrics{"label_with_brace": 1}},
		{"escaped quote in a label value", `x{text="say \"}\" twice",b="c"} 1` + "\n", Metrics{"x": 1}},
		{"histogram: buckets left out, sum and count kept",
			"# TYPE d histogram\nd_bucket{le=\"0.1\"} 7\nd_bucket{le=\"+Inf\"} 9\nd_sum 12.5\nd_count 9\n",
			Metrics{"d_sum": 12.5, "d_count": 9}},
		{"exponent and sign", "a 1.5e3\nb -2\n", Metrics{"a": 1500, "b": -2}},
		{"infinity", "a +Inf\n", Metrics{"a": math.Inf(1)}},
		{"colon in the name", "job:rate5m 3\n", Metrics{"job:rate5m": 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(c.text))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestParseMetrics_ReadsNaN(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader("a NaN\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m["a"]) {
		t.Errorf("a = %g, want NaN", m["a"])
	}
}

func TestParseMetrics_RejectsABadLineNamingIt(t *testing.T) {
	for _, c := range []struct{ name, line, why string }{
		{"value not a number", "go_goroutines lots", `value "lots" is not a number`},
		{"name only", "go_goroutines", "no value"},
		{"labels without a value", `x{a="b"}`, "no value"},
		{"unterminated labels", `x{a="b" 1`, "unterminated labels"},
		{"unterminated quote", `x{a="b} 1`, "unterminated labels"},
		{"no name", `{a="b"} 1`, "is not a metric name"},
		{"name starting with a digit", "1x 1", "is not a metric name"},
		{"name with a dash", "my-metric 1", "is not a metric name"},
		{"timestamp not an integer", "x 1 soon", `timestamp "soon" is not an integer`},
		{"trailing text", "x 1 1700000000000 extra", "more than a value and a timestamp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "# TYPE ok gauge\nok 1\n" + c.line + "\nafter 2\n"
			m, err := ParseMetrics(strings.NewReader(text))
			if err == nil {
				t.Fatalf("no error; got %v", m)
			}
			for _, want := range []string{"line 3", fmt.Sprintf("%q", c.line), c.why} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
		})
	}
}

func TestDeltaAndMean_AreTheIntervalsAndZeroWithoutObservations(t *testing.T) {
	before := Metrics{"d_sum": 10, "d_count": 100, "c": 5}
	after := Metrics{"d_sum": 30, "d_count": 200, "c": 8, "new": 2}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"counter", Delta(before, after, "c"), 3},
		{"counter missing before", Delta(before, after, "new"), 2},
		{"missing in both", Delta(before, after, "none"), 0},
		{"mean", Mean(before, after, "d_sum", "d_count"), 0.2},
		{"mean without observations", Mean(after, after, "d_sum", "d_count"), 0},
		{"mean of a missing histogram", Mean(before, after, "x_sum", "x_count"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
}

func TestScrape_ParsesTheAnswerAndReportsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprint(w, "# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"2\"} 2\n")
		case "/bad":
			fmt.Fprint(w, "x one\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	m, err := Scrape(ctx, srv.Client(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m["x"] != 3 {
		t.Errorf("x = %g, want 3", m["x"])
	}
	for path, want := range map[string]string{"/bad": "line 1", "/missing": "404"} {
		if _, err := Scrape(ctx, srv.Client(), srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("scrape %s: error %v, want one containing %q", path, err, want)
		}
	}
}
