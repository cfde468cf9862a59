#!/usr/bin/env bash
# `make observe`: a Prometheus (Debian's package) scraping the binaries running on this
# machine at their default admin ports — frontdoor or standalone :9090, dispatcher :9091,
# headband :9095 — or at OBSERVE_TARGETS (host:port, space- or comma-separated, for replicas
# on other ADMIN_ADDRs), with this folder's rules, its data in .stack/prometheus, listening on
# OBSERVE_ADDR (127.0.0.1:9099). It runs in the foreground until Ctrl-C; point a Grafana at it
# and import dashboard.json.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
DIR="${STACK_DIR:-$REPO_ROOT/.stack}/prometheus"
LISTEN="${OBSERVE_ADDR:-127.0.0.1:9099}"
read -r -a TARGETS <<<"$(echo "${OBSERVE_TARGETS:-127.0.0.1:9090 127.0.0.1:9091 127.0.0.1:9095}" | tr ',' ' ')"
QUOTED=""
for t in "${TARGETS[@]}"; do
  [[ "$t" == *:* ]] || { echo "observe: OBSERVE_TARGETS: \"$t\" is not host:port" >&2; exit 1; }
  QUOTED+="${QUOTED:+, }\"$t\""
done

command -v prometheus >/dev/null 2>&1 || {
  echo "observe: prometheus not found; install Debian's package: apt-get install -y prometheus (make stack-up does)" >&2
  exit 1
}
mkdir -p "$DIR"
cat >"$DIR/prometheus.yml" <<CONFIG
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: ["$HERE/rules.yml"]
scrape_configs:
  - job_name: eventdispatch
    static_configs:
      - targets: [$QUOTED]
CONFIG
echo "observe: Prometheus on http://$LISTEN (alerts: http://$LISTEN/alerts), scraping ${TARGETS[*]}; Ctrl-C stops it"
exec prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/data" --web.listen-address="$LISTEN"
