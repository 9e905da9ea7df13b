"""Benchmark configurations: small and large runs of the fixed `reference` workload, and
how a benchmark runs one configuration in a fresh process."""

import json
import subprocess
import sys

CONFIGURATIONS = {
    "small": {"scenario": "reference", "population": 1_000_000, "days": 365, "seed": 1},
    "large": {"scenario": "reference", "population": 10_000_000, "days": 365, "seed": 1},
}


def run_child(code: str, cfg: dict) -> dict:
    """Run `code` in a fresh Python with the configuration as JSON in argv[1]; its last
    line of output, as JSON (so each run's peak memory is its own)."""
    out = subprocess.run([sys.executable, "-c", code, json.dumps(cfg)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
