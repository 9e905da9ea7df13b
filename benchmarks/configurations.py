"""Benchmark configurations: small and large runs of the fixed `reference` workload."""

CONFIGURATIONS = {
    "small": {"scenario": "reference", "population": 1_000_000, "days": 365, "seed": 1},
    "large": {"scenario": "reference", "population": 10_000_000, "days": 365, "seed": 1},
}
