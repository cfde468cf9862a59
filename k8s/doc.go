// Package k8s holds the Kubernetes manifests that `skaffold dev` applies to minikube (the
// *.yaml files of this directory) and, in its tests, the static checks that run without a
// cluster: strict decoding of native kinds into the Kubernetes API types, Strimzi resources
// against the Strimzi 1.2.0 CRD schemas, skaffold.yaml against the skaffold v4beta14 schema,
// k8s/monitoring/ (for skaffold's monitoring profile) against deploy/observability/ and the
// Prometheus Operator's API types, and the cross-references between manifests, skaffold.yaml,
// the binaries' environment variables and deploy/local/debezium-connector.json.
//
// There is no Go code to import here; the package exists so `go test ./...` runs the checks.
package k8s
