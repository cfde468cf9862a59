// Package observability holds what operators look at, and its tests: Prometheus recording and
// alert rules (rules.yml, unit-tested by promtool with rules_test.yml), a Grafana dashboard
// (dashboard.json, with its provisioning file), and the Prometheus configuration that `make
// observe` runs against the local binaries; tok8s writes the same rules and dashboard as
// Kubernetes objects (k8s/monitoring/). The tests run promtool, and a real Prometheus scraping
// the real binaries on the local stack and a standalone process, so that every rule and every
// panel's query is known to work on the metrics the binaries export.
package observability
