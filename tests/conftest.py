from __future__ import annotations

import pytest

from socialcredit import load_scenario, simulate, summary
from socialcredit.engine._run import RunResult


@pytest.fixture(scope="session")
def reference_policy():
    return load_scenario("reference")


@pytest.fixture(scope="session")
def reference_50k(reference_policy) -> RunResult:
    """The reference at 50,000 persons, one year, seed 20261126 (shared by tests)."""
    return simulate(reference_policy, population=50_000, days=365, seed=20261126)


@pytest.fixture(scope="session")
def reference_50k_summary(reference_50k) -> dict:
    return summary(reference_50k)
