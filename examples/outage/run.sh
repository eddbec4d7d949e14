#!/usr/bin/env bash
# Collector outage benchmark (docs/benchmarks.md, "Collector outage").
#
# For each case (healthy, refused, black-hole, slow) it starts the shop's
# user-service (release build, traces, metrics and logs over OTLP with the
# default queues, export timeout and shutdown deadline) against
# outage-receiver in that mode (refused: nothing listens on the port), loads
# it with wrk, samples the service's resident memory, then sends SIGTERM and
# times the exit. Cases are interleaved, each round in a rotated order, so
# drift of the machine's load hits every case.
#
# Usage: examples/outage/run.sh [CASE...]
# Environment (defaults):
#   DURATION=120s ROUNDS=1 THREADS=1 CONNECTIONS=32 PROTOCOL=grpc
#   SAMPLE_EVERY=5 (seconds between RSS samples) SLOW_MS=2000
#   SERVICE_CPU=0 WRK_CPU=1 (taskset CPU lists; the receiver runs with wrk)
#   METRICS=otlp (or prometheus: metrics on the service's /metrics, where the
#     drop counter o11y_telemetry_dropped is read just before SIGTERM)
#   AUTOGROUP_NICE= (e.g. -10: the nice value of the service's and wrk's
#     scheduling groups, to shield them from other work on the machine)
#   OUT=target/outage-bench/DATE-TIME (per-run files and results.tsv)
set -euo pipefail

cd "$(dirname "$0")/../.."
DURATION=${DURATION:-120s}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
PROTOCOL=${PROTOCOL:-grpc}
SAMPLE_EVERY=${SAMPLE_EVERY:-5}
SLOW_MS=${SLOW_MS:-2000}
SERVICE_CPU=${SERVICE_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
OUT=${OUT:-target/outage-bench/$(date +%Y%m%d-%H%M%S)}
METRICS=${METRICS:-otlp}
AUTOGROUP_NICE=${AUTOGROUP_NICE:-}
SERVICE_PORT=${SERVICE_PORT:-18081}
COLLECTOR_PORT=${COLLECTOR_PORT:-14317}
# The guard's default shutdown deadline (o11y::Builder::shutdown_timeout).
DEADLINE_S=5
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(healthy refused black-hole slow)

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
cargo build --release -q -p shop --no-default-features --bin user-service
cargo build --release -q -p outage
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
[ -s "$RESULTS" ] || printf 'round\tcase\tp50_ms\tp99_ms\trps\trss_start_kb\trss_30s_kb\trss_end_kb\trss_max_kb\texit_s\texit_code\treport_lines\treport_events\tdropped_spans+logs\treceived_spans\tload_before\tload_after\n' >"$RESULTS"

# Milliseconds from a wrk figure such as 812.00us, 1.21ms or 2.03s.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; print n }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# Each of the service, wrk and the receiver runs in its own session
# (setsid), so in its own scheduling group: with the kernel's autogroups, a
# process in the script's session would share one CPU share with wrk.
# AUTOGROUP_NICE applies once the process has its own group (after setsid).
prioritize() {
  [ -n "$AUTOGROUP_NICE" ] || return 0
  local ours
  ours=$(cut -d' ' -f1 /proc/self/autogroup)
  for _ in $(seq 100); do
    [ "$(cut -d' ' -f1 "/proc/$1/autogroup" 2>/dev/null)" != "$ours" ] && break
    sleep 0.01
  done
  echo "$AUTOGROUP_NICE" >"/proc/$1/autogroup"
}

run_case() { # round case
  local round=$1 case=$2 dir=$OUT/$1-$2 receiver="" service sampler
  mkdir -p "$dir"
  case $case in
    healthy|black-hole) setsid taskset -c "$WRK_CPU" "$BIN/outage-receiver" "$case" "127.0.0.1:$COLLECTOR_PORT" >"$dir/receiver.out" 2>"$dir/receiver.err" & receiver=$! ;;
    slow) setsid taskset -c "$WRK_CPU" "$BIN/outage-receiver" slow "127.0.0.1:$COLLECTOR_PORT" "$SLOW_MS" >"$dir/receiver.out" 2>"$dir/receiver.err" & receiver=$! ;;
    refused) ;;
    *) echo "unknown case $case" >&2; return 1 ;;
  esac
  sleep 0.5 # the receiver binds
  PORT=$SERVICE_PORT \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$COLLECTOR_PORT \
    OTEL_EXPORTER_OTLP_PROTOCOL=$PROTOCOL \
    OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=$METRICS OTEL_LOGS_EXPORTER=otlp \
    setsid taskset -c "$SERVICE_CPU" "$BIN/user-service" >/dev/null 2>"$dir/service.err" &
  service=$!
  prioritize "$service"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SERVICE_PORT/health" >/dev/null && break; sleep 0.1; done
  curl -sf -X POST "http://127.0.0.1:$SERVICE_PORT/api/users" -H 'content-type: application/json' \
    -d '{"name":"Ada","email":"ada@example.com"}' >/dev/null
  ( while [ -r "/proc/$service/status" ]; do
      awk '/^VmRSS/ { print $2 }' "/proc/$service/status" 2>/dev/null || true
      sleep "$SAMPLE_EVERY"
    done ) >"$dir/rss.kb" &
  sampler=$!
  local before after
  before=$(load1)
  setsid taskset -c "$WRK_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    "http://127.0.0.1:$SERVICE_PORT/api/users/1" >"$dir/wrk.txt" &
  local wrk=$!
  prioritize "$wrk"
  wait "$wrk"
  after=$(load1)
  kill "$sampler" 2>/dev/null || true
  # CPU per thread (ns on CPU, ns waiting for it, from schedstat).
  for t in "/proc/$service/task/"*; do
    echo "$(cat "$t/comm") $(cut -d' ' -f1-2 "$t/schedstat") $(cat "$t/autogroup" 2>/dev/null || cat "/proc/$service/autogroup")"
  done >"$dir/threads.txt" 2>/dev/null || true
  curl -s "http://127.0.0.1:$SERVICE_PORT/metrics" >"$dir/metrics.txt" || true
  # SIGTERM, then the exit timed against the deadline (SIGKILL after 60 s).
  local start end code
  start=$(date +%s.%N)
  kill -TERM "$service"
  for _ in $(seq 6000); do kill -0 "$service" 2>/dev/null || break; sleep 0.01; done
  kill -KILL "$service" 2>/dev/null || true
  code=0; wait "$service" || code=$?
  end=$(date +%s.%N)
  if [ -n "$receiver" ]; then kill -TERM "$receiver"; wait "$receiver" || true; fi

  local p50 p99 rps rss_start rss_30 rss_end rss_max lines events dropped spans
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$dir/wrk.txt")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$dir/wrk.txt")")
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$dir/wrk.txt")
  rss_start=$(head -1 "$dir/rss.kb")
  rss_30=$(sed -n "$((30 / SAMPLE_EVERY + 1))p" "$dir/rss.kb")
  rss_end=$(tail -1 "$dir/rss.kb")
  rss_max=$(sort -n "$dir/rss.kb" | tail -1)
  # The rate-limited export reports: lines written, and the events they
  # stand for (each line plus the ones it says were held back). Drops: the
  # o11y_telemetry_dropped counter (METRICS=prometheus), spans+logs.
  lines=$(grep -c '^o11y: telemetry export problem' "$dir/service.err" || true)
  events=$({ grep -o '([0-9]* more held back)' "$dir/service.err" || true; } | tr -dc '0-9\n' | awk -v n="$lines" '{ n += $1 } END { print n }')
  dropped=$(awk '/^o11y_telemetry_dropped/ { seen = 1; if (/signal="spans"/) s += $NF; else l += $NF }
    END { print seen ? s "+" l : "-" }' "$dir/metrics.txt")
  spans=$(grep -o '"spans":[0-9]*' "$dir/receiver.out" 2>/dev/null | cut -d: -f2 || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$round" "$case" "$p50" "$p99" "$rps" "$rss_start" "${rss_30:--}" "$rss_end" "$rss_max" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$code" "$lines" "$events" "$dropped" "${spans:--}" \
    "$before" "$after" | tee -a "$RESULTS"
}

n=${#CASES[@]}
for round in $(seq "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    run_case "$round" "${CASES[$(((i + round - 1) % n))]}"
  done
done
echo "results: $RESULTS (shutdown deadline ${DEADLINE_S}s)"
python3 examples/outage/summary.py "$RESULTS"
