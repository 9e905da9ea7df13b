"""Reports and comparisons of replicate directories (`simulate --seeds K`): bands across
seeds on the daily charts, statistics with their 95 % interval, and differences with
intervals (paired over shared seeds, Welch's otherwise, none for two single runs)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from socialcredit.cli import app
from socialcredit.errors import RunOutputError
from socialcredit.report import read_run, write_comparison
from socialcredit.report._html import format_difference, format_interval, format_value
from socialcredit.stats import describe, difference, flatten

from .test_report import runner, simulate, table

N, DAYS = "5000", "60"


def specs(html: str) -> dict:
    return json.loads(re.search(r"const SPECS = (\{.*?\});\n", html, re.S).group(1))


def seed_summaries(run: Path) -> dict[int, dict[str, float | None]]:
    """Each seed's statistics, read from its own run directory (not replicates.json)."""
    seeds = json.loads((run / "run.json").read_text())["seeds"]
    return {s: flatten(json.loads((run / f"seed-{s}" / "summary.json").read_text()))
            for s in seeds}


@pytest.fixture(scope="module")
def reps(tmp_path_factory) -> dict[str, Path]:
    """Replicate sets of 5,000 persons x 60 days: the reference on seeds 0-2 (with its
    report), the reference with a blacklist at a higher score on the same seeds, the
    reference on seeds 10-12, and two single runs."""
    root = tmp_path_factory.mktemp("reps")
    return {
        "ref": simulate(root / "ref", "reference", "-n", N, "-d", DAYS, "--seeds", "3",
                        "--report"),
        "strict": simulate(root / "strict", "reference", "-n", N, "-d", DAYS, "--seeds", "3",
                           "--set", "lists.blacklist.score_below=960"),
        "other": simulate(root / "other", "reference", "-n", N, "-d", DAYS,
                          "--seed-list", "10,11,12"),
        "one": simulate(root / "one", "reference", "-n", N, "-d", DAYS, "-s", "0"),
        "one_b": simulate(root / "one_b", "reference", "-n", N, "-d", DAYS, "-s", "1"),
    }


def test_read_run_of_a_replicate_directory(reps):
    run = read_run(reps["ref"])
    assert run.seeds == (0, 1, 2)
    assert run.replicated
    rep = json.loads((reps["ref"] / "replicates.json").read_text())
    assert run.by_seed("blacklisted") == {
        int(s): v for s, v in rep["statistics"]["blacklisted"]["by_seed"].items()}
    # each seed's daily metrics, from seeds.parquet, with that seed's own sizes
    table_ = pq.read_table(reps["ref"] / "seeds.parquet").to_pydict()
    for k, seed_run in enumerate(run.seed_runs):
        rows = [i for i, s in enumerate(table_["seed"]) if s == k]
        assert seed_run.metrics["person_list_blacklist"] == [
            table_["person_list_blacklist"][i] for i in rows]
        own = json.loads((reps["ref"] / f"seed-{k}" / "run.json").read_text())
        assert seed_run.manifest["adults"] == own["adults"]


def test_a_single_run_is_a_set_of_one_seed(reps):
    run = read_run(reps["one"])
    assert run.seeds == (0,)
    assert not run.replicated
    assert run.seed_runs == (run,)
    stat = run.statistics["blacklisted"]
    assert stat["n"] == 1
    assert stat["lo"] is None
    assert stat["by_seed"] == {0: run.summary["blacklisted"]}


def test_report_draws_bands_from_the_lowest_to_the_highest_seed(reps):
    html = (reps["ref"] / "report.html").read_text(encoding="utf-8")
    s = specs(html)
    daily = pq.read_table(reps["ref"] / "seeds.parquet").to_pandas()
    adults = {k: json.loads((reps["ref"] / f"seed-{k}" / "run.json").read_text())["adults"]
              for k in range(3)}
    daily["blacklist_share"] = daily["person_list_blacklist"] / daily["seed"].map(adults)
    for key, column, series in (("sanctions", "in_force_no_flights", "no_flights"),
                                ("list_sizes", "blacklist_share", "blacklist")):
        spec = s[key]
        band, line = spec["layer"]
        assert band["mark"]["type"] == "area"
        assert line["mark"]["type"] == "line"
        assert band["encoding"]["y"]["field"] == "_lo"
        assert band["encoding"]["y2"]["field"] == "_hi"
        rows = spec["data"]["values"]
        # the series may be drawn with others equal to it ("a = b")
        label = next(n for n in line["transform"][0]["fold"] if series in n.split(" = "))
        by_day = daily.groupby("day")[column]
        lo, hi, mean = by_day.min(), by_day.max(), by_day.mean()
        got_lo = np.array([r[f"_lo {label}"] for r in rows])
        got_hi = np.array([r[f"_hi {label}"] for r in rows])
        got_mean = np.array([r[label] for r in rows])
        assert len(rows) == int(DAYS)
        # values are rounded to six significant digits for the page
        np.testing.assert_allclose(got_lo, lo.to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(got_hi, hi.to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(got_mean, mean.to_numpy(), rtol=1e-5)
        assert (got_hi > got_lo).any()  # the seeds differ: a band, not a line
    assert "lowest to the highest value among the seeds" in html
    assert "the mean over 3 seeds" in html
    # the score chart: a band of the median across seeds
    med = daily.groupby("day")["person_score_p50"]
    score_rows = s["score_bands"]["data"]["values"]
    assert [r["p50_lo"] for r in score_rows] == med.min().tolist()
    assert [r["p50_hi"] for r in score_rows] == med.max().tolist()


def test_single_run_report_has_no_bands(reps, tmp_path):
    from socialcredit.report import write_report

    html = write_report(reps["one"]).read_text(encoding="utf-8")
    s = specs(html)
    assert "layer" not in s["sanctions"]
    assert "_lo " not in json.dumps(s)
    assert "among the seeds" not in html


def test_statistics_show_the_mean_and_its_95_interval(reps):
    html = (reps["ref"] / "report.html").read_text(encoding="utf-8")
    stats = table(html, "stats")
    assert stats["key"] == ["ref (3 seeds)"]
    by_seed = seed_summaries(reps["ref"])
    for name in ("blacklisted", "mean_score", "grades.A", "records_per_adult.volunteering",
                 "mean_tax_multiplier"):
        d = describe([flat[name] for flat in by_seed.values()])
        assert d["n"] == 3
        assert stats[name] == [f"{format_value(name, d['mean'])}"
                               f" {format_interval(name, d['lo'], d['hi'])}"]
    d = describe([flat["blacklisted"] for flat in by_seed.values()])
    assert stats["blacklisted"] == [f"{d['mean']:.2%} ({d['lo'] * 100:.2f}–{d['hi']:.2%})"]
    assert "3 seeds (0–2)" in html  # the subtitle


def diff_text(name: str, d: dict) -> str:
    text = format_difference(name, d["diff"])
    if d["lo"] is not None and d["lo"] == d["hi"]:
        return text + " (in every seed)"
    if d["lo"] is not None:
        text += " " + format_interval(name, d["lo"], d["hi"], signed=True)
    return text


def test_compare_pairs_differences_over_shared_seeds(reps, tmp_path):
    html = write_comparison([reps["ref"], reps["strict"]], tmp_path / "c.html").read_text(
        encoding="utf-8")
    assert "paired over 3 shared seeds (common random numbers)" in html
    a, b = seed_summaries(reps["ref"]), seed_summaries(reps["strict"])
    stats = table(html, "stats")
    for name in ("blacklisted", "wrongfully_blacklisted", "mean_score", "grades.B"):
        d = difference({s: v[name] for s, v in a.items()}, {s: v[name] for s, v in b.items()})
        assert d["paired"]
        assert d["n"] == 3
        assert stats[name][2] == diff_text(name, d)
    d = difference({s: v["blacklisted"] for s, v in a.items()},
                   {s: v["blacklisted"] for s, v in b.items()})
    assert d["lo"] > 0  # many more people listed, in every seed
    # scores do not depend on the list: common random numbers make them equal per seed
    assert stats["mean_score"][2] == "0.00 (in every seed)"
    # the override, in the runs table and as a policy difference
    runs = table(html, "runs-table")
    assert runs[str(reps["strict"])][2] == "lists.blacklist.score_below = 960"
    assert runs[str(reps["ref"])][2] == "–"
    assert table(html, "policy-diff")["lists[blacklist].score_below"] == ["750", "960"]


def test_compare_of_different_seeds_uses_welch(reps, tmp_path):
    html = write_comparison([reps["ref"], reps["other"]], tmp_path / "c.html").read_text(
        encoding="utf-8")
    assert "independent seeds" in html
    assert "paired over" not in html
    assert "seeds differ between runs" in html
    a, b = seed_summaries(reps["ref"]), seed_summaries(reps["other"])
    stats = table(html, "stats")
    for name in ("blacklisted", "mean_score", "grades.A"):
        d = difference({s: v[name] for s, v in a.items()}, {s: v[name] for s, v in b.items()})
        assert not d["paired"]
        assert d["lo"] is not None
        assert stats[name][2] == diff_text(name, d)


def test_compare_of_two_single_runs_says_noise_and_suggests_seeds(reps, tmp_path):
    res = runner.invoke(app, ["compare", str(reps["one"]), str(reps["one_b"]), "-o",
                              str(tmp_path / "c.html")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "includes sampling noise" in html
    assert "--seeds K" in html
    stats = table(html, "stats")
    a, b = read_run(reps["one"]).summary, read_run(reps["one_b"]).summary
    d = b["blacklisted"] - a["blacklisted"]
    assert stats["blacklisted"][2] == format_difference("blacklisted", d)  # no interval


def test_compare_a_replicate_set_with_a_single_run(reps, tmp_path):
    html = write_comparison([reps["ref"], reps["one"]], tmp_path / "c.html").read_text(
        encoding="utf-8")
    assert "a run with one seed" in html
    assert "includes sampling noise" in html


def test_compare_still_refuses_other_sizes_saying_what_differs(reps, tmp_path):
    bigger = simulate(tmp_path / "big", "reference", "-n", "6000", "-d", DAYS, "--seeds",
                      "2")
    with pytest.raises(RunOutputError, match=r"different persons \(5000 vs 6000\)"):
        write_comparison([reps["ref"], bigger], tmp_path / "c.html")
    longer = simulate(tmp_path / "long", "reference", "-n", N, "-d", "61", "-s", "0")
    with pytest.raises(RunOutputError, match=r"different days \(60 vs 61\)"):
        write_comparison([reps["one"], longer], tmp_path / "c.html")
    assert not (tmp_path / "c.html").exists()


def test_incomplete_replicate_directory_is_a_clear_error(reps, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(reps["ref"], broken)
    (broken / "seeds.parquet").unlink()
    with pytest.raises(RunOutputError, match=r"not a complete replicate directory \(missing"
                                             r" seeds\.parquet\)"):
        read_run(broken)


@pytest.mark.browser
def test_bands_render_in_the_browser(browser, reps, tmp_path):
    from .test_browser import open_report

    for path in (reps["ref"] / "report.html",
                 write_comparison([reps["ref"], reps["strict"]], tmp_path / "c.html")):
        page, problems, _ = open_report(browser, path)
        assert problems == []
        assert page.evaluate("window.chartErrors") == []
        charts = page.query_selector_all(".chart")
        assert page.evaluate("window.chartsRendered") == len(charts) >= 13
        # the band of the sanctions chart is drawn: filled areas beside the lines
        areas = page.eval_on_selector_all(
            "#chart-sanctions svg path[aria-roledescription='area mark']",
            "els => els.length")
        assert areas >= 1
        page.close()
