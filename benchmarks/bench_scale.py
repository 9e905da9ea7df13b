"""Scale: large societies in bounded memory, shards on workers and on Ray.

Each configuration runs in a fresh process, after a warm-up that loads the kernel
cache, with `subjects=False` (as `socialcredit simulate` runs: no per-subject arrays
kept, one block of the society in memory at a time per process). Prints wall time,
person-days per second and peak resident memory: the process's own, and its worker
processes' largest (`RUSAGE_CHILDREN`; Ray's workers are not its children and are not
counted).

    python benchmarks/bench_scale.py [--only NAME ...] [--repeat K]

Configurations (name: scenario, persons x days, how it runs):
    reference-1m, reference-10m, reference-100m: 365 days, in process, 2 threads
    china-30d: `seed`, 1.4 billion persons x 30 days, in process, 2 threads
    scaling-*: `reference`, 8 M persons (2 blocks) x 100 days: 1 and 2 threads in
      process, 1 and 2 local worker processes, 2 Ray workers (a local instance)
    ray-seed / local-seed: `seed`, 8 M persons x 100 days on 2 Ray workers / in process
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from configurations import run_child  # noqa: E402

CHILD = """
import json, sys, time, resource
from socialcredit import simulate
cfg = json.loads(sys.argv[1])
simulate(cfg["scenario"], population=2000, days=30, seed=0)  # load the kernel cache
t = time.perf_counter()
run = simulate(cfg["scenario"], population=cfg["persons"], days=cfg["days"], seed=1,
               threads=cfg.get("threads"), subjects=False, executor=cfg.get("executor"),
               workers=cfg.get("workers"))
wall = time.perf_counter() - t
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"wall": wall, "peak": me, "worker_peak": kids, "blocks": run.blocks,
                  "records": run.records, "timings": run.timings}))
"""

M = 1_000_000
CONFIGURATIONS = {
    "reference-1m": {"scenario": "reference", "persons": M, "days": 365, "threads": 2},
    "reference-10m": {"scenario": "reference", "persons": 10 * M, "days": 365, "threads": 2},
    "reference-100m": {"scenario": "reference", "persons": 100 * M, "days": 365,
                       "threads": 2},
    "china-30d": {"scenario": "seed", "persons": 1_400 * M, "days": 30, "threads": 2},
    "scaling-1-thread": {"scenario": "reference", "persons": 8 * M, "days": 100,
                         "threads": 1},
    "scaling-2-threads": {"scenario": "reference", "persons": 8 * M, "days": 100,
                          "threads": 2},
    "scaling-1-worker": {"scenario": "reference", "persons": 8 * M, "days": 100,
                         "executor": "local", "workers": 1},
    "scaling-2-workers": {"scenario": "reference", "persons": 8 * M, "days": 100,
                          "executor": "local", "workers": 2},
    "scaling-2-ray": {"scenario": "reference", "persons": 8 * M, "days": 100,
                      "executor": "ray", "workers": 2},
    "local-seed": {"scenario": "seed", "persons": 8 * M, "days": 100, "threads": 2},
    "ray-seed": {"scenario": "seed", "persons": 8 * M, "days": 100, "executor": "ray",
                 "workers": 2},
}


def run_one(cfg: dict) -> dict:
    return run_child(CHILD, cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(CONFIGURATIONS))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    print(f"# {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    for name, cfg in CONFIGURATIONS.items():
        if args.only and name not in args.only:
            continue
        results = [run_one(cfg) for _ in range(args.repeat)]
        wall = statistics.median(r["wall"] for r in results)
        pd = cfg["persons"] * cfg["days"]
        peak = max(r["peak"] for r in results)
        workers = max(r["worker_peak"] for r in results)
        walls = ", ".join(f"{r['wall']:.1f}" for r in results)
        print(f"{name}: {cfg['persons']:,} x {cfg['days']} d, {results[0]['blocks']} blocks,"
              f" {cfg.get('executor') or 'threads'} x {cfg.get('workers') or cfg['threads']}:"
              f" {wall:.1f} s (median of {len(results)};"
              f" {walls}),"
              f" {pd / wall / 1e6:.1f} M person-days/s, peak RSS {peak / 2**20:,.0f} MiB"
              f" ({peak / cfg['persons']:.2f} B/person)"
              + (f", largest worker {workers / 2**20:,.0f} MiB" if workers > 0 else "")
              + f"; {json.dumps({k: round(v, 1) for k, v in results[0]['timings'].items()})}",
              flush=True)


if __name__ == "__main__":
    main()
