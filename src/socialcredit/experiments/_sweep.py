"""Sweeps: every point of an experiment with every seed, on an executor.

    OUT/experiment.json   the experiment, resolved: base policy, seeds, every point
    OUT/runs.parquet      one row per run: run_id, point, seed, the parameters, every
                          summary statistic (dotted names, as in summary.json), seconds
    OUT/daily.parquet     the daily metrics of every run, with run_id (and point, seed)
    OUT/report.html       the outcomes against each parameter
    OUT/parts/            one file pair per finished run, named by its content hash

Runs are written as they finish (parts/), so an interrupted sweep loses only the runs in
flight, and `resume` skips every run whose content hash has a part. The tables are
assembled from the parts one at a time at the end: memory stays flat however many runs
there are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.errors import RunOutputError
from socialcredit.experiments._executor import Executor, get_executor
from socialcredit.experiments._spec import Experiment, ExperimentError, load_experiment
from socialcredit.experiments._task import RunTask, run_task, task_key

#: progress(runs_done, runs_total)
SweepProgress = Callable[[int, int], None]


def sweep(experiment: str | Path | dict[str, Any] | Experiment, out: str | Path, *,
          executor: str | Executor = "local", workers: int | None = None,
          address: str | None = None, resume: bool = False,
          progress: SweepProgress | None = None, report: bool = True) -> Any:
    """Run an experiment (a file, a dict of the same, or a loaded `Experiment`) and
    write its directory `out`; returns runs.parquet as a Polars DataFrame.

    >>> # df = socialcredit.sweep("misattribution.toml", "runs/sweep")
    >>> # df.group_by("channels.camera.misattribution").agg(pl.col("blacklisted").mean())
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    points = exp.points()
    return run_points(exp, points, out, executor=executor, workers=workers,
                      address=address, resume=resume, progress=progress, report=report)


def run_points(exp: Experiment, points: list[dict[str, Any]], out: str | Path, *,
               executor: str | Executor = "local", workers: int | None = None,
               address: str | None = None, resume: bool = False,
               progress: SweepProgress | None = None, report: bool = True,
               kind: str = "sweep", extra: dict[str, Any] | None = None) -> Any:
    """Run `points` x the experiment's seeds into `out` (see the module's docstring)."""

    out = Path(out)
    _check_out(out, resume)
    # the executor first: a cluster that cannot be reached leaves nothing written
    ex = get_executor(executor, workers, address) if isinstance(executor, str) else executor
    try:
        return _run(exp, points, out, ex, progress, report, kind, extra)
    finally:
        if isinstance(executor, str):
            ex.close()


def _run(exp: Experiment, points: list[dict[str, Any]], out: Path, ex: Executor,
         progress: SweepProgress | None, report: bool, kind: str,
         extra: dict[str, Any] | None) -> Any:
    import polars as pl

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunOutputError(f"{out}: cannot create the directory ({exc})") from exc
    tasks = make_tasks(exp, points)
    resolved = {**exp.resolved(points), "kind": kind, "runs": len(tasks), **(extra or {})}
    _write_text(out / "experiment.json", json.dumps(resolved, indent=2, default=str) + "\n")
    parts = out / "parts"
    parts.mkdir(exist_ok=True)
    todo = [t for t in tasks if not (parts / f"{t.key}.run.json").is_file()]
    done = len(tasks) - len(todo)
    if progress:
        progress(done, len(tasks))
    for task, result in ex.map_unordered(run_task, todo):
        _write_part(parts, task, result)
        done += 1
        if progress:
            progress(done, len(tasks))
    runs = _assemble(out, exp, tasks)
    if report:
        from socialcredit.experiments._report import write_sweep_report

        write_sweep_report(out, exp, resolved, runs)
    return pl.from_arrow(runs)


def make_tasks(exp: Experiment, points: list[dict[str, Any]]) -> list[RunTask]:
    base = exp.policy.model_dump(mode="json", exclude_none=True)
    metrics = tuple(exp.metrics) if exp.metrics is not None else None
    tasks = []
    for p, point in enumerate(points):
        for seed in exp.seeds:
            key = task_key(base, point, exp.population, exp.days, seed, metrics)
            tasks.append(RunTask(run_id=len(tasks), point=p, seed=seed, policy=base,
                                 overrides=point, population=exp.population,
                                 days=exp.days, metrics=metrics, key=key))
    return tasks


def _check_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunOutputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "experiment.json").is_file():
            raise RunOutputError(f"{out}: not empty and not an experiment directory; choose"
                                 " another --out, nothing was written")
        if not resume:
            raise RunOutputError(f"{out}: holds an experiment already; pass --resume to"
                                 " continue it (finished runs are kept), or choose another"
                                 " --out")


def _write_part(parts: Path, task: RunTask, result: dict[str, Any]) -> None:
    """The daily table first, then the run's row: a run counts as finished when its
    .run.json exists, and both are written whole (a temporary name, then a rename)."""
    daily = pa.table(result["daily"])
    tmp = parts / f".{task.key}.daily.parquet.tmp"
    pq.write_table(daily, tmp, compression="zstd")
    os.replace(tmp, parts / f"{task.key}.daily.parquet")
    row = {"summary": result["summary"], "seconds": result["seconds"],
           "records": result["records"], "person_days": result["person_days"]}
    _write_text(parts / f"{task.key}.run.json", json.dumps(row) + "\n")


def _assemble(out: Path, exp: Experiment, tasks: list[RunTask]) -> pa.Table:
    """runs.parquet and daily.parquet from the parts, one part at a time."""
    parts = out / "parts"
    rows: list[dict[str, Any]] = []
    stat_names: dict[str, None] = {}
    param_names = list(exp.parameters)
    writer: pq.ParquetWriter | None = None
    tmp_daily = out / ".daily.parquet.tmp"
    schema: pa.Schema | None = None
    try:
        for task in tasks:
            row = json.loads((parts / f"{task.key}.run.json").read_text(encoding="utf-8"))
            stat_names.update(dict.fromkeys(row["summary"]))
            rows.append({"task": task, **row})
            daily = pq.read_table(parts / f"{task.key}.daily.parquet")
            n = daily.num_rows
            daily = daily.add_column(0, "seed", pa.array(np.full(n, task.seed, np.int64)))
            daily = daily.add_column(0, "point", pa.array(np.full(n, task.point, np.int32)))
            daily = daily.add_column(0, "run_id", pa.array(np.full(n, task.run_id,
                                                                    np.int32)))
            if writer is None:
                schema = daily.schema
                writer = pq.ParquetWriter(tmp_daily, schema, compression="zstd")
            writer.write_table(_conform(daily, schema))
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(tmp_daily, out / "daily.parquet")
    clash = sorted(set(param_names) & set(stat_names))
    if clash:
        raise ExperimentError(f"a parameter has the name of a statistic: {clash}")
    cols: dict[str, Any] = {
        "run_id": pa.array([r["task"].run_id for r in rows], pa.int32()),
        "point": pa.array([r["task"].point for r in rows], pa.int32()),
        "seed": pa.array([r["task"].seed for r in rows], pa.int64()),
    }
    for name in param_names:
        cols[name] = pa.array([r["task"].overrides.get(name) for r in rows])
    for name in stat_names:
        cols[name] = pa.array([r["summary"].get(name) for r in rows], pa.float64())
    cols["seconds"] = pa.array([r["seconds"] for r in rows], pa.float64())
    cols["records"] = pa.array([r["records"] for r in rows], pa.int64())
    cols["key"] = pa.array([r["task"].key for r in rows], pa.string())
    table = pa.table(cols)
    tmp = out / ".runs.parquet.tmp"
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out / "runs.parquet")
    return table


def _conform(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """A run's daily table with the first run's columns and types (a column a run lacks
    is null)."""
    if schema is None or table.schema.equals(schema):
        return table
    cols = []
    for field in schema:
        if field.name in table.column_names:
            cols.append(table.column(field.name).cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.table(cols, schema=schema)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunOutputError(f"{path}: cannot be written ({exc})") from exc
