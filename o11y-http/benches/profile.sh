#!/usr/bin/env bash
# Where a variant's server CPU time goes under load, function by function,
# beside a base variant: perf's cpu-clock sampling (a software event, no
# hardware counters needed) of the load_server process while wrk loads it
# on loopback, as load.sh does (1 thread, 32 connections, server and wrk on
# separate CPUs). Prints the microseconds per request each function takes in
# the variant and in the base, and the difference, largest first.
#
#   bash o11y-http/benches/profile.sh VARIANT [BASE]
#
# BASE defaults to bare_axum_root for variants that start traces (see
# load.sh), else bare_axum. Needs perf (Debian: linux-perf) and wrk.
# SECONDS_PER_RUN (default 5) seconds are sampled; TOP (default 40) rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
variant=${1:?usage: profile.sh VARIANT [BASE]}
root() { case $1 in *_root | *_root_* | *_10pct_* | *_unsampled) return 0 ;; *) return 1 ;; esac; }
base=${2:-bare_axum}
root "$variant" && [ -z "${2:-}" ] && base=bare_axum_root
for tool in perf wrk; do
  command -v $tool >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
cargo bench -p o11y-http --bench load_server --no-run >/dev/null 2>&1
bin=$(ls -t target/release/deps/load_server-* | grep -v '\.d$' | head -n1)
port=18091
seconds=${SECONDS_PER_RUN:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/tp.lua" <<'LUA'
wrk.headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
LUA
run() {
  local v=$1 s=$work/tp.lua pid
  root "$v" && s=/dev/null
  taskset -c 1 "$bin" "$v" "$port" & pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  taskset -c 0 wrk -t1 -c32 -d1s -s "$s" "http://127.0.0.1:$port/users/42" >/dev/null
  taskset -c 0 wrk -t1 -c32 -d$((seconds + 2))s -s "$s" "http://127.0.0.1:$port/users/42" >"$work/$v.wrk" &
  local w=$!
  sleep 1
  perf record -q -e cpu-clock -F 5000 -p "$pid" -o "$work/$v.data" -- sleep "$seconds" >/dev/null 2>&1
  wait $w
  kill $pid; wait $pid 2>/dev/null || true
  # Requests per second while sampled, and the share of samples per symbol.
  awk '/Requests\/sec/ { print $2 }' "$work/$v.wrk" >"$work/$v.rps"
  perf script -i "$work/$v.data" -F ip 2>/dev/null | wc -l >"$work/$v.samples"
  perf report -i "$work/$v.data" --no-children --sort sym --stdio 2>/dev/null |
    awk '/^ *[0-9.]+%/ { p = $1; sub("%", "", p); k = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); print p "\t" k " " $0 }' >"$work/$v.syms"
}
run "$base"
run "$variant"
python3 - "$work" "$base" "$variant" "${TOP:-40}" "$seconds" <<'PY'
import sys
work, base, variant = sys.argv[1], sys.argv[2], sys.argv[3]
top, seconds = int(sys.argv[4]), float(sys.argv[5])
def load(v):
    rps = float(open(f"{work}/{v}.rps").read().split()[0])
    # CPU time sampled (5 000 samples a second of CPU), over the requests
    # served meanwhile: the server's CPU time per request; a symbol's share
    # of the samples is its share of that.
    busy = int(open(f"{work}/{v}.samples").read().split()[0]) / 5000
    per_request = busy * 1e6 / (rps * seconds)
    samples = {}
    for line in open(f"{work}/{v}.syms"):
        share, sym = line.rstrip("\n").split("\t", 1)
        samples[sym] = samples.get(sym, 0.0) + float(share) / 100 * per_request
    return rps, samples
rb, b = load(base)
rv, v = load(variant)
def part(d, kernel):
    return sum(t for s, t in d.items() if s.startswith("[k]") == kernel)
for name, rps, d in ((base, rb, b), (variant, rv, v)):
    print(f"{name}: {rps:.0f} req/s, {sum(d.values()):.2f} us/request "
          f"(user {part(d, False):.2f}, kernel {part(d, True):.2f})")
print(f"added: user {part(v, False) - part(b, False):+.2f}, kernel {part(v, True) - part(b, True):+.2f} us/request")
print(f"{'added':>8} {variant[:14]:>14} {base[:14]:>14}  function")
rows = sorted(set(b) | set(v), key=lambda s: -(v.get(s, 0) - b.get(s, 0)))
for s in rows[:top]:
    print(f"{v.get(s, 0) - b.get(s, 0):+8.3f} {v.get(s, 0):14.3f} {b.get(s, 0):14.3f}  {s[:100]}")
PY
