#!/usr/bin/env bash
# Instructions per request for each server variant (callgrind, deterministic),
# and what each adds to bare axum serving the same requests: variants whose
# requests start traces (no `traceparent`) compare with bare_axum_root.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p o11y-http --bench server_instructions --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/server_instructions-* | grep -v '\.d$' | head -n1)
n=${N:-2000}
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | awk '/Collected/ { print $4 }'; }
per_request() { local a b; a=$(count "$1" 0); b=$(count "$1" "$n"); echo $(( (b - a) / n )); }
root() { case $1 in *_root | *_10pct_sampled | *_unsampled) return 0 ;; *) return 1 ;; esac; }
bare=$(per_request bare_axum)
bare_root=$(per_request bare_axum_root)
printf '%-36s %12s %10s\n' variant instr/request added
printf '%-36s %12d %10s\n' bare_axum "$bare" ""
printf '%-36s %12d %10s\n' bare_axum_root "$bare_root" ""
for v in o11y_server_layer o11y_server_layer_10pct_sampled o11y_server_layer_unsampled raw_sdk_span tower_http_trace_layer axum_tracing_opentelemetry opentelemetry_instrumentation_tower; do
  c=$(per_request "$v")
  base=$bare; root "$v" && base=$bare_root
  printf '%-36s %12d %10d\n' "$v" "$c" $((c - base))
done
