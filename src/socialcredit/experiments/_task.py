"""One run of an experiment as a task an executor can run anywhere: a small picklable
description in, the run's statistics out. Its key is a hash of everything the result
depends on, so a finished run is recognised by content (`sweep --resume`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from socialcredit import __version__


@dataclass(frozen=True)
class RunTask:
    run_id: int
    point: int
    seed: int
    policy: dict[str, Any]
    """the base policy, as a dict (model_dump)"""
    overrides: dict[str, Any]
    population: int
    days: int
    metrics: tuple[str, ...] | None
    key: str


def task_key(policy: dict[str, Any], overrides: dict[str, Any], population: int,
             days: int, seed: int, metrics: tuple[str, ...] | None) -> str:
    """The content hash of a run: the policy, the overrides, the sizes, the seed, the
    daily metrics kept and the version of socialcredit that computes it."""
    blob = json.dumps({"policy": policy, "overrides": overrides, "population": population,
                       "days": days, "seed": seed, "metrics": metrics,
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


_BASES: dict[str, Any] = {}


def run_task(task: RunTask) -> dict[str, Any]:
    """Run one task (in a worker): its flat summary, daily metrics and timings."""
    from socialcredit.engine import daily_metrics, simulate, summary
    from socialcredit.policy import policy_from_dict
    from socialcredit.stats import flatten

    base_key = hashlib.sha256(json.dumps(task.policy, sort_keys=True,
                                         default=str).encode()).hexdigest()
    base = _BASES.get(base_key)
    if base is None:
        base = policy_from_dict(task.policy, "the experiment's policy")
        _BASES.clear()  # one base at a time: a worker's memory stays flat
        _BASES[base_key] = base
    policy = base.with_overrides(task.overrides) if task.overrides else base
    run = simulate(policy, task.population, task.days, task.seed, threads=1, subjects=False)
    daily = daily_metrics(run)
    if task.metrics is not None:
        daily = {"day": daily["day"], **{m: daily[m] for m in task.metrics}}
    return {"summary": flatten(summary(run)),
            "daily": {k: np.asarray(v) for k, v in daily.items()},
            "seconds": run.seconds, "records": run.records,
            "person_days": run.person_days}
