#!/usr/bin/env bash
# Instructions per request for each server variant (callgrind, deterministic),
# and what each adds to bare axum serving the same requests: variants whose
# requests start traces (no `traceparent`) compare with bare_axum_root.
#
# MEASURE=cache_lines counts instead the distinct cache lines (code and data)
# a request touches: callgrind's cache simulation with a 512 KiB last-level
# cache (the L2 of this machine's cores), and 1 MiB read between two requests
# so that each starts cold, as under load, where the kernel's network path
# runs between two requests. The counts are last-level misses (instruction
# and data reads and writes) per request; `cache_lines.sh` runs this.
#
# MEASURE=code_lines counts the distinct lines of code a request runs,
# whether or not they would also miss the first-level cache (see below);
# `code_lines.sh` runs this.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -p o11y-http --bench server_instructions --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/server_instructions-* | grep -v '\.d$' | head -n1)
measure=${MEASURE:-instructions}
# Only the requests are counted (see `serve` in server_instructions.rs), not
# the start-up (building providers).
only="--toggle-collect=server_instructions::serve"
case $measure in
  instructions)
    n=${N:-2000}
    unit=instr/request
    count() { valgrind --tool=callgrind "$only" --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | awk '/Collected/ { print $4 }'; }
    ;;
  cache_lines)
    n=${N:-500}
    unit=lines/request
    # First-level caches of 32 KiB; the totals' last-level misses
    # (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw: fields 8 to 10).
    l1=32768,8,64
    misses='$8 + $9 + $10'
    ;;
  code_lines)
    # Every distinct line of code a request runs, however large the
    # first-level cache: first-level caches of 2 KiB hold next to nothing,
    # so each line goes to the last-level cache, where the 1 MiB read
    # between requests leaves none of the last request's. The code a layer
    # adds, in 64-byte lines: what it costs when the kernel's network path
    # and the rest of the server have evicted it, as they do under load.
    n=${N:-500}
    unit=code_lines/request
    l1=2048,2,64
    misses='$8'
    ;;
  *) echo "MEASURE is instructions, cache_lines or code_lines" >&2; exit 2 ;;
esac
if [ "$measure" != instructions ]; then
  export O11Y_BENCH_EVICT=1024
  count() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind "$only" --cache-sim=yes --I1="$l1" --D1="$l1" --LL=524288,8,64 \
      --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
    awk "/^summary:/ { print $misses }" "$out"
    rm -f "$out"
  }
fi
per_request() { local a b; a=$(count "$1" 0); b=$(count "$1" "$n"); echo $(( (b - a) / n )); }
root() { case $1 in *_root | *_root_* | *_10pct_* | *_unsampled) return 0 ;; *) return 1 ;; esac; }
bare=$(per_request bare_axum)
bare_root=$(per_request bare_axum_root)
printf '%-36s %12s %10s\n' variant "$unit" added
printf '%-36s %12d %10s\n' bare_axum "$bare" ""
printf '%-36s %12d %10s\n' bare_axum_root "$bare_root" ""
for v in ${VARIANTS:-bare_axum_root_header bare_axum_root_layered o11y_server_layer o11y_server_layer_all_features o11y_server_layer_10pct_sampled o11y_server_layer_10pct_own_provider o11y_server_layer_unsampled raw_sdk_span tower_http_trace_layer axum_tracing_opentelemetry opentelemetry_instrumentation_tower}; do
  c=$(per_request "$v")
  base=$bare; root "$v" && base=$bare_root
  printf '%-36s %12d %10d\n' "$v" "$c" $((c - base))
done
