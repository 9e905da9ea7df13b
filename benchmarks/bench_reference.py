"""Speed and memory of the engine on the `reference` workload.

Each configuration runs in a fresh process (after a warm-up that compiles the kernel),
so its peak resident memory is its own. Prints person-days per second and peak memory
per person; `--repeat` runs give the median.

    python benchmarks/bench_reference.py [--only small|large] [--repeat 3] [--threads N]

Targets (issue: core): >= 100 million person-days/s and <= 200 bytes per person at 10 M
persons on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from configurations import CONFIGURATIONS, run_child  # noqa: E402

CHILD = """
import json, sys, time, resource
from socialcredit import load_scenario, simulate
cfg = json.loads(sys.argv[1])
policy = load_scenario(cfg["scenario"])
simulate(policy, population=2000, days=30, seed=0)  # compile / load the kernel cache
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t = time.perf_counter()
run = simulate(policy, population=cfg["population"], days=cfg["days"], seed=cfg["seed"],
               threads=cfg["threads"])
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"wall": wall, "peak": peak, "base": base, "records": run.records,
                  "timings": run.timings}))
"""


def run_one(cfg: dict) -> dict:
    return run_child(CHILD, cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(CONFIGURATIONS))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    for name, cfg in CONFIGURATIONS.items():
        if args.only and name != args.only:
            continue
        cfg = {**cfg, "threads": args.threads}
        results = [run_one(cfg) for _ in range(args.repeat)]
        n, d = cfg["population"], cfg["days"]
        walls = [r["wall"] for r in results]
        wall = statistics.median(walls)
        peak = statistics.median(r["peak"] for r in results)
        extra = statistics.median(r["peak"] - r["base"] for r in results)
        print(f"{name}: reference {n:,} persons x {d} days, {cfg['threads']} threads,"
              f" {args.repeat} run(s)")
        print(f"  wall median {wall:.2f} s (min {min(walls):.2f}, max {max(walls):.2f})")
        print(f"  {n * d / wall / 1e6:,.1f} M person-days/s;"
              f" {results[0]['records'] / wall / 1e6:,.1f} M records/s")
        print(f"  peak RSS {peak / 2**20:,.0f} MiB = {peak / n:,.0f} bytes/person"
              f" ({extra / n:,.0f} bytes/person above the interpreter and compiled kernel)")
        print(f"  phases: {json.dumps({k: round(v, 2) for k, v in results[0]['timings'].items()})}")


if __name__ == "__main__":
    main()
