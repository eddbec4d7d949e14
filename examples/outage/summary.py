"""The outage benchmark's table (markdown) from run.sh's results.tsv.

Each outage case's latency is compared with the healthy run of the same
round (the cases of a round run back to back); the ratio shown is the
median of those per-round ratios. Usage: python3 summary.py results.tsv
"""

import csv
import statistics
import sys
from collections import defaultdict


def mib(kb):
    return f"{int(kb) / 1024:.1f}" if kb not in ("", "-") else "-"


def main(path):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    healthy = {r["round"]: r for r in rows if r["case"] == "healthy"}
    by_case = defaultdict(list)
    for r in rows:
        by_case[r["case"]].append(r)
    print("| case | runs | p50 ms | p99 ms | p50 / healthy | p99 / healthy | req/s "
          "| RSS MiB start / 30 s / end / max | export reports (events) | dropped spans+logs | exit s (max) | load 1-min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in ["healthy", "refused", "black-hole", "slow"] + sorted(
        set(by_case) - {"healthy", "refused", "black-hole", "slow"}
    ):
        runs = by_case.get(case)
        if not runs:
            continue
        med = lambda key: statistics.median(float(r[key]) for r in runs)
        ratio = lambda key: [
            float(r[key]) / float(healthy[r["round"]][key])
            for r in runs
            if r["round"] in healthy
        ]
        fmt = lambda xs: f"{statistics.median(xs):.3f}" if xs else "-"
        rss = " / ".join(
            "-" if any(r[k] in ("", "-") for r in runs)
            else mib(statistics.median(int(r[k]) for r in runs))
            for k in ["rss_start_kb", "rss_30s_kb", "rss_end_kb", "rss_max_kb"]
        )
        reports = f"{med('report_lines'):.0f} ({med('report_events'):.0f})"
        dropped = " ".join(r["dropped_spans+logs"] for r in runs)
        loads = " ".join(f"{r['load_before']}-{r['load_after']}" for r in runs)
        print(
            f"| {case} | {len(runs)} | {med('p50_ms'):.3f} | {med('p99_ms'):.3f} "
            f"| {fmt(ratio('p50_ms'))} | {fmt(ratio('p99_ms'))} | {med('rps'):.0f} "
            f"| {rss} | {reports} | {dropped} "
            f"| {max(float(r['exit_s']) for r in runs):.2f} | {loads} |"
        )


if __name__ == "__main__":
    main(sys.argv[1])
