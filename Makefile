# Every target a developer or CI needs. `make help` lists them.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run the front door on :8080 (admin on :9090).
	go run ./cmd/frontdoor

.PHONY: build
build: ## Build every binary into bin/.
	go build -o bin/ ./cmd/...

.PHONY: generate
generate: ## Regenerate Go code from proto/ into internal/gen.
	go tool buf generate

.PHONY: k8s-monitoring
k8s-monitoring: ## Regenerate k8s/monitoring/ (PrometheusRule, dashboard ConfigMap, PodMonitor) from deploy/observability/.
	go run ./deploy/observability/tok8s

.PHONY: web
web: ## Rebuild the chat page: npm ci in web/, its TypeScript from proto/, type check, bundle into internal/webui/dist.
	cd web && npm ci --no-audit --no-fund && npm run generate && npm run check && npm run build

.PHONY: lint
lint: ## gofmt, go vet, buf lint and breaking check, golangci-lint.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go tool buf lint
	@if git rev-parse --verify -q main >/dev/null; then go tool buf breaking --against '.git#branch=main'; fi
	$(GOLANGCI_LINT) run ./...

.PHONY: test
test: stack-up ## Start the local stack if needed, then run every test with the race detector (artifacts, such as the chat page's screenshot, in .artifacts/).
	mkdir -p .artifacts
	go test -race -count=1 -artifacts -outputdir=$(CURDIR)/.artifacts ./...

.PHONY: test-unit
test-unit: ## Run only the tests that need no stack (-short: in-process, kfake, subprocesses without Postgres/Kafka).
	go test -race -short -count=1 ./...

.PHONY: test-faults
test-faults: stack-up ## Break the local stack's parts under load (kill -9, SIGSTOP) and check nothing is lost or done twice (see docs/reliability.md).
	go test -tags faults -count=1 -timeout 30m -v ./faults/

.PHONY: bench-dispatch
bench-dispatch: stack-up ## Benchmark the signal dispatcher on the local stack: latency, backlog throughput, statements; report and plots in bench/results/ (see BENCHMARKS.md).
	mkdir -p bench/results
	go run ./bench/dispatch -out bench/results/dispatch.md -rate 50 -warmup 5s -duration 40s -backlog 100000 -pairs 100 -timeout 9m

.PHONY: bench-llm
bench-llm: stack-up ## Benchmark queued conversations on the local stack: throughput vs ideal, a burst, enqueue latency, resume, what a front door reads, memory per idle stream; report and plots in bench/results/ (see BENCHMARKS.md).
	mkdir -p bench/results
	go run ./bench/llm -out bench/results/llm.md -workers 64 -latency 100ms -conversations 256 -rpm 12000 -rate 1000,300 -streams 200 -resume-events 1000 -resumes 50 -fanout-conversations 60 -fanout-doors 3 -idle-streams 10000 -timeout 9m

.PHONY: bench-enqueue
bench-enqueue: stack-up ## Nine consecutive enqueue-latency runs at 1,000 sentences/s (each with a dispatcher, then alone) after three warm-up runs, every p99 judged against 25 ms; report in bench/results/enqueue.md (see BENCHMARKS.md).
	mkdir -p bench/results
	go run ./bench/llm -only enqueue -rate 1000 -enqueue-runs 9 -enqueue-warmup-runs 3 -out bench/results/enqueue.md -timeout 15m

.PHONY: bench-auth
bench-auth: stack-up ## Benchmark authentication on the local stack: Say with AUTH=required against AUTH=off, revocation reaching two front doors; report and plot in bench/results/ (see BENCHMARKS.md).
	mkdir -p bench/results
	go run ./bench/auth -out bench/results/auth.md -concurrency 32 -duration 10s -rounds 3 -revocations 20 -timeout 5m

.PHONY: profile-dispatch
profile-dispatch: stack-up ## Profile the dispatcher draining a 300,000-event backlog (CPU and allocations, via its admin port's /debug/pprof); report in bench/results/, profiles in bench/results/profiles/.
	mkdir -p bench/results
	go run ./bench/dispatch -out bench/results/profile-dispatch.md -profile bench/results/profiles -profile-seconds 20 -rate 50 -warmup 5s -duration 20s -backlog 300000 -pairs 20 -timeout 9m

.PHONY: profile-frontdoor
profile-frontdoor: stack-up ## Profile the front door under bench-llm's enqueue run at 1,000 sentences/s with a dispatcher answering; report in bench/results/, profiles in bench/results/profiles/.
	mkdir -p bench/results
	go run ./bench/llm -out bench/results/profile-frontdoor.md -profile bench/results/profiles -only enqueue -rate 1000 -workers 64 -streams 200 -timeout 5m

.PHONY: observe
observe: ## Run a Prometheus (with deploy/observability's rules) against the binaries running here; prints its URL.
	bash deploy/observability/observe.sh

.PHONY: stack-up
stack-up: ## Start Postgres, Kafka and Kafka Connect + Debezium locally (idempotent).
	bash deploy/local/stack.sh up

.PHONY: stack-down
stack-down: ## Stop everything stack-up started.
	bash deploy/local/stack.sh down

.PHONY: stack-status
stack-status: ## Show what of the local stack is up.
	bash deploy/local/stack.sh status

.PHONY: tidy
tidy: ## go mod tidy.
	go mod tidy
