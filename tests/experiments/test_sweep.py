"""Sweeps: points, executors, the tables, resume and bad experiment files."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcredit import daily_metrics, load_scenario, simulate, summary
from socialcredit.cli import app
from socialcredit.experiments import (
    ExperimentError,
    InlineExecutor,
    LocalExecutor,
    load_experiment,
    sweep,
)
from socialcredit.experiments._spec import Range, Sampling, sample
from socialcredit.experiments._task import run_task
from socialcredit.stats import flatten

runner = CliRunner()

SMALL = {
    "experiment": {"name": "small", "policy": "reference", "population": 1500, "days": 40,
                   "seeds": 2, "seed": 7},
    "parameters": {"channels.camera.misattribution": [0.0, 0.3],
                   "lists.blacklist.score_below": {"low": 750, "high": 800, "steps": 2}},
}


def _exp(**changes):
    data = json.loads(json.dumps(SMALL))
    for k, v in changes.items():
        section, _, key = k.partition("__")
        data.setdefault(section, {})[key] = v
    return data


# --- points ---------------------------------------------------------------------------

def test_a_grid_crosses_values_and_ranges_in_a_stable_order():
    params = {"a": [1, 2, 3], "b": Range(low=0.0, high=1.0, steps=3)}
    points = sample(params, Sampling(method="grid"))
    assert points == [{"a": a, "b": b} for a in (1, 2, 3) for b in (0.0, 0.5, 1.0)]
    assert Range(low=700, high=800, steps=3).grid() == [700, 750, 800]  # integers stay so
    assert Range(low=1, high=3, steps=10).grid() == [1, 2, 3]  # repeats are dropped
    log = Range(low=0.001, high=0.1, steps=3, log=True).grid()
    assert log == pytest.approx([0.001, 0.01, 0.1])


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_lhs_and_sobol_points_lie_in_their_ranges_and_repeat_with_their_seed(method):
    params = {"x": Range(low=10, high=20), "y": Range(low=0.5, high=0.75),
              "z": ["a", "b", "c"]}
    s = Sampling(method=method, samples=32, seed=3)
    points = sample(params, s)
    assert len(points) == 32
    assert all(10 <= p["x"] <= 20 and isinstance(p["x"], int) for p in points)
    assert all(0.5 <= p["y"] <= 0.75 for p in points)
    assert {p["z"] for p in points} == {"a", "b", "c"}
    assert sample(params, s) == points
    assert sample(params, Sampling(method=method, samples=32, seed=4)) != points


def test_a_latin_hypercube_puts_one_point_in_each_stratum_of_each_parameter():
    n = 40
    points = sample({"u": Range(low=0.0, high=1.0), "v": Range(low=0.0, high=1.0)},
                    Sampling(method="lhs", samples=n, seed=11))
    for key in ("u", "v"):
        strata = sorted(min(int(p[key] * n), n - 1) for p in points)
        assert strata == list(range(n))


# --- the sweep itself -----------------------------------------------------------------

@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    ex = LocalExecutor(2)
    try:
        df = sweep(_exp(), out, executor=ex)
    finally:
        ex.close()
    return out, df


def test_a_sweep_has_one_row_per_point_and_seed_equal_to_an_in_process_run(local_sweep):
    out, df = local_sweep
    assert df.height == 4 * 2
    assert df["run_id"].to_list() == list(range(8))
    assert sorted(set(df["seed"].to_list())) == [7, 8]
    base = load_scenario("reference")
    for row in df.iter_rows(named=True):
        point = {"channels.camera.misattribution": row["channels.camera.misattribution"],
                 "lists.blacklist.score_below": row["lists.blacklist.score_below"]}
        run = simulate(base.with_overrides(point), 1500, 40, row["seed"], threads=1)
        flat = flatten(summary(run))
        for name, value in flat.items():
            assert row[name] == (pytest.approx(value, rel=1e-12) if value is not None
                                 else None), name
    # the parameters matter: more misattribution, more false records
    by = df.group_by("channels.camera.misattribution").agg(
        pl.col("false_record_share").mean()).sort("channels.camera.misattribution")
    assert by["false_record_share"][1] > by["false_record_share"][0]


def test_daily_parquet_holds_every_days_metrics_of_every_run(local_sweep):
    out, df = local_sweep
    daily = pl.read_parquet(out / "daily.parquet")
    assert daily.height == 8 * 40
    assert daily.group_by("run_id").len()["len"].to_list() == [40] * 8
    row = df.row(5, named=True)
    point = {"channels.camera.misattribution": row["channels.camera.misattribution"],
             "lists.blacklist.score_below": row["lists.blacklist.score_below"]}
    run = simulate(load_scenario("reference").with_overrides(point), 1500, 40, row["seed"])
    expect = daily_metrics(run)
    got = daily.filter(pl.col("run_id") == 5).sort("day")
    for name in ("day", "person_score_mean", "person_list_blacklist"):
        if name in expect:
            assert np.array_equal(got[name].to_numpy(), np.asarray(expect[name])), name
    # queryable with DuckDB as the issue asks
    import duckdb

    n = duckdb.sql(f"select count(distinct run_id) from '{out / 'daily.parquet'}'"
                   ).fetchall()
    assert n == [(8,)]


def test_the_experiment_is_written_resolved_with_a_report(local_sweep):
    out, _ = local_sweep
    resolved = json.loads((out / "experiment.json").read_text())
    assert resolved["seeds"] == [7, 8]
    assert len(resolved["points"]) == 4
    assert resolved["points"][1] == {"channels.camera.misattribution": 0.0,
                                     "lists.blacklist.score_below": 800}
    html = (out / "report.html").read_text()
    assert "against channels.camera.misattribution" in html
    assert "vegaEmbed" in html
    assert "cdn" not in html.lower()


def test_local_inline_and_the_task_itself_give_identical_tables(local_sweep, tmp_path):
    out, _ = local_sweep
    df = sweep(_exp(), tmp_path / "inline", executor=InlineExecutor(), report=False)
    a = pq.read_table(out / "runs.parquet").drop(["seconds"])
    b = pq.read_table(tmp_path / "inline" / "runs.parquet").drop(["seconds"])
    assert a.equals(b)
    assert pq.read_table(out / "daily.parquet").equals(
        pq.read_table(tmp_path / "inline" / "daily.parquet"))
    assert df.height == 8


class _Interrupted(Exception):
    pass


class _StopsAfter:
    """An executor that runs `n` tasks, then fails as a Ctrl-C would."""

    name, workers = "stops", 1

    def __init__(self, n):
        self.n, self.ran = n, 0

    def map_unordered(self, fn, tasks):
        for task in tasks:
            if self.ran == self.n:
                raise _Interrupted
            self.ran += 1
            yield task, fn(task)

    def close(self):
        pass


class _Counting(InlineExecutor):
    def __init__(self):
        self.ran = []

    def map_unordered(self, fn, tasks):
        for task, result in super().map_unordered(fn, tasks):
            self.ran.append(task.run_id)
            yield task, result


def test_an_interrupted_sweep_resumes_running_only_what_is_missing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(_Interrupted):
        sweep(_exp(), out, executor=_StopsAfter(3), report=False)
    assert len(list((out / "parts").glob("*.run.json"))) == 3
    assert not (out / "runs.parquet").exists()
    # without --resume an experiment directory is not touched
    with pytest.raises(Exception, match="--resume"):
        sweep(_exp(), out, executor=InlineExecutor())
    counting = _Counting()
    df = sweep(_exp(), out, executor=counting, resume=True, report=False)
    assert counting.ran == [3, 4, 5, 6, 7]
    assert df.height == 8
    whole = sweep(_exp(), tmp_path / "whole", executor=InlineExecutor(), report=False)
    assert df.drop("seconds").equals(whole.drop("seconds"))
    # a changed experiment reruns only the runs whose content changed
    more = _exp()
    more["parameters"]["channels.camera.misattribution"] = [0.0, 0.3, 0.6]
    counting = _Counting()
    df = sweep(more, out, executor=counting, resume=True, report=False)
    assert df.height == 12
    assert len(counting.ran) == 4


def test_in_flight_tasks_are_bounded_so_memory_stays_flat():
    seen = []

    def tasks():
        for i in range(50):
            seen.append(i)
            yield i

    ex = LocalExecutor(2)
    try:
        it = ex.map_unordered(abs, tasks())
        first, _ = next(it)
        assert len(seen) <= 2 * 2 + 1  # never the whole list at once
        rest = [t for t, _ in it]
        assert sorted([first, *rest]) == list(range(50))
    finally:
        ex.close()


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "words"), [
    (_exp(experiment__populaton=5), ["populaton", "valid fields"]),
    (_exp(experiment__days=0), ["experiment.days"]),
    (_exp(sampling__method="random"), ["sampling.method"]),
    ({**SMALL, "parameters": {"channels.camera.misattribution": [0.1, 7]}},
     ["point 1", "[0, 1]"]),
    ({**SMALL, "parameters": {"channels.nope.detection": [0.1]}}, ["channels has no 'nope'"]),
    ({**SMALL, "parameters": {"lists.blacklist.score_below": {"low": 9, "high": 1}}},
     ["parameters.lists.blacklist.score_below", "below high"]),
    (_exp(experiment__outputs=["blacklisted", "nonsense"]), ["'nonsense'", "blacklisted"]),
    (_exp(experiment__metrics=["nope"]), ["experiment.metrics", "'nope'"]),
    (_exp(experiment__policy="nosuchscenario"), ["experiment.policy", "nosuchscenario"]),
    (_exp(experiment__seeds=[1, 1]), ["experiment.seeds", "seed is listed twice"]),
    (_exp(experiment__seeds=0), ["experiment.seeds", "a number of seeds"]),
    ({**SMALL, "channels": {"camera": {"misattribution": 0.5}}},
     ["unknown field 'channels'", "experiment, sampling, parameters"]),
    ({**SMALL, "parameters": {"run.seed": []}}, ["needs at least one value"]),
    ({**SMALL, "sampling": {"method": "sobol", "samples": 5}}, ["power of 2", "4 or 8"]),
    ({**SMALL, "parameters": {"channels.camera.misattribution": [0.1],
                              'channels."camera".misattribution': [0.3]}},
     ["names the same value"]),
])
def test_bad_experiments_are_refused_naming_the_problem(data, words):
    with pytest.raises(ExperimentError) as exc:
        load_experiment(data)
    for w in words:
        assert w in str(exc.value)


def test_the_sweep_command_runs_and_fails_without_a_traceback(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(
        '[experiment]\nname = "cli"\npolicy = "reference"\npopulation = 800\ndays = 15\n'
        'seeds = [1, 2]\noutputs = ["blacklisted"]\n\n[parameters]\n'
        '"channels.camera.misattribution" = [0.0, 0.1]\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out), "--executor", "inline",
                              "-q"])
    assert res.exit_code == 0, res.output
    assert "4 runs" in res.output
    assert pl.read_parquet(out / "runs.parquet").height == 4
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out), "-q"])
    assert res.exit_code == 2
    assert "--resume" in res.output
    assert "Traceback" not in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[experiment]\nname = 'x'\n")
    res = runner.invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "o2"), "-q"])
    assert res.exit_code == 2
    assert "experiment.policy" in res.output
    for bad in (["--executor", "ray", "--address", "127.0.0.1:9"],
                ["--executor", "ray", "--address", "nonsense"],
                ["--executor", "local", "--address", "auto"],
                ["--workers", "0"]):
        res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "o4"), "-q",
                                  *bad])
        assert res.exit_code == 2, bad
        assert "Traceback" not in res.output
        assert not (tmp_path / "o4").exists(), bad  # nothing written
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(tmp_path / "o3"),
                              "--executor", "gpu", "-q"])
    assert res.exit_code == 2
    assert "unknown executor" in res.output
    assert not (tmp_path / "o3" / "runs.parquet").exists()


def test_a_task_is_a_pure_function_of_its_description():
    from socialcredit.experiments._sweep import make_tasks

    exp = load_experiment(_exp())
    task = make_tasks(exp, exp.points())[3]
    a, b = run_task(task), run_task(task)
    assert a["summary"] == b["summary"]
    for k in a["daily"]:
        assert np.array_equal(a["daily"][k], b["daily"][k])


@pytest.mark.slow
def test_the_ray_executor_gives_the_local_results_on_a_local_ray_instance(local_sweep,
                                                                          tmp_path):
    from socialcredit.experiments import RayExecutor

    out, _ = local_sweep
    ray_exec = RayExecutor(workers=2)  # starts a local Ray instance with 2 CPUs
    try:
        sweep(_exp(), tmp_path / "ray", executor=ray_exec, report=False)
    finally:
        ray_exec.close()
    assert pq.read_table(out / "runs.parquet").drop(["seconds"]).equals(
        pq.read_table(tmp_path / "ray" / "runs.parquet").drop(["seconds"]))
    assert pq.read_table(out / "daily.parquet").equals(
        pq.read_table(tmp_path / "ray" / "daily.parquet"))


@pytest.mark.slow
def test_ctrl_c_keeps_finished_runs_says_so_and_resume_goes_on(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    exp = tmp_path / "exp.toml"
    exp.write_text(
        '[experiment]\nname = "sigint"\npolicy = "reference"\npopulation = 20000\n'
        'days = 200\nseeds = 2\n\n[parameters]\n'
        '"channels.camera.misattribution" = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]\n')
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "socialcredit.cli", "sweep", str(exp),
                             "--out", str(out), "--workers", "2", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "parts").glob("*.run.json")) if (out / "parts").exists() \
            else True:
        assert time.monotonic() < deadline, "no run finished in 2 minutes"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted:" in err
    assert "--resume" in err
    assert "Traceback" not in err
    kept = len(list((out / "parts").glob("*.run.json")))
    assert 1 <= kept < 12
    res = runner.invoke(app, ["sweep", str(exp), "--out", str(out), "--resume", "-q",
                              "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert f"({kept} already done)" in res.output
    assert pl.read_parquet(out / "runs.parquet").height == 12


def test_what_the_readme_says_of_points_holds():
    assert len(Range(low=0.0, high=1.0).grid()) == 5  # a grid range without steps
    exp = load_experiment({"experiment": SMALL["experiment"]})  # no parameters
    assert exp.points() == [{}]


def test_a_shares_interval_is_cut_at_0_and_1_in_reports():
    from socialcredit.report._html import format_interval

    assert format_interval("blacklisted", -0.0035, 0.0093) == "(0.00–0.93%)"
    assert format_interval("blacklisted", 0.98, 1.02) == "(98.00–100.00%)"
    assert format_interval("mean_score", -3.0, 5.0).startswith("(-3")  # not a share
