"""Golden regression: the `reference` summary at a fixed seed.

The baseline is refreshed only on purpose: `python tests/update_golden.py`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socialcredit import load_scenario, simulate, summary

GOLDEN = Path(__file__).parents[1] / "golden" / "reference_n20000_seed42.json"
SIZE = {"population": 20_000, "days": 365, "seed": 42}


def golden_summary() -> dict:
    return summary(simulate(load_scenario("reference"), **SIZE))


def test_reference_summary_matches_golden():
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = json.loads(json.dumps(golden_summary()))
    assert got.keys() == expected.keys()

    def close(a, b, path=""):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), path
            for k in a:
                close(a[k], b[k], f"{path}.{k}")
        else:
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path

    close(got, expected)
