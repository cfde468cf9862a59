package main

import (
	"strings"
	"testing"
)

func TestParseMetrics_SumsLabelsAndSkipsBuckets(t *testing.T) {
	text := `# HELP worker_jobs_total Jobs ended with a published reply.
# TYPE worker_jobs_total counter
worker_jobs_total{outcome="answered"} 120
worker_jobs_total{outcome="failed"} 3
worker_model_duration_seconds_bucket{le="0.1"} 7
worker_model_duration_seconds_sum 12.5
worker_model_duration_seconds_count 123
frontdoor_rpc_open_streams{procedure="/connectrpc.eliza.v1.ElizaService/QueueConversation"} 10000 1700000000000
go_goroutines 42
label_with_brace{text="a } b"} 1
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := metricSet{
		"worker_jobs_total":                   123,
		"worker_model_duration_seconds_sum":   12.5,
		"worker_model_duration_seconds_count": 123,
		"frontdoor_rpc_open_streams":          10000,
		"go_goroutines":                       42,
		"label_with_brace":                    1,
	}
	if len(m) != len(want) {
		t.Errorf("got %d metrics %v, want %d", len(m), m, len(want))
	}
	for name, v := range want {
		if m[name] != v {
			t.Errorf("%s = %g, want %g", name, m[name], v)
		}
	}
}

func TestParseMetrics_RejectsALineWithoutANumber(t *testing.T) {
	if _, err := parseMetrics(strings.NewReader("go_goroutines lots\n")); err == nil {
		t.Fatal("no error for a value that is not a number")
	}
}

func TestMean_IsTheIntervalsMeanAndZeroWithoutObservations(t *testing.T) {
	before := metricSet{"d_sum": 10, "d_count": 100}
	after := metricSet{"d_sum": 30, "d_count": 200}
	if got := mean(before, after, "d_sum", "d_count"); got != 0.2 {
		t.Errorf("mean = %g, want 0.2", got)
	}
	if got := mean(after, after, "d_sum", "d_count"); got != 0 {
		t.Errorf("mean without observations = %g, want 0", got)
	}
}
