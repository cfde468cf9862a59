// Command tok8s writes k8s/monitoring/ from deploy/observability/, for clusters that run the
// Prometheus Operator (kube-prometheus-stack): a PrometheusRule holding rules.yml, a ConfigMap
// holding dashboard.json for Grafana's dashboard sidecar, and a PodMonitor that scrapes every
// eventdispatch pod's admin port. deploy/observability/ stays the one source; `make
// k8s-monitoring` runs this, and a test in k8s/ fails when the output is stale.
//
// Usage: go run ./deploy/observability/tok8s [-out DIR] (run from the repository's root).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

func main() {
	src := flag.String("src", "deploy/observability", "the directory holding rules.yml and dashboard.json")
	out := flag.String("out", "k8s/monitoring", "the directory to write the manifests to")
	flag.Parse()
	if err := write(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "tok8s:", err)
		os.Exit(1)
	}
}

// Labels of every object written: kube-prometheus-stack's Prometheus selects rules and pod
// monitors by them once its *SelectorNilUsesHelmValues settings are false (skaffold's
// monitoring profile sets them), and its Grafana sidecar loads ConfigMaps labelled
// grafana_dashboard.
var partOf = map[string]string{"app.kubernetes.io/part-of": "eventdispatch"}

func write(src, out string) error {
	rules, err := os.ReadFile(filepath.Join(src, "rules.yml"))
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := yaml.UnmarshalStrict(rules, &spec); err != nil {
		return fmt.Errorf("rules.yml: %w", err)
	}
	dashboard, err := os.ReadFile(filepath.Join(src, "dashboard.json"))
	if err != nil {
		return err
	}
	if !json.Valid(dashboard) {
		return fmt.Errorf("dashboard.json is not valid JSON")
	}
	files := map[string]any{
		"rules.yaml": object("monitoring.coreos.com/v1", "PrometheusRule", "eventdispatch", nil, map[string]any{"spec": spec}),
		"dashboard.yaml": object("v1", "ConfigMap", "eventdispatch-dashboard", map[string]string{"grafana_dashboard": "1"},
			map[string]any{"data": map[string]string{"eventdispatch.json": string(dashboard)}}),
		"podmonitor.yaml": object("monitoring.coreos.com/v1", "PodMonitor", "eventdispatch", nil, map[string]any{"spec": map[string]any{
			"selector": map[string]any{"matchLabels": partOf},
			"podMetricsEndpoints": []any{map[string]any{
				"port":     "admin",
				"path":     "/metrics",
				"interval": "15s",
			}},
		}}),
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, obj := range files {
		body, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "# Generated from deploy/observability/ by `make k8s-monitoring`: edit the source and run it.\n")
		b.Write(body)
		if err := os.WriteFile(filepath.Join(out, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// object is a Kubernetes object of kind, with partOf's labels and extra ones, and its
// top-level fields (spec or data).
func object(apiVersion, kind, name string, labels map[string]string, fields map[string]any) map[string]any {
	all := map[string]string{}
	for k, v := range partOf {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	obj := map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "labels": all},
	}
	for k, v := range fields {
		obj[k] = v
	}
	return obj
}
