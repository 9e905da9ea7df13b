"""Sensitivity analysis: SALib's indices on functions with known answers, on the
simulator where a parameter provably cannot act, the command, and bad experiments."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.experiments import (
    ExperimentError,
    InlineExecutor,
    load_sensitivity,
    sensitivity,
)
from socialcredit.experiments._sensitivity import (
    SensitivityOptions,
    SensitivityPlan,
    analyse,
    index_chart,
)
from socialcredit.experiments._spec import Range

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

RATE = "behaviours.smoking_in_nonsmoking_area.rate"
DETECTION = "channels.camera.detection"
UNUSED_RATE = "behaviours.blood_donation.rate"   # registry: never a smoking record
THRESHOLD = "lists.blacklist.score_below"          # lists: never a record
OUTPUT = "records_per_adult.smoking_in_nonsmoking_area"


class _Here(InlineExecutor):
    """Every task in this process, counted (no worker start-up: keeps the tests quick)."""

    def __init__(self):
        self.ran = 0

    def map_unordered(self, fn, tasks):
        for task, result in super().map_unordered(fn, tasks):
            self.ran += 1
            yield task, result


def _experiment(method="sobol", samples=16, **changes):
    data = {
        "experiment": {"name": "known", "policy": "reference", "population": 2000,
                       "days": 40, "seeds": 2, "metrics": ["person_list_blacklist"]},
        "sensitivity": {"method": method, "samples": samples, "outputs": [OUTPUT]},
        "parameters": {RATE: {"low": 0.01, "high": 0.2},
                       DETECTION: {"low": 0.8, "high": 0.95},
                       UNUSED_RATE: {"low": 0.001, "high": 0.05, "log": True},
                       THRESHOLD: {"low": 700, "high": 850}},
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if value is None:
            data[section].pop(field, None)
        else:
            data.setdefault(section, {})[field] = value
    return data


def _fake_plan(parameters, method, samples, seed=0):
    """A plan over made-up parameters (no policy): for the analysis alone."""
    exp = SimpleNamespace(parameters=parameters)
    return SensitivityPlan(exp, SensitivityOptions(method=method, samples=samples, seed=seed),
                           ["y"])


def _runs(plan, f, noise=0.0):
    """A runs table as the sweep writes it: two seeds per point whose noise cancels in
    the mean, so the model's value at a point is f(point) exactly."""
    rows = []
    for i, p in enumerate(plan.points):
        y = f(**{k.split(".")[-1]: v for k, v in p.items()})
        rows += [{"point": i, "seed": 1, "y": y + noise}, {"point": i, "seed": 2,
                                                           "y": y - noise}]
    return pl.DataFrame(rows)


# --- the analysis on functions with known answers --------------------------------------

def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    # Ishigami (a = 7, b = 0.1) on [-pi, pi]^3: S1 = (0.314, 0.442, 0),
    # ST = (0.558, 0.442, 0.244). Tolerance 0.05 at 1024 base samples; the mean over
    # seeds is what is analysed (their noise cancels here).
    pi = math.pi
    plan = _fake_plan({f"p.x{i}": Range(low=-pi, high=pi) for i in (1, 2, 3)}, "sobol", 1024)

    def ishigami(x1, x2, x3):
        return math.sin(x1) + 7 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)

    idx = analyse(plan, _runs(plan, ishigami, noise=5.0))
    assert idx["parameter"].to_list() == ["p.x1", "p.x2", "p.x3"]
    assert idx["S1"].to_list() == pytest.approx([0.314, 0.442, 0.0], abs=0.05)
    assert idx["ST"].to_list() == pytest.approx([0.558, 0.442, 0.244], abs=0.05)
    assert all(c > 0 for c in idx["ST_conf"].to_list())


def test_morris_of_a_linear_function_is_its_slope_across_each_range():
    # y = 3 a - 2 b with a in [0, 10] and b on a log range that enters as log10(b):
    # every elementary effect is exact, so mu* = |slope x range| and sigma = 0.
    plan = _fake_plan({"p.a": Range(low=0.0, high=10.0),
                       "p.b": Range(low=1.0, high=1000.0, log=True),
                       "p.c": Range(low=0, high=5)}, "morris", 8)
    idx = analyse(plan, _runs(plan, lambda a, b, c: 3 * a - 2 * math.log10(b)))
    by = {r["parameter"]: r for r in idx.iter_rows(named=True)}
    assert by["p.a"]["mu_star"] == pytest.approx(30.0)
    assert by["p.b"]["mu_star"] == pytest.approx(6.0)
    assert by["p.b"]["mu"] == pytest.approx(-6.0)
    assert by["p.c"]["mu_star"] == 0.0
    assert by["p.a"]["sigma"] == pytest.approx(0.0, abs=1e-9)


def test_an_output_that_never_varies_has_every_index_zero():
    plan = _fake_plan({"p.a": Range(low=0.0, high=1.0), "p.b": Range(low=0.0, high=1.0)},
                      "sobol", 16)
    idx = analyse(plan, _runs(plan, lambda a, b: 4.0))
    assert idx["S1"].to_list() == [0.0, 0.0]
    assert idx["ST"].to_list() == [0.0, 0.0]


def test_an_output_undefined_at_a_point_in_every_seed_is_refused():
    plan = _fake_plan({"p.a": Range(low=0.0, high=1.0)}, "morris", 4)
    runs = _runs(plan, lambda a: a).with_columns(
        pl.when(pl.col("point") == 3).then(None).otherwise(pl.col("y")).alias("y"))
    with pytest.raises(ExperimentError, match="undefined at 1 point"):
        analyse(plan, runs)


# --- on the simulator ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sobol_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sobol")
    idx = sensitivity(_experiment(), out, executor=_Here())
    return out, idx


def test_a_parameter_that_cannot_act_has_no_index_and_the_dominant_one_the_largest(
        sobol_run):
    # The smoking records come from the smoking behaviour's own random stream and the
    # camera: the blood donation rate (registry) and the blacklist threshold (a list)
    # cannot change them, so with common random numbers their effects are exactly 0;
    # tolerance 0.02 on S1 and ST. The smoking rate (x20 across its range) dominates:
    # ST >= 0.8 and the largest; detection (0.8 to 0.95) is a small second.
    _, idx = sobol_run
    by = {r["parameter"]: r for r in idx.iter_rows(named=True)}
    for null in (UNUSED_RATE, THRESHOLD):
        assert abs(by[null]["S1"]) <= 0.02
        assert abs(by[null]["ST"]) <= 0.02
    assert by[RATE]["ST"] >= 0.8
    assert by[RATE]["S1"] >= 0.8
    assert by[RATE]["ST"] == max(r["ST"] for r in by.values())
    assert 0 < by[DETECTION]["ST"] < 0.2


def test_sensitivity_writes_indices_beside_the_sweep_files(sobol_run):
    out, idx = sobol_run
    for name in ("runs.parquet", "daily.parquet", "experiment.json", "report.html",
                 "indices.parquet", "indices.json", "sensitivity.html"):
        assert (out / name).is_file(), name
    runs = pl.read_parquet(out / "runs.parquet")
    assert runs.height == 16 * (4 + 2) * 2  # Saltelli: N (D + 2) points, 2 seeds each
    assert pl.read_parquet(out / "indices.parquet").equals(idx)
    data = json.loads((out / "indices.json").read_text())
    assert data["method"] == "sobol"
    assert data["samples"] == 16
    assert data["parameters"][UNUSED_RATE]["log"] is True
    assert len(data["indices"]) == 4
    resolved = json.loads((out / "experiment.json").read_text())
    assert resolved["kind"] == "sensitivity"
    assert resolved["sampling"]["method"] == "sobol"
    html = (out / "sensitivity.html").read_text()
    assert "vegaEmbed" in html
    assert "Sobol indices" in html
    assert "cdn" not in html.lower()


def test_each_point_maps_the_unit_sample_through_its_range(sobol_run):
    out, _ = sobol_run
    plan = load_sensitivity(_experiment())
    runs = pl.read_parquet(out / "runs.parquet").filter(pl.col("seed") == 1).sort("point")
    assert runs[THRESHOLD].to_list() == [p[THRESHOLD] for p in plan.points]
    u = plan.unit[:, 2]
    expected = np.exp(np.log(0.001) + u * (np.log(0.05) - np.log(0.001)))
    assert runs[UNUSED_RATE].to_numpy() == pytest.approx(expected)
    assert all(isinstance(v, int) and 700 <= v <= 850 for v in runs[THRESHOLD])


def test_the_index_chart_is_valid_vega_lite(sobol_run):
    import vl_convert

    _, idx = sobol_run
    svg = vl_convert.vegalite_to_svg(index_chart(idx, OUTPUT, "sobol"))
    assert "<svg" in svg
    assert "ST" in svg


def test_morris_agrees_and_a_resumed_analysis_runs_nothing_again(tmp_path):
    # Morris screening: mu* of the parameters that cannot act is 0 (exactly, common
    # random numbers), the smoking rate's is the largest.
    data = _experiment(method="morris", samples=4)
    data["experiment"]["seeds"] = 1
    ex = _Here()
    idx = sensitivity(data, tmp_path / "m", executor=ex, report=False)
    assert ex.ran == 4 * (4 + 1)
    by = {r["parameter"]: r for r in idx.iter_rows(named=True)}
    assert by[UNUSED_RATE]["mu_star"] == 0.0
    assert by[THRESHOLD]["mu_star"] == 0.0
    assert by[RATE]["mu_star"] > 5 * by[DETECTION]["mu_star"] > 0
    again = _Here()
    idx2 = sensitivity(data, tmp_path / "m", executor=again, resume=True, report=False)
    assert again.ran == 0
    assert idx2.equals(idx)


def test_the_sensitivity_command_runs_on_local_workers(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(f"""
[experiment]
name = "cli"
policy = "reference"
population = 2000
days = 30

[sensitivity]
method = "sobol"
outputs = ["{OUTPUT}"]

[parameters]
"{RATE}" = {{ low = 0.01, high = 0.2 }}
"{UNUSED_RATE}" = {{ low = 0.001, high = 0.05 }}
""")
    out = tmp_path / "out"
    result = runner.invoke(app, ["sensitivity", str(path), "--out", str(out), "--method",
                                 "morris", "--samples", "3", "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "morris, 9 points" in result.output
    assert f"largest mu_star: {RATE}" in result.output
    idx = pl.read_parquet(out / "indices.parquet")
    assert idx.columns == ["output", "parameter", "mu_star", "mu_star_conf", "mu", "sigma"]


def test_the_example_experiment_loads():
    plan = load_sensitivity(EXAMPLES / "sensitivity" / "blacklist-drivers.toml")
    assert plan.method == "morris"
    assert len(plan.points) == 10 * (5 + 1)
    assert plan.exp.seeds == [1, 2]


# --- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "words"), [
    ({"parameters__" + THRESHOLD: [700, 750, 800]},
     [f"'{THRESHOLD}'", "lists of values", "range"]),
    ({"sensitivity__samples": 24}, ["power of 2"]),
    ({"sensitivity__method": "fast"}, ["sensitivity.method", "morris, sobol"]),
    ({"sensitivity__method": "morris", "sensitivity__levels": 5}, ["even number of levels"]),
    ({"sensitivity__outputs": None}, ["name the outputs"]),
    ({"sensitivity__outputs": ["blacklisted", "happiness"]}, ["'happiness'", "there are"]),
    ({"sensitivity__colour": "red"}, ["sensitivity.colour", "valid fields"]),
    ({"sampling__method": "lhs"}, ["[sampling] is for sweeps"]),
    ({"parameters__channels.camera.colour": {"low": 0.0, "high": 1.0}},
     ["not valid policies", "channels.camera.colour"]),
    ({"parameters__" + DETECTION: {"low": 0.5, "high": 1.5}},
     ["not valid policies", "detection"]),
])
def test_bad_sensitivity_experiments_are_refused_naming_the_problem(changes, words):
    with pytest.raises(ExperimentError) as info:
        load_sensitivity(_experiment(**changes))
    for w in words:
        assert w in str(info.value)


def test_the_command_fails_without_a_traceback(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("""
[experiment]
name = "bad"
policy = "reference"
population = 1000
days = 10
outputs = ["blacklisted"]

[parameters]
"lists.blacklist.score_below" = [700, 800]
""")
    result = runner.invoke(app, ["sensitivity", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "error:" in result.output
    assert str(path) in result.output
    assert "lists.blacklist.score_below" in result.output
    assert "Traceback" not in result.output
