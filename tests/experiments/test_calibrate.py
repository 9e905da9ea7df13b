"""Calibration: the targets file, the objective, held-out rows kept out of the search
by construction, the files and report, the command, and parameter recovery."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from socialcredit import daily_metrics, load_policy, load_scenario, simulate, summary
from socialcredit.cli import app
from socialcredit.experiments import (
    CalibrationError,
    CalibrationResult,
    InlineExecutor,
    calibrate,
    load_calibration,
)
from socialcredit.experiments import _calibrate as cal_module
from socialcredit.experiments._calibrate import Target, make_objective
from socialcredit.experiments._calibrate_report import (
    daily_chart,
    end_chart,
    fit_charts,
    trials_chart,
)

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RATE = "behaviours.smoking_in_nonsmoking_area.rate"
THRESHOLD = "lists.blacklist.score_below"
SMOKING = "records_per_adult.smoking_in_nonsmoking_area"
PER = 1_400_000_000


def _targets(**calibration):
    """A small calibration: two parameters, fitted targets of both kinds (end of run,
    a daily count scaled per 1.4 billion) and two held-out rows."""
    return {
        "calibration": {"name": "small", "population": 2000, "days": 40, "seeds": 2,
                        "trials": 6, **calibration},
        "parameters": {RATE: {"low": 0.01, "high": 0.2, "log": True},
                       THRESHOLD: {"low": 700, "high": 900}},
        "targets": [
            {"statistic": SMOKING, "value": 1.0, "tolerance": 0.1},
            {"statistic": "person_list_blacklist", "day": 30, "value": 20_000_000,
             "per": PER, "tolerance": 5_000_000},
            {"statistic": "blacklisted", "value": 0.02, "tolerance": 0.01, "holdout": True},
            {"statistic": "person_list_blacklist", "value": 30_000_000, "per": PER,
             "holdout": True},
        ],
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "out"
    res = calibrate("reference", _targets(), out, executor=InlineExecutor())
    return out, res


# --- the targets file ------------------------------------------------------------------

def test_targets_resolve_to_statistics_on_days_split_into_fitted_and_held_out():
    data = _targets()
    data["calibration"]["first_day"] = __import__("datetime").date(2019, 1, 1)
    data["targets"].append({"statistic": "person_list_redlist",
                            "date": __import__("datetime").date(2019, 1, 11), "value": 5.0,
                            "weight": 2.0})
    cal = load_calibration("reference", data)
    assert [t.label for t in cal.fitted] == [SMOKING, "person_list_blacklist@30",
                                             "person_list_redlist@10"]
    assert [t.label for t in cal.holdout] == ["blacklisted", "person_list_blacklist@39"]
    redlist = cal.fitted[2]
    assert redlist.tolerance == 5.0  # no tolerance: the error is relative to the value
    assert redlist.weight == 2.0
    assert cal.seeds == (1, 2)
    assert cal.population == 2000
    assert cal.days == 40
    assert isinstance(cal.fitted, tuple)
    assert isinstance(cal.holdout, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.holdout = ()  # type: ignore[misc]


def test_the_command_line_wins_over_the_file_and_the_policy_gives_the_defaults():
    data = _targets()
    del data["calibration"]["population"], data["calibration"]["days"]
    cal = load_calibration("reference", data, trials=3, seeds=4, days=35)
    ref = load_scenario("reference")
    assert (cal.trials, cal.seeds, cal.days) == (3, (1, 2, 3, 4), 35)
    assert cal.population == ref.run.population


def test_the_objective_is_the_weighted_mean_squared_standardised_error():
    # two seeds; a share target and a count among 1e6 persons in a run of 1000: the
    # run's count is scaled by 1000 (per / population)
    fitted = (Target("a", "a", None, 0.5, 0.1, 1.0, None),
              Target("n@1", "n", 1, 4000.0, 1000.0, 3.0, 1e6))
    runs = [{"summary": {"a": 0.6}, "daily": {"n": [0, 5]}},
            {"summary": {"a": 0.8}, "daily": {"n": [0, 7]}}]
    value, sims = make_objective(fitted, 1000)(runs)
    assert sims == {"a": pytest.approx(0.7), "n@1": pytest.approx(6000.0)}
    # ((0.7 - 0.5) / 0.1)^2 = 4 with weight 1; ((6000 - 4000) / 1000)^2 = 4 with weight 3
    assert value == pytest.approx((1 * 4 + 3 * 4) / 4)
    none = [{"summary": {"a": None}, "daily": {"n": [0, 5]}}]
    assert make_objective(fitted, 1000)(none)[0] is None


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d["targets"].append({"statistic": "happiness", "value": 1.0}),
     ["targets[4] (happiness)", "no statistic 'happiness'", "blacklisted",
      "person_list_blacklist"]),
    (lambda d: d["targets"][0].update(per=PER), ["per scales counts", "summary statistic"]),
    (lambda d: d["targets"][0].update(day=3), ["end of the run only"]),
    (lambda d: d["targets"][1].update(day=40), ["day 40 is outside", "0 to 39"]),
    (lambda d: d["targets"][1].update(date=__import__("datetime").date(2019, 1, 2)),
     ["day or a date, not both"]),
    (lambda d: d["targets"].append({"statistic": "person_list_redlist", "value": 3.0,
                                    "date": __import__("datetime").date(2019, 1, 2)}),
     ["needs [calibration] first_day"]),
    (lambda d: d["targets"][0].update(value=0.0, tolerance=None) or d["targets"][0].pop(
        "tolerance"), ["value 0 needs a tolerance"]),
    (lambda d: d["targets"].append({"statistic": SMOKING, "value": 2.0}),
     ["the same statistic and day as targets[0]"]),
    (lambda d: [t.update(holdout=True) for t in d["targets"]], ["every target is held out"]),
    (lambda d: d["targets"][0].update(tolerence=0.1), ["unknown field 'tolerence'",
                                                       "valid fields here are statistic"]),
    (lambda d: d["calibration"].update(trails=5), ["unknown field 'trails'",
                                                  "valid fields here are name"]),
    (lambda d: d["targets"][0].update(tolerance=-1.0), ["targets.0.tolerance"]),
    (lambda d: d["parameters"].update({"channels.camera.colour": {"low": 0, "high": 1}}),
     ["parameters.channels.camera.colour", "has no 'colour'"]),
    (lambda d: d["parameters"].update({"channels.camera.detection": {"low": 0.5,
                                                                     "high": 2.0}}),
     ["parameters.channels.camera.detection = 2.0"]),
    (lambda d: d["parameters"].update({THRESHOLD: 750}),
     [f"parameters.{THRESHOLD}", "a list of values, or a range"]),
    (lambda d: d.update(first_trial={RATE: 0.5}), [f"first_trial.{RATE} = 0.5",
                                                   "range [0.01, 0.2]"]),
    (lambda d: d.update(first_trial={"x.y": 1}), ["first_trial.x.y: not a parameter"]),
    (lambda d: d.pop("targets"), ["targets: this field is required"]),
])
def test_bad_targets_are_refused_naming_the_problem(change, words):
    data = _targets()
    change(data)
    with pytest.raises(CalibrationError) as info:
        load_calibration("reference", data)
    for w in words:
        assert w in str(info.value)


def test_an_unknown_policy_is_refused_naming_it():
    with pytest.raises(CalibrationError, match="no-such-scenario"):
        load_calibration("no-such-scenario", _targets())


# --- held-out rows never reach the objective --------------------------------------------

class _Poisoned:
    """A held-out target that cannot be read: any use of it fails the calibration."""

    def __getattribute__(self, name):
        raise AssertionError(f"a held-out target was read ({name}) during the search")


def test_the_search_cannot_read_held_out_rows(tmp_path, monkeypatch):
    # The held-out rows are replaced by objects that raise on any attribute, and the
    # one function allowed to read them after the search is replaced by a recorder.
    # If the objective, the search, the fitted run or the files touched a held-out row,
    # the calibration would fail.
    cal = load_calibration("reference", _targets())
    assert len(cal.holdout) == 2
    poisoned = dataclasses.replace(cal, holdout=(_Poisoned(), _Poisoned()))
    trials_seen: list[int] = []
    calls = []

    def after_the_search(holdout, runs, population):
        calls.append(len(trials_seen))
        assert holdout is poisoned.holdout
        return []

    monkeypatch.setattr(cal_module, "evaluate_holdout", after_the_search)
    res = calibrate(None, poisoned, tmp_path / "out", executor=InlineExecutor(),
                    on_trial=lambda n, v, best: trials_seen.append(n))
    assert calls == [6]  # once, after all 6 trials
    assert res.trials.height == 6
    assert res.holdout.height == 0


def test_held_out_values_change_nothing_in_the_search(small, tmp_path):
    # The same file with every held-out value changed: the same trials, objective for
    # objective, and the same best parameters; only the held-out errors differ.
    out, res = small
    data = _targets()
    for t in data["targets"]:
        if t.get("holdout"):
            t["value"] *= 7
    other = calibrate("reference", data, tmp_path / "other", executor=InlineExecutor())
    timing = ["engine_seconds", "batch_seconds"]
    assert other.trials.drop(timing).equals(res.trials.drop(timing))
    assert other.best == res.best
    assert other.fit.filter(~pl.col("holdout")).equals(res.fit.filter(~pl.col("holdout")))
    assert other.holdout["observed"].to_list() == [
        7 * v for v in res.holdout["observed"].to_list()]


def test_trials_record_fitted_targets_only(small):
    _, res = small
    sims = [c for c in res.trials.columns if c.startswith("sim:")]
    assert sims == [f"sim:{SMOKING}", "sim:person_list_blacklist@30"]


def test_trials_asked_in_batches_all_run_and_the_search_repeats(tmp_path):
    # batch = 3: three trials asked at once (their runs on the executor together), told
    # together; the same file gives the same trials again
    frames = []
    for name in ("a", "b"):
        res = calibrate("reference", _targets(batch=3), tmp_path / name, executor=InlineExecutor(),
                        report=False)
        frames.append(res.trials.drop(["engine_seconds", "batch_seconds"]))
    assert frames[0]["trial"].to_list() == list(range(6))
    assert frames[0].equals(frames[1])
    assert frames[0].n_unique([RATE, THRESHOLD]) == 6


# --- what a calibration writes ----------------------------------------------------------

def test_a_calibration_writes_the_policy_trials_fit_and_report(small):
    out, res = small
    assert isinstance(res, CalibrationResult)
    assert "small" in repr(res)
    policy = load_policy(out / "calibrated.toml")
    assert policy.behaviours[[b.name for b in policy.behaviours].index(
        "smoking_in_nonsmoking_area")].rate == pytest.approx(res.best[RATE])
    assert policy == load_scenario("reference").with_overrides(res.best)
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials.height == 6
    assert set(trials["state"]) == {"complete"}
    assert trials["objective"].min() == pytest.approx(res.objective)
    best = trials.sort("objective").row(0, named=True)
    assert (best[RATE], best[THRESHOLD]) == (res.best[RATE], res.best[THRESHOLD])
    fit = pl.read_parquet(out / "fit.parquet")
    assert fit.equals(res.fit)
    assert fit["holdout"].to_list() == [False, False, True, True]
    assert fit["label"].to_list()[-1] == "person_list_blacklist@39"
    for r in fit.iter_rows(named=True):
        assert r["min"] <= r["mean"] <= r["max"]
        assert r["error"] == pytest.approx(r["mean"] - r["observed"])
    data = json.loads((out / "calibration.json").read_text())
    assert data["best"] == res.best
    assert data["trials_complete"] == 6
    assert data["holdout_error"]["rows"] == 2
    assert data["sampler"] == {"name": "TPE", "seed": 0}
    html = (out / "report.html").read_text()
    for words in ("Prediction error on held-out rows", "Targets against the fitted run",
                  "person_list_blacklist@39", "vegaEmbed"):
        assert words in html
    assert "cdn" not in html.lower()


def test_the_fitted_value_is_the_mean_over_seeds_of_a_run_with_the_best_parameters(small):
    _, res = small
    policy = load_scenario("reference").with_overrides(res.best)
    runs = [simulate(policy, 2000, 40, seed, threads=1) for seed in (1, 2)]
    smoking = sum(summary(r)["records_per_adult"]["smoking_in_nonsmoking_area"]
                  for r in runs) / 2
    count = sum(float(daily_metrics(r)["person_list_blacklist"][39]) for r in runs) / 2
    fit = {r["label"]: r for r in res.fit.iter_rows(named=True)}
    assert fit[SMOKING]["mean"] == pytest.approx(smoking)
    assert fit["person_list_blacklist@39"]["mean"] == pytest.approx(count * PER / 2000)


def test_the_report_charts_are_valid_vega_lite(small):
    import vl_convert

    _, res = small
    rows = res.fit.to_dicts()
    series = [{"day": d, "mean": float(d), "min": d - 1.0, "max": d + 1.0} for d in range(5)]
    point = {"label": "x@2", "day": 2, "kind": "held out", "observed": 2.0, "lo_obs": 1.5,
             "hi_obs": 2.5, "mean": 2.0, "min": 1.0, "max": 3.0}
    for spec in (daily_chart("x", PER, series, [point], 2000),
                 end_chart([{**point, "day": None}]), trials_chart(res.trials)):
        assert "<svg" in vl_convert.vegalite_to_svg(spec)
    fake_runs = [{"daily": {"person_list_blacklist": list(range(40))}}] * 2
    charts = fit_charts(fake_runs, rows, 2000)
    assert len(charts) == 2  # the daily metric, and the end-of-run targets
    for spec in charts:
        assert "<svg" in vl_convert.vegalite_to_svg(spec)


def test_a_calibration_refuses_a_directory_in_use(small):
    out, _ = small
    with pytest.raises(cal_module.RunOutputError, match="not empty"):
        calibrate("reference", _targets(), out, executor=InlineExecutor())


# --- the command -----------------------------------------------------------------------

def test_the_calibrate_command_runs_on_local_workers(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(f"""
[calibration]
name = "cli"
population = 2000
days = 30
trials = 50

[parameters]
"{RATE}" = {{ low = 0.01, high = 0.2 }}

[[targets]]
statistic = "{SMOKING}"
value = 0.5

[[targets]]
statistic = "blacklisted"
value = 0.002
tolerance = 0.001
holdout = true
""")
    out = tmp_path / "out"
    result = runner.invoke(app, ["calibrate", "reference", str(path), "--out", str(out),
                                 "--trials", "4", "--seeds", "2", "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "done cli: 4 trials x 2 seeds" in result.output
    assert f"{RATE} = " in result.output
    assert "held out: 1 row(s)" in result.output
    for name in ("calibrated.toml", "trials.parquet", "fit.parquet", "calibration.json",
                 "report.html"):
        assert (out / name).is_file(), name
    assert pl.read_parquet(out / "trials.parquet").height == 4


def test_the_command_fails_without_a_traceback(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text('[parameters]\n"lists.blacklist.score_below" = [700, 800]\n\n'
                    '[[targets]]\nstatistic = "blacklisted"\nvalue = 0.01\nper = 1e9\n')
    result = runner.invoke(app, ["calibrate", "reference", str(path), "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert "per scales counts" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_the_example_targets_load():
    cal = load_calibration("reference", EXAMPLES / "calibration" / "blacklist-targets.toml")
    assert [t.label for t in cal.holdout] == ["person_list_blacklist@273", "blacklisted"]
    assert cal.fitted[0].label == "person_list_blacklist@90"  # 2019-04-01, day 0 on 1 Jan


# --- parameter recovery -----------------------------------------------------------------

TRUE = {RATE: 0.08, THRESHOLD: 850}
N, DAYS = 5000, 120


@pytest.mark.slow
def test_calibration_recovers_known_parameters_from_a_distant_start(tmp_path):
    # Simulate the reference with a known smoking rate (0.08; the reference has 0.05)
    # and blacklist threshold (850; the reference has 750) on seeds 101 to 103, turn the
    # mean of its outputs into targets (the blacklist as counts per 1.4 billion), then
    # calibrate on other seeds (1, 2) from a first trial far away (0.4, 700), 60 trials.
    # Tolerances: the rate within 12 % and the threshold within 20 points (scores move
    # in steps of 5); with sampler seeds 0 to 5 the errors were at most 8.6 % and 10.
    truth_policy = load_scenario("reference").with_overrides(TRUE)
    truth = [simulate(truth_policy, N, DAYS, s, threads=1) for s in (101, 102, 103)]

    def mean(values):
        return sum(values) / len(values)

    smoking = mean([summary(r)["records_per_adult"]["smoking_in_nonsmoking_area"]
                    for r in truth])
    listed = mean([summary(r)["blacklisted"] for r in truth])
    counts = {d: mean([float(daily_metrics(r)["person_list_blacklist"][d]) for r in truth])
              * PER / N for d in (59, 89, 119)}
    grade_b = mean([summary(r)["grades"]["B"] for r in truth])
    targets = {
        "calibration": {"name": "recovery", "population": N, "days": DAYS, "seeds": 2,
                        "trials": 60, "sampler_seed": 0},
        "parameters": {RATE: {"low": 0.005, "high": 0.5, "log": True},
                       THRESHOLD: {"low": 650, "high": 990}},
        "first_trial": {RATE: 0.4, THRESHOLD: 700},
        "targets": [
            {"statistic": SMOKING, "value": smoking, "tolerance": 0.05 * smoking},
            {"statistic": "blacklisted", "value": listed, "tolerance": 0.1 * listed},
            {"statistic": "person_list_blacklist", "day": 59, "value": counts[59],
             "per": PER, "tolerance": 0.1 * counts[59]},
            {"statistic": "person_list_blacklist", "day": 89, "value": counts[89],
             "per": PER, "tolerance": 0.1 * counts[89]},
            {"statistic": "person_list_blacklist", "day": 119, "value": counts[119],
             "per": PER, "tolerance": 0.1 * counts[119], "holdout": True},
            {"statistic": "grades.B", "value": grade_b, "tolerance": 0.02, "holdout": True},
        ],
    }
    res = calibrate("reference", targets, tmp_path / "fit", executor=InlineExecutor())
    assert res.trials["trial"][0] == 0
    assert res.trials[RATE][0] == 0.4
    assert res.best[RATE] == pytest.approx(TRUE[RATE], rel=0.12)
    assert abs(res.best[THRESHOLD] - TRUE[THRESHOLD]) <= 20
    # the calibrated policy predicts what it was not fitted to within 15 %
    assert res.holdout.height == 2
    assert all(abs(e) <= 0.15 for e in res.holdout["relative_error"].to_list())
