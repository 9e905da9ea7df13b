from __future__ import annotations

import os
import shutil
from pathlib import Path

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


CHROMIUM = os.environ.get("SOCIALCREDIT_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (which downloads no browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make browser` installs Debian's")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
