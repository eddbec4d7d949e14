#!/usr/bin/env bash
# Instructions per request for each server variant (callgrind, deterministic).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p o11y-http --bench server_instructions --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/server_instructions-* | grep -v '\.d$' | head -n1)
n=${N:-2000}
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | awk '/Collected/ { print $4 }'; }
printf '%-36s %12s\n' variant instr/request
for v in bare_axum o11y_server_layer o11y_server_layer_10pct_sampled raw_sdk_span tower_http_trace_layer axum_tracing_opentelemetry opentelemetry_instrumentation_tower; do
  a=$(count "$v" 0); b=$(count "$v" "$n")
  printf '%-36s %12d\n' "$v" $(( (b - a) / n ))
done
