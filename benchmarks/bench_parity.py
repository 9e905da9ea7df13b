"""Parity at scale: the service against the simulator, every subject, every scenario.

    python benchmarks/bench_parity.py [--scale 10] [--db sqlite|postgresql]

Runs tests/service/test_parity.py with its sizes multiplied by --scale (`make test`
runs it at scale 1: 2,000 persons per scenario, 1,500 restaurants for food-hygiene).
For every built-in scenario it simulates a society, ingests the run into the service,
and compares every subject's state, listing ends, next change, measures, every
service's check decision (children through their guardians) and the public list.
Prints the time each scenario took; exits non-zero if any subject differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    env = {**os.environ, "SOCIALCREDIT_PARITY_SCALE": str(args.scale)}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
         "tests/service/test_parity.py", "-k", args.db],
        cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"parity at scale {args.scale} on {args.db}: {time.perf_counter() - t:.0f} s")
    for line in out.stdout.splitlines():
        if "call" in line or "passed" in line or "failed" in line:
            print(" ", line.strip())
    if out.returncode:
        print(out.stdout[-4000:], out.stderr[-2000:])
        raise SystemExit(out.returncode)


if __name__ == "__main__":
    main()
