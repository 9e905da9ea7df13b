"""A society as blocks, run as shards: the same results, bit for bit, however the blocks
are grouped into shards, whatever the threads, workers and executor, and equal to an
in-process run; within-city effects (guardians, misattribution) stay within a block;
the ledger is a dataset written block by block."""

from __future__ import annotations

import functools
import json
import os
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from socialcredit import daily_metrics, simulate, summary
from socialcredit.cli import app
from socialcredit.engine._metrics import details
from socialcredit.engine._run import estimate_memory
from socialcredit.engine._shards import ShardTask, run_shard, run_sharded, shard_bounds
from socialcredit.errors import RunConfigError
from socialcredit.ledger import LedgerWriter
from socialcredit.population import build_block, build_population, n_blocks
from socialcredit.scenarios import list_scenarios, load_scenario

N, DAYS, SEED = 6_000, 150, 11
BLOCK = 1_400  # persons per block: 5 blocks of persons, 1 of companies


def _blocked(name: str, block: int = BLOCK):
    p = load_scenario(name)
    return p.model_copy(update={"population": p.population.model_copy(update={"block": block})})


def assert_same_run(a, b) -> None:
    """Every statistic, every daily series and every total array equal, bit for bit."""
    assert summary(a) == summary(b)
    assert details(a) == details(b)
    da, db = daily_metrics(a), daily_metrics(b)
    assert da.keys() == db.keys()
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    assert a.types.keys() == b.types.keys()
    for t in a.types:
        for f, x, y in zip(a.types[t].acc._fields, a.types[t].acc, b.types[t].acc, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"{t}.{f}")
        assert a.types[t].score_sum == b.types[t].score_sum
    assert (a.n_persons, a.n_children, a.n_companies) == (b.n_persons, b.n_children,
                                                          b.n_companies)


@pytest.fixture(scope="module")
def in_process():
    """Each built-in scenario in blocks, in process, 2 threads (the yardstick)."""
    return {name: simulate(_blocked(name), N, DAYS, SEED, threads=2)
            for name in list_scenarios()}


@pytest.mark.parametrize("name", list_scenarios())
def test_any_shards_and_threads_give_the_in_process_result(name, in_process):
    policy = _blocked(name)
    base = in_process[name]
    assert base.blocks == 5
    for shards in (1, 2, 5):
        run = simulate(policy, N, DAYS, SEED, executor="inline", shards=shards)
        assert run.executor == "inline"
        assert run.population is None
        assert_same_run(run, base)
    assert_same_run(simulate(policy, N, DAYS, SEED, threads=1, chunk_size=333), base)


def test_worker_processes_give_the_in_process_result(in_process):
    run = simulate(_blocked("seed"), N, DAYS, SEED, executor="local", workers=2, shards=3)
    assert (run.executor, run.workers, run.blocks) == ("local", 2, 5)
    assert_same_run(run, in_process["seed"])


def test_one_block_is_the_society_as_before():
    """A society no larger than a block is drawn as it always was (the golden file holds
    the run itself), and blocks joined give the whole society subject by subject."""
    policy = load_scenario("reference")
    assert n_blocks(policy, 20_000) == 1
    whole = build_population(_blocked("reference"), N, SEED)
    parts = [build_block(_blocked("reference"), N, SEED, k) for k in range(5)]
    assert [p.person_base for p in parts] == [0, 1400, 2800, 4200, 5600]
    np.testing.assert_array_equal(whole.person_region, build_population(policy, N, SEED)
                                  .person_region)  # regions and traits do not see blocks
    np.testing.assert_array_equal(whole.person_traits, build_population(policy, N, SEED)
                                  .person_traits)
    np.testing.assert_array_equal(whole.guardian,
                                  np.concatenate([p.guardian for p in parts]))


def test_guardians_and_misattribution_stay_in_the_city_and_the_block():
    policy = _blocked("reference")
    pop = build_population(policy, N, SEED)
    kids = np.flatnonzero(pop.is_child)
    g = pop.guardian[kids]
    assert (g >= 0).all()
    assert not pop.is_child[g].any()
    assert (g // BLOCK == kids // BLOCK).all()
    assert (pop.person_region[g] == pop.person_region[kids]).all()
    rows: list[dict] = []
    simulate(policy, N, DAYS, SEED, ledger=lambda t, cols: rows.append({"t": t, **cols}))
    cols = {k: np.concatenate([r[k] for r in rows if r["t"] == "person"])
            for k in ("subject", "doer", "flags")}
    mis = (cols["flags"] & 2) != 0
    assert mis.sum() > 50
    s, d = cols["subject"][mis], cols["doer"][mis]
    assert (s != d).all()
    assert (s // BLOCK == d // BLOCK).all()
    assert (pop.person_region[s] == pop.person_region[d]).all()
    # every block's subjects appear under their global ids
    assert set(np.unique(cols["subject"] // BLOCK)) == set(range(5))


def test_the_ledger_is_a_dataset_written_block_by_block(tmp_path):
    policy = _blocked("reference")
    from socialcredit.engine import compile_policy

    writer = LedgerWriter(tmp_path / "here", compile_policy(policy), policy)
    run = simulate(policy, N, DAYS, SEED, ledger=writer, society=writer.society,
                   subjects=False)
    writer.close()
    assert run.population is None
    assert all(t.final is None for t in run.types.values())
    there = run_sharded(policy, N, DAYS, SEED, executor="inline", shards=2,
                        ledger_dir=tmp_path / "there")
    assert there.ledger_rows == writer.rows == run.records
    for sub in ("ledger", "subjects"):
        here = sorted(p.name for p in (tmp_path / "here" / sub).iterdir())
        assert here == sorted(p.name for p in (tmp_path / "there" / sub).iterdir())
        for name in here:
            assert pq.read_table(tmp_path / "here" / sub / name).equals(
                pq.read_table(tmp_path / "there" / sub / name)), name
    parts = sorted(p.name for p in (tmp_path / "here" / "ledger").iterdir())
    assert parts[0] == "part-000000-company.parquet"
    assert "part-000004-person.parquet" in parts
    subjects = pq.read_table(tmp_path / "here" / "subjects")
    assert subjects.num_rows == N + run.n_companies
    persons = subjects.filter(pc.equal(subjects.column("subject_type").cast(pa.string()),
                                       "person"))
    assert sorted(persons.column("subject").to_pylist()) == list(range(N))


def test_shard_bounds_cover_every_block_once():
    for blocks in (1, 2, 7, 334):
        for shards in (None, 1, 3, 7, 1000):
            b = shard_bounds(blocks, shards)
            assert b[0][0] == 0
            assert b[-1][1] == blocks
            assert all(x[1] == y[0] for x, y in zip(b, b[1:], strict=False))
            assert all(lo < hi for lo, hi in b)
            assert len(b) == min(shards or blocks, blocks)
    with pytest.raises(RunConfigError, match="shards must be"):
        shard_bounds(3, 0)


def test_memory_depends_on_the_block_not_the_society():
    policy = load_scenario("seed")
    china = estimate_memory(policy, 1_400_000_000, 30, 2, subjects=False)
    # from 84 M persons on, a block of each type is full (companies: 1 per 20 persons)
    city = estimate_memory(policy, 20 * policy.population.block, 30, 2, subjects=False)
    assert china == city < 1.5 * 2**30
    assert estimate_memory(policy, 1_400_000_000, 30, 2) > 50 * 2**30  # subjects kept
    with pytest.raises(RunConfigError, match="GiB of memory"):
        simulate(policy, 1_400_000_000, 30, 1)  # keeps its subjects: refused at once


def test_executor_arguments_are_checked():
    with pytest.raises(RunConfigError, match="ledger_dir"):
        simulate("reference", 1000, 10, ledger_dir="x")
    with pytest.raises(RunConfigError, match="ledger callback"):
        simulate("reference", 1000, 10, executor="inline", ledger=lambda t, c: None)
    with pytest.raises(RunConfigError, match="unknown executor"):
        simulate("reference", 1000, 10, executor="gpu")


runner = CliRunner()


def test_simulate_on_worker_processes_writes_the_same_run(tmp_path):
    args = ["simulate", "reference", "-n", str(N), "-d", "60", "--seed", "3", "--set",
            f"population.block={BLOCK}", "--ledger", "-q"]
    here = runner.invoke(app, [*args, "-o", str(tmp_path / "here")])
    assert here.exit_code == 0, here.output
    there = runner.invoke(app, [*args, "-o", str(tmp_path / "there"), "--executor", "local",
                                "--workers", "2"])
    assert there.exit_code == 0, there.output
    a, b = tmp_path / "here", tmp_path / "there"
    assert (a / "summary.json").read_text() == (b / "summary.json").read_text()
    assert pq.read_table(a / "metrics.parquet").equals(pq.read_table(b / "metrics.parquet"))
    assert pq.read_table(a / "ledger").num_rows == pq.read_table(b / "ledger").num_rows > 0
    ma, mb = (json.loads((d / "run.json").read_text()) for d in (a, b))
    assert (ma["blocks"], ma["executor"], mb["executor"], mb["workers"]) == (5, "threads",
                                                                             "local", 2)
    assert ma["ledger_rows"] == mb["ledger_rows"] == ma["records"]


def test_simulate_refuses_executor_options_without_an_executor(tmp_path):
    res = runner.invoke(app, ["simulate", "reference", "-n", "100", "-d", "5", "--workers",
                              "2", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "--workers is for a run on an executor" in res.output
    assert not (tmp_path / "x").exists()


def _dies_once(task: ShardTask, marker: str) -> object:
    """Shard 0 runs its first block, then its worker process dies, once."""
    if task.first == 0 and not os.path.exists(marker):
        run_shard(ShardTask(**{**task.__dict__, "last": task.first + 1}))
        Path(marker).write_text("killed")
        os._exit(1)
    return run_shard(task)


@pytest.mark.slow
def test_ray_gives_the_in_process_result_and_retries_a_killed_worker(in_process, tmp_path):
    ray = pytest.importorskip("ray")
    from socialcredit.experiments import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ex = RayExecutor(workers=2)  # a local Ray instance with 2 CPUs
    try:
        run = run_sharded(_blocked("seed"), N, DAYS, SEED, executor=ex, shards=3)
        assert run.executor == "ray"
        assert_same_run(run, in_process["seed"])
        marker = tmp_path / "killed"
        again = run_sharded(_blocked("seed"), N, DAYS, SEED, executor=ex, shards=3,
                            shard_fn=functools.partial(_dies_once, marker=str(marker)))
        assert marker.read_text() == "killed"  # a worker did die mid-shard
        assert_same_run(again, in_process["seed"])
    finally:
        ex.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"  # a zombie


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_on_worker_processes_stops_at_once_and_leaves_nothing(tmp_path, presses):
    """Ctrl-C (once, or twice in a row) stops the workers mid-shard: exit 130 within
    seconds, no worker left running, no staging directory, no traceback."""
    import signal
    import subprocess
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialcredit.cli", "simulate", "seed", "-n", "3000000",
         "-d", "365", "--set", "population.block=500000", "--executor", "local",
         "--workers", "2", "--ledger", "-o", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while len(workers) < 2:  # the two workers (and the resource tracker) have started
        assert time.monotonic() < deadline, "no workers in 2 minutes"
        workers = [c for c in _children(proc.pid)
                   if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
        time.sleep(0.2)
    time.sleep(3)  # the workers are in their first shards
    t0 = time.monotonic()
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10, "Ctrl-C waited for the shards to finish"
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(1)
    assert all(_gone(w) for w in workers), "a worker process outlived the run"
    assert not out.exists()
    assert not list(tmp_path.glob(".*staging*")), "a staging directory was left"


def test_societies_out_of_range_are_refused():
    policy = load_scenario("reference")
    many = policy.model_copy(update={"population": policy.population.model_copy(
        update={"companies_per_person": 10.0})})
    with pytest.raises(RunConfigError, match=r"companies; at most 2,000,000,000"):
        simulate(many, 300_000_000, 10, executor="inline")
    with pytest.raises(RunConfigError, match=r"blocks; at most 1,000,000: raise"):
        simulate(_blocked("reference", 100), 200_000_000, 10, executor="inline")


def test_executor_options_that_would_be_ignored_are_refused(tmp_path):
    for args, msg in ((["--executor", "local", "--threads", "2"], "--threads is for a run"),
                      (["--executor", "inline", "--workers", "2"], "--workers is for")):
        res = runner.invoke(app, ["simulate", "reference", "-n", "100", "-d", "5", *args,
                                  "-o", str(tmp_path / "x")])
        assert res.exit_code == 2, res.output
        assert msg in res.output
        assert not (tmp_path / "x").exists()


def test_ingest_refuses_what_is_not_a_ledger_before_making_a_database(tmp_path):
    run = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "reference", "-n", "300", "-d", "5", "-o", str(run),
                              "-q"])
    assert res.exit_code == 0, res.output
    (tmp_path / "empty").mkdir()
    for path, msg in ((run, "is a run directory: give its ledger"),
                      (tmp_path / "empty", "no ledger parts")):
        db = tmp_path / "x.db"
        res = runner.invoke(app, ["ingest", str(path), "--policy", "reference", "--db",
                                  f"sqlite:///{db}"])
        assert res.exit_code == 2, res.output
        assert msg in res.output
        assert not db.exists()


def test_a_child_of_a_block_without_adults_is_not_ingested_as_an_adult(tmp_path):
    import sqlite3

    policy = _blocked("reference", 100)
    policy = policy.model_copy(update={"population": policy.population.model_copy(
        update={"child_share": 0.97})})
    pop = build_population(policy, 3000, SEED)
    unlinked = int((pop.is_child & (pop.guardian < 0)).sum())
    assert unlinked > 0  # some blocks of 100 have no adult
    from socialcredit.engine import compile_policy
    from socialcredit.service import ingest_ledger, upgrade
    from socialcredit.service._rules import Rules

    writer = LedgerWriter(tmp_path, compile_policy(policy), policy)
    simulate(policy, 3000, 30, SEED, ledger=writer, society=writer.society)
    writer.close()
    db = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(db)
    ingest_ledger(tmp_path / "ledger", db, Rules(policy), date(2026, 1, 1))
    with sqlite3.connect(tmp_path / "x.db") as con:
        adults = con.execute("select count(*) from subjects where type = 'person' and"
                             " guardian_id is null").fetchone()[0]
        kids = con.execute("select count(*) from subjects where guardian_id is not null"
                           ).fetchone()[0]
    assert adults == pop.n_adults
    assert kids == int(pop.is_child.sum()) - unlinked
