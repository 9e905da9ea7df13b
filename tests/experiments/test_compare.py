"""`compare` of replicate sets as a statistical instrument: arms that differ only by
seed are not told apart, and a large policy effect is, with the interval the page shows
(socialcredit.stats.difference on the seeds' values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialcredit.experiments._replicates import run_replicates
from socialcredit.report import read_run, write_comparison
from socialcredit.report._html import format_difference, format_interval
from socialcredit.scenarios import load_scenario
from socialcredit.stats import difference
from tests.report.test_report import table

PERSONS, DAYS = 5_000, 60
STRICT = {"lists.blacklist.score_below": 960}  # the reference lists below 750


@pytest.fixture(scope="module")
def arms(tmp_path_factory) -> dict[str, Path]:
    """The reference on seeds 0-4 and on seeds 5-9, and a much stricter blacklist on
    seeds 0-4 (the same societies and acts as the first arm: common random numbers)."""
    root = tmp_path_factory.mktemp("arms")
    policy = load_scenario("reference")
    run_replicates(policy, PERSONS, DAYS, range(5), root / "a")
    run_replicates(policy, PERSONS, DAYS, range(5, 10), root / "b")
    run_replicates(policy.with_overrides(STRICT), PERSONS, DAYS, range(5), root / "strict",
                   overrides=STRICT)
    return {k: root / k for k in ("a", "b", "strict")}


def _cell(name: str, d: dict) -> str:
    return (f"{format_difference(name, d['diff'])}"
            f" {format_interval(name, d['lo'], d['hi'], signed=True)}")


def test_arms_that_differ_only_by_seed_are_not_told_apart(arms, tmp_path):
    a, b = read_run(arms["a"]), read_run(arms["b"])
    assert not set(a.seeds) & set(b.seeds)
    diffs = {name: difference(a.by_seed(name), b.by_seed(name)) for name in a.statistics}
    with_interval = {n: d for n, d in diffs.items() if d["lo"] is not None}
    assert len(with_interval) >= 20
    assert not any(d["paired"] for d in with_interval.values())  # Welch: no shared seed
    covers = {n: d["lo"] <= 0 <= d["hi"] for n, d in with_interval.items()}
    # Under the null each 95 % interval covers 0 with probability 0.95, so we expect
    # about one miss in 20 statistics. The seeds are fixed, so the outcome is
    # deterministic (all 27 cover 0 today). The bound, 85 %, leaves room for misses
    # that come together (the statistics are correlated: grades sum to one); it fails
    # when intervals are much too narrow (at half the width, 21 of 27 cover 0). The exact
    # t quantile is checked against scipy in test_replicates.py.
    assert sum(covers.values()) >= 0.85 * len(covers), [n for n, ok in covers.items()
                                                        if not ok]
    for name in ("blacklisted", "mean_score", "grades.B", "false_record_share"):
        assert covers[name], (name, with_interval[name])
    html = write_comparison([arms["a"], arms["b"]], tmp_path / "c.html").read_text(
        encoding="utf-8")
    assert "independent seeds" in html
    stats = table(html, "stats")
    assert stats["blacklisted"][2] == _cell("blacklisted", diffs["blacklisted"])


def test_a_large_policy_effect_is_told_apart_with_paired_seeds(arms, tmp_path):
    a, strict = read_run(arms["a"]), read_run(arms["strict"])
    assert strict.overrides == STRICT
    d = difference(a.by_seed("blacklisted"), strict.by_seed("blacklisted"))
    assert d["paired"]
    assert d["n"] == 5
    # listing everyone below 960 instead of 750 lists a large share more: far more than
    # the spread between seeds, so the interval is well clear of 0
    assert d["lo"] > 0.05
    html = write_comparison([arms["a"], arms["strict"]], tmp_path / "c.html").read_text(
        encoding="utf-8")
    assert "paired over 5 shared seeds (common random numbers)" in html
    stats = table(html, "stats")
    assert stats["blacklisted"][2] == _cell("blacklisted", d)
    assert table(html, "policy-diff")["lists[blacklist].score_below"] == ["750", "960"]
    runs = table(html, "runs-table")
    assert runs[str(arms["strict"])][2] == "lists.blacklist.score_below = 960"
