#!/usr/bin/env bash
# Loopback load on each server variant: requests per second (wrk, 1 thread,
# 32 connections, 5 s) and the server's CPU time per request (from
# /proc/PID/stat). Needs wrk (Debian package `wrk`). Only 127.0.0.1 is used.
#
# VARIANTS (default: all) picks variants by name. ROUNDS (default 3)
# rounds, each running every variant once in turn; the table gives each
# variant's median over the rounds, and the ratio of its median requests per
# second to bare axum's (bare_axum_root's for variants that start traces). wrk shares the machine's cores
# with the server, so single runs move by 10-20 %.
#
# LOAD_BINS="A B" compares builds: each round runs every variant of each
# binary in turn (built with `cargo bench -p o11y-http --bench load_server
# --no-run` and copied aside), and the rows are named variant@1, variant@2,
# each compared with the bare row of its own binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo bench -p o11y-http --bench load_server --no-run >/dev/null 2>&1
bins=${LOAD_BINS:-$(ls -t target/release/deps/load_server-* | grep -v '\.d$' | head -n1)}
nbins=$(echo "$bins" | wc -w)
port=18089
rounds=${ROUNDS:-3}
tick_us=$((1000000 / $(getconf CLK_TCK)))
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# User time alone: the layers' own work (the kernel's network path, most of
# the total and most of its noise, is in system time).
ucpu() { awk '{ print $14 }' "/proc/$1/stat"; }
# Variants whose requests start traces (no traceparent); they compare with
# bare_axum_root, which serves the same requests.
root() { case $1 in *_root | *_root_* | *_10pct_* | *_unsampled) return 0 ;; *) return 1 ;; esac; }
# PIN=1 runs the server on CPU 1 and wrk on CPU 0 (less noise from the
# scheduler moving them onto one core).
pin_server=; pin_client=
if [ "${PIN:-0}" = 1 ]; then pin_server="taskset -c 1"; pin_client="taskset -c 0"; fi
script=$(mktemp)
results=$(mktemp)
cat >"$script" <<'LUA'
wrk.headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LUA
# A row's name: the variant's, with the binary's number when there are several.
name() { if [ "$nbins" = 1 ]; then echo "$1"; else echo "$1@$2"; fi; }
variants=${VARIANTS:-"bare_axum bare_axum_root bare_axum_root_header bare_axum_root_layered o11y_server_layer o11y_server_layer_all_features o11y_server_layer_10pct_sampled o11y_server_layer_10pct_own_provider o11y_server_layer_unsampled raw_sdk_span tower_http_trace_layer axum_tracing_opentelemetry opentelemetry_instrumentation_tower"}
# Each round starts one variant further along the list, so that noise that
# comes back at a steady period (a neighbour's job) does not keep hitting
# the same variants.
count=$(echo $variants | wc -w)
# Every server (a variant of a binary) starts once, on a port of its own,
# and stays up, idle but for its turns: each round loads each server in
# turn for SECONDS_PER_RUN seconds. Without a start and a warm-up per run,
# more and shorter runs fit in the same time, and a change in the machine's
# speed over a round falls on the variants more evenly.
declare -A pids ports
servers=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$script" "$results"
}
trap cleanup EXIT
next_port=$port
for v in $variants; do
  i=0
  for bin in $bins; do
    i=$((i + 1))
    key="$v@$i"
    $pin_server "$bin" "$v" "$next_port" & pids[$key]=$!
    ports[$key]=$next_port
    servers+=("$key")
    next_port=$((next_port + 1))
  done
done
for key in "${servers[@]}"; do
  p=${ports[$key]}
  up=
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "server $key did not start on port $p" >&2; exit 1; }
  s=$script; root "${key%@*}" && s=/dev/null
  $pin_client wrk -t1 -c32 -d1s -s "$s" "http://127.0.0.1:$p/users/42" >/dev/null
done
for round in $(seq "$rounds"); do
  shift_by=$(( (round - 1) % count ))
  order=$(echo $variants | tr ' ' '\n' | awk -v k="$shift_by" -v n="$count" '{ a[NR - 1] = $0 } END { for (i = 0; i < n; i++) print a[(i + k) % n] }')
  for v in $order; do
    i=0
    for bin in $bins; do
      i=$((i + 1))
      key="$v@$i"
      pid=${pids[$key]}
      p=${ports[$key]}
      s=$script; root "$v" && s=/dev/null
      c0=$(cpu $pid); u0=$(ucpu $pid)
      out=$($pin_client wrk -t1 -c32 -d${SECONDS_PER_RUN:-5}s -s "$s" "http://127.0.0.1:$p/users/42")
      c1=$(cpu $pid); u1=$(ucpu $pid)
      reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
      rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
      echo "$(name "$v" "$i") $rps $(echo "($c1 - $c0) * $tick_us / $reqs" | bc -l) $round $(echo "($u1 - $u0) * $tick_us / $reqs" | bc -l)" >>"$results"
    done
  done
done
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
least() { sort -g | head -n1; }
# The median is the figure; the least CPU time over the rounds is printed
# beside it because on a shared virtual machine noise only ever adds time.
# `paired`: the median over the rounds of the variant's CPU time minus its
# bare row's in the same round (minutes apart at most, so that slow changes
# in the machine's load cancel).
paired() {
  awk -v v="$1" -v b="$2" '$1 == b { bare[$4] = $3 } $1 == v { mine[$4] = $3 }
    END { for (r in mine) if (r in bare) print mine[r] - bare[r] }' "$results" | median
}
# `user_added`: the median user CPU time per request minus bare's.
printf '%-36s %10s %12s %12s %10s %12s %10s %10s %10s\n' variant req/s cpu_us/req added_us vs_bare least_cpu_us least_added paired user_added
for i in $(seq "$nbins"); do
  for v0 in $variants; do
    v=$(name "$v0" "$i")
    b=bare_axum; root "$v0" && b=bare_axum_root
    b=$(name "$b" "$i")
    bare_rps=$(awk -v v="$b" '$1 == v { print $2 }' "$results" | median)
    bare_cpu=$(awk -v v="$b" '$1 == v { print $3 }' "$results" | median)
    rps=$(awk -v v="$v" '$1 == v { print $2 }' "$results" | median)
    c=$(awk -v v="$v" '$1 == v { print $3 }' "$results" | median)
    bare_least=$(awk -v v="$b" '$1 == v { print $3 }' "$results" | least)
    l=$(awk -v v="$v" '$1 == v { print $3 }' "$results" | least)
    bare_user=$(awk -v v="$b" '$1 == v { print $5 }' "$results" | median)
    user=$(awk -v v="$v" '$1 == v { print $5 }' "$results" | median)
    printf '%-36s %10.0f %12.2f %12.2f %10.2f %12.2f %10.2f %10.2f %10.2f\n' "$v" "$rps" "$c" "$(echo "$c - $bare_cpu" | bc -l)" "$(echo "$rps / $bare_rps" | bc -l)" "$l" "$(echo "$l - $bare_least" | bc -l)" "$(paired "$v" "$b")" "$(echo "$user - $bare_user" | bc -l)"
  done
done
