"""Sweep throughput against single-run throughput (issue: experiments).

    python benchmarks/bench_sweep.py [--runs 16] [--persons 20000] [--days 365]
                                     [--repeat 3] [--ray]

For runs of `--persons` x `--days` of `reference`, measures, each `--repeat` times
(alternating, medians reported):
- one run in process with 1 thread and with all cores (the engine's own throughput,
  kernels already compiled);
- a sweep of `--runs` runs (one parameter over `--runs` values, one seed) on the local
  executor with 1 worker and with all cores as workers, from the command's start to its
  end: the pool's start, every run, the tables and the report;
- with `--ray`, the same sweep on a local Ray instance (its start included).
Prints person-days per second for each (a sweep's whole command, and between its first
and last result: the workers' steady rate), the sweep's ratio to (single-run 1-thread
throughput x workers), its fixed costs (start-up to the first result; tables and report
after the last), and its peak resident memory (the parent process) for `--runs` and
4 x `--runs` runs, to show it does not grow with the number of runs.

The issue's target: a sweep approaches single-run throughput x workers; no process start
per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SINGLE = """
import json, sys, time
from socialcredit import load_scenario, simulate
n, d, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
policy = load_scenario("reference")
simulate(policy, population=2000, days=30, seed=0, threads=threads)  # kernels loaded
t = time.perf_counter()
simulate(policy, population=n, days=d, seed=1, threads=threads)
print(json.dumps({"wall": time.perf_counter() - t}))
"""

SWEEP = """
import json, resource, sys, time
t = time.perf_counter()
from socialcredit.experiments import sweep
if __name__ == "__main__":
    exp = json.loads(sys.argv[1])
    marks = []
    df = sweep(exp, sys.argv[2], executor=sys.argv[3], workers=int(sys.argv[4]),
               progress=lambda done, total: marks.append((done, time.perf_counter() - t)))
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    first = next(m for m in marks if m[0] >= 1)
    print(json.dumps({"wall": wall, "runs": df.height, "peak": peak,
                      "first": first[1], "last": marks[-1][1],
                      "engine": float(df["seconds"].sum())}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def experiment(runs: int, persons: int, days: int) -> dict:
    values = [round(0.5 * k / runs, 6) for k in range(runs)]  # distinct, all valid
    return {"experiment": {"name": "bench", "policy": "reference", "population": persons,
                           "days": days, "seeds": 1},
            "parameters": {"channels.camera.misattribution": values}}


def sweep_once(runs: int, persons: int, days: int, executor: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return _run(SWEEP, json.dumps(experiment(runs, persons, days)),
                    str(Path(tmp) / "out"), executor, str(workers))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ray", action="store_true")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    n, d, runs = args.persons, args.days, args.runs
    pd_run = n * d
    rates: dict[str, list[float]] = {}
    peaks: dict[str, list[int]] = {}
    costs: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, value: float) -> None:
        rates.setdefault(name, []).append(value)

    for _ in range(args.repeat):
        for threads in sorted({1, cores}):
            add(f"single run, {threads} thread(s)",
                pd_run / _run(SINGLE, str(n), str(d), str(threads))["wall"])
        for workers in sorted({1, cores}):
            r = sweep_once(runs, n, d, "local", workers)
            name = f"sweep of {runs}, local, {workers} worker(s)"
            add(name, runs * pd_run / r["wall"])
            add(f"{name}, between its first and last result",
                (runs - 1) * pd_run / (r["last"] - r["first"]))
            costs.setdefault(name, []).append((r["first"], r["wall"] - r["last"]))
            if workers == cores:
                peaks.setdefault(f"{runs} runs", []).append(r["peak"])
        if args.ray:
            r = sweep_once(runs, n, d, "ray", cores)
            name = f"sweep of {runs}, ray (local instance), {cores} worker(s)"
            add(name, runs * pd_run / r["wall"])
            costs.setdefault(name, []).append((r["first"], r["wall"] - r["last"]))
    big = sweep_once(4 * runs, n // 4, d, "local", cores)
    peaks.setdefault(f"{4 * runs} runs (a quarter of the persons)", []).append(big["peak"])
    single1 = statistics.median(rates["single run, 1 thread(s)"])
    print(f"reference, {n:,} persons x {d} days per run; {cores} cores; medians of"
          f" {args.repeat}")
    for name, values in rates.items():
        med = statistics.median(values)
        workers = cores if f"{cores} worker" in name else 1
        ratio = (f"  {med / (single1 * workers):.2f} of single-run (1 thread) x {workers}"
                 if name.startswith("sweep") else "")
        print(f"  {name:<68} {med / 1e6:6.1f} M person-days/s"
              f" (min {min(values) / 1e6:.1f}, max {max(values) / 1e6:.1f}){ratio}")
    for name, pairs in costs.items():
        start = statistics.median(p[0] for p in pairs)
        end = statistics.median(p[1] for p in pairs)
        print(f"  {name}: {start:.1f} s to the first result (start-up), {end:.1f} s after"
              " the last (tables, report)")
    for name, values in peaks.items():
        print(f"  parent peak RSS, {name:<36} {statistics.median(values) / 2**20:8.0f} MiB")


if __name__ == "__main__":
    main()
