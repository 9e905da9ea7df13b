"""Replicates (`simulate --seeds K`) and the intervals they report."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

from socialcredit import load_scenario, simulate, summary
from socialcredit.cli import app
from socialcredit.errors import RunConfigError
from socialcredit.experiments._replicates import seed_list
from socialcredit.stats import describe, difference, flatten

runner = CliRunner()


@pytest.fixture(scope="module")
def three_seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "r"
    res = runner.invoke(app, ["simulate", "reference", "-n", "3000", "-d", "30", "-q",
                              "--seeds", "3", "--seed", "11", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_each_seed_is_the_single_run_with_that_seed(three_seeds):
    manifest = json.loads((three_seeds / "run.json").read_text())
    assert manifest["kind"] == "replicates"
    assert manifest["seeds"] == [11, 12, 13]
    for seed in (11, 12, 13):
        single = summary(simulate(load_scenario("reference"), 3000, 30, seed))
        written = json.loads((three_seeds / f"seed-{seed}" / "summary.json").read_text())
        assert written == json.loads(json.dumps(single))


def test_the_summary_is_every_statistics_mean_with_its_t_interval(three_seeds):
    rep = json.loads((three_seeds / "replicates.json").read_text())
    per_seed = {s: flatten(json.loads(
        (three_seeds / f"seed-{s}" / "summary.json").read_text())) for s in (11, 12, 13)}
    mean = flatten(json.loads((three_seeds / "summary.json").read_text()))
    assert rep["level"] == 0.95
    for name, st in rep["statistics"].items():
        values = [per_seed[s][name] for s in (11, 12, 13) if per_seed[s][name] is not None]
        if not values:
            continue
        assert st["mean"] == pytest.approx(np.mean(values), rel=1e-12, abs=1e-15)
        assert mean[name] == pytest.approx(st["mean"], rel=1e-12, abs=1e-15)
        if len(values) > 1 and np.std(values) > 0:
            lo, hi = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                      scale=stats.sem(values))
            assert (st["lo"], st["hi"]) == pytest.approx((lo, hi), rel=1e-9), name
            assert st["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-9)


def test_the_daily_tables_hold_every_seed_and_their_mean(three_seeds):
    seeds = pl.read_parquet(three_seeds / "seeds.parquet")
    assert seeds.height == 3 * 30
    mean = pl.read_parquet(three_seeds / "metrics.parquet")
    assert mean.height == 30
    expect = seeds.group_by("day").agg(pl.col("person_score_mean").mean()).sort("day")
    assert np.allclose(mean["person_score_mean"].to_numpy(),
                       expect["person_score_mean"].to_numpy())


def test_the_replicate_directory_reports_and_is_replaced_whole(three_seeds, tmp_path):
    res = runner.invoke(app, ["report", str(three_seeds)])
    assert res.exit_code == 0, res.output
    assert (three_seeds / "report.html").is_file()
    out = tmp_path / "r"
    res = runner.invoke(app, ["simulate", "reference", "-n", "500", "-d", "5", "-q",
                              "--seed-list", "4,9", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("seed-*")) == ["seed-4", "seed-9"]
    res = runner.invoke(app, ["simulate", "reference", "-n", "500", "-d", "5", "-q",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not list(out.glob("seed-*"))  # a single run replaced the replicates whole


@pytest.mark.parametrize(("args", "words"), [
    (["--seeds", "0"], "--seeds must be between 1"),
    (["--seeds", "2", "--seed-list", "1,2"], "not both"),
    (["--seed-list", "1,x"], "expected integers"),
    (["--seed-list", "3,3"], "listed twice"),
    (["--seeds", "2", "--ledger"], "--ledger"),
])
def test_bad_seed_arguments_fail_cleanly_before_anything_runs(tmp_path, args, words):
    out = tmp_path / "r"
    res = runner.invoke(app, ["simulate", "reference", "-n", "200", "-d", "5", "-q",
                              "--out", str(out), *args])
    assert res.exit_code == 2
    assert words in res.output
    assert not out.exists()


def test_seed_list_rules():
    assert seed_list(5, 3, None) == [5, 6, 7]
    assert seed_list(0, None, "9, 1,4") == [9, 1, 4]
    with pytest.raises(RunConfigError):
        seed_list(2**63 - 1, 2, None)


# --- the intervals themselves: statistical tests with stated tolerances ---------------

def test_the_95_percent_interval_covers_the_true_mean_95_percent_of_the_time():
    # 4,000 samples of 5 normal values: the coverage of a correct t interval is
    # Binomial(4000, 0.95)/4000, whose sd is 0.0034; [0.935, 0.965] is +-4.4 sd.
    rng = np.random.default_rng(20261127)
    hits = 0
    for _ in range(4000):
        d = describe(list(rng.normal(3.0, 2.0, 5)))
        hits += d["lo"] <= 3.0 <= d["hi"]
    assert 0.935 <= hits / 4000 <= 0.965


def test_paired_differences_are_used_for_shared_seeds_and_are_narrower():
    rng = np.random.default_rng(7)
    common = rng.normal(0, 1.0, 10)  # the seed's effect, shared by both arms
    a = {s: 10 + common[s] + rng.normal(0, 0.05) for s in range(10)}
    b = {s: 10.5 + common[s] + rng.normal(0, 0.05) for s in range(10)}
    paired = difference(a, b)
    assert paired["paired"]
    assert paired["n"] == 10
    assert paired["lo"] < 0.5 < paired["hi"]
    welch = difference(a, {s + 100: v for s, v in b.items()})  # no shared seeds
    assert not welch["paired"]
    assert welch["diff"] == pytest.approx(paired["diff"])
    assert (welch["hi"] - welch["lo"]) > 5 * (paired["hi"] - paired["lo"])
    # Welch's interval equals scipy's (unequal variances)
    res = stats.ttest_ind(list(b.values()), list(a.values()), equal_var=False)
    ci = res.confidence_interval(0.95)
    assert (welch["lo"], welch["hi"]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_one_seed_gives_no_interval_and_missing_values_are_left_out():
    assert describe([1.0])["lo"] is None
    assert describe([None, None])["n"] == 0
    assert describe([1.0, None, 3.0])["mean"] == 2.0
    assert difference({1: 1.0}, {2: 2.0}) == {"paired": False, "n": 1, "diff": 1.0,
                                               "lo": None, "hi": None}
