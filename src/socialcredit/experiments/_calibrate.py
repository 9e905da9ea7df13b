"""Calibration (`socialcredit calibrate`): fit a policy's parameters to observed figures.

    socialcredit calibrate POLICY TARGETS.toml --out DIR [--trials N] [--seeds K]
        [--population N] [--days D] [--executor local|ray|inline] [--workers W]

POLICY is a built-in scenario or a policy file. The targets file holds the observations,
the parameters to fit (declared like a sweep's: a range { low, high, log } or a list of
values) and the search's settings; options on the command line win over [calibration]:

    [calibration]
    name = "blacklist-2019"
    population = 20000        # persons per run (default: the policy's [run] population)
    days = 365                # (default: the policy's [run] days)
    seeds = 3                 # seeds per trial: seed, seed + 1, ... or a list [1, 5, 9]
    seed = 1
    trials = 60               # Optuna trials (TPE)
    sampler_seed = 0          # the sampler's seed: the same file gives the same search
    batch = 1                 # trials run at once (more keeps more workers busy)
    first_day = 2019-01-01    # the date of day 0, for targets given by `date`

    [parameters]
    "behaviours.spreading_rumors.rate" = { low = 0.001, high = 0.1, log = true }
    "lists.blacklist.score_below" = { low = 600, high = 900 }

    [first_trial]             # optional: where the search starts
    "behaviours.spreading_rumors.rate" = 0.05

    [[targets]]
    statistic = "blacklisted"           # a summary statistic (end of run), dotted
    value = 0.0094
    tolerance = 0.001                   # the error that counts as one unit

    [[targets]]
    statistic = "person_list_blacklist" # a daily metric, on a day (or `date`); without
    day = 180                           # one, on the last day
    value = 13_000_000
    per = 1_400_000_000                 # a count among this many persons: the run's
    tolerance = 1_000_000               # count is scaled by per / population
    weight = 2.0
    holdout = true                      # never fitted: the prediction error is reported

The objective of a trial is the weighted mean of ((simulated - observed) / tolerance)^2
over the fitted (not held-out) targets, where `simulated` is the mean over the trial's
seeds (the same seeds in every trial: common random numbers, so trials differ by their
parameters, not their draws). Without a tolerance the error is relative to the observed
value (tolerance = |value|). Use `per` only with counts (of persons, records, denials):
summary statistics are already shares, means or rates per adult.

Held-out rows never reach the objective, by construction: the file is split on load into
two immutable tuples, the search is given only the fitted one, and the held-out rows are
read by one function (`evaluate_holdout`) after the search has finished.

It writes, in OUT (which must be new or empty):

    calibrated.toml    the policy with the best parameters (headed by them)
    trials.parquet     every trial: number, state, parameters, objective, and each fitted
                       target's simulated value (column sim:LABEL)
    fit.parquet        each target (fitted and held out) against the fitted policy run
                       with every seed: mean, 95 % interval, min and max over seeds, error
    calibration.json   the settings, the best parameters and the fit, resolved
    report.html        targets against the fitted run with bands across seeds, the
                       prediction error on held-out rows, and the search's progress

In Python: `socialcredit.experiments.calibrate(policy, targets, out, ...)` returns a
`CalibrationResult` (best parameters, the calibrated Policy, the tables as Polars
DataFrames). Experimental: the file format may still change.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socialcredit.errors import PolicyError, RunOutputError, SocialCreditError
from socialcredit.experiments._executor import Executor, get_executor
from socialcredit.experiments._spec import ExperimentError, Range, Values, read_toml
from socialcredit.experiments._task import RunTask, run_task, task_key
from socialcredit.policy import Policy

MAX_TRIALS = 100_000
OBJECTIVE_WORDS = ("weighted mean of ((simulated - observed) / tolerance)^2 over the"
                   " fitted targets")

#: progress(runs_done, runs_total)
Progress = Callable[[int, int], None]
#: on_trial(trial number, its objective or None if it failed, the best so far)
OnTrial = Callable[[int, float | None, float | None], None]


class CalibrationError(ExperimentError):
    """A targets file, or a calibration, cannot be used; the message says why."""


# --- the targets file -----------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Seed = Annotated[int, Field(ge=0, lt=2**63)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class Settings(_Strict):
    """The `[calibration]` table."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                               max_length=64)] = "calibration"
    description: str = ""
    population: Annotated[int, Field(ge=1, le=2_000_000_000)] | None = None
    days: Annotated[int, Field(ge=1, le=20_000)] | None = None
    seeds: Annotated[int, Field(ge=1, le=1000)] | Annotated[
        list[Seed], Field(min_length=1, max_length=1000)] = 3
    seed: Seed = 1
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS)] = 50
    sampler_seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    batch: Annotated[int, Field(ge=1, le=1024)] = 1
    first_day: dt.date | None = None


class TargetRow(_Strict):
    """One `[[targets]]` row."""

    statistic: Annotated[str, Field(min_length=1)]
    value: Annotated[float, Field(allow_inf_nan=False)]
    day: Annotated[int, Field(ge=0)] | None = None
    date: dt.date | None = None
    tolerance: Positive | None = None
    weight: Positive = 1.0
    per: Positive | None = None
    holdout: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _one_time(self) -> TargetRow:
        if self.day is not None and self.date is not None:
            raise ValueError("give a day or a date, not both")
        return self


class TargetsFile(_Strict):
    calibration: Settings = Settings()
    parameters: Annotated[dict[str, Range | Values], Field(min_length=1)]
    first_trial: dict[str, Any] = Field(default_factory=dict)
    targets: Annotated[list[TargetRow], Field(min_length=1, max_length=10_000)]


@dataclass(frozen=True)
class Target:
    """A target, resolved: the statistic (a summary statistic when `day` is None, else a
    daily metric on `day`), the observation and how its error counts."""

    label: str
    statistic: str
    day: int | None
    value: float
    tolerance: float
    weight: float
    per: float | None
    note: str = ""


@dataclass(frozen=True)
class Calibration:
    """A calibration, resolved and checked; nothing has run. `fitted` and `holdout` are
    separate tuples from the start: the search is handed `fitted` alone."""

    name: str
    description: str
    policy: Policy
    policy_source: str | None
    population: int
    days: int
    seeds: tuple[int, ...]
    trials: int
    batch: int
    sampler_seed: int
    parameters: Mapping[str, Range | list[Any]]
    first_trial: Mapping[str, Any]
    fitted: tuple[Target, ...]
    holdout: tuple[Target, ...]

    def resolved(self) -> dict[str, Any]:
        """The settings, for calibration.json (the targets are written from the fit)."""
        return {"name": self.name, "description": self.description,
                "policy": self.policy.meta.name, "policy_source": self.policy_source,
                "population": self.population, "days": self.days, "seeds": list(self.seeds),
                "trials": self.trials, "batch": self.batch,
                "sampler": {"name": "TPE", "seed": self.sampler_seed},
                "parameters": {k: v.model_dump() if isinstance(v, Range) else v
                               for k, v in self.parameters.items()},
                "first_trial": dict(self.first_trial), "objective": OBJECTIVE_WORDS}


def load_calibration(policy: str | Path | Policy, targets: str | Path | dict[str, Any], *,
                     trials: int | None = None, seeds: int | None = None,
                     population: int | None = None, days: int | None = None
                     ) -> Calibration:
    """Read and check a calibration: the policy (a scenario, a file or a Policy), the
    targets file (or the same as a dict), with the arguments winning over its
    [calibration] table. Every statistic is checked against a tiny run of the policy,
    every parameter at its bounds. Nothing else runs."""
    from socialcredit.scenarios import resolve_policy

    if isinstance(policy, Policy):
        base, source = policy, None
    else:
        try:
            base, path = resolve_policy(str(policy))
        except SocialCreditError as exc:
            raise CalibrationError(f"policy {str(policy)!r}: {exc}") from None
        source = str(path)
    data, where, _ = read_toml(targets, "targets")
    calib = data.get("calibration", {})
    if isinstance(calib, dict):
        calib = dict(calib)
        for key, value in (("trials", trials), ("seeds", seeds),
                           ("population", population), ("days", days)):
            if value is not None:
                calib[key] = value
        data = {**data, "calibration": calib}
    try:
        spec = TargetsFile.model_validate(data)
    except ValidationError as exc:
        raise CalibrationError(f"{where}: {exc.error_count()} problem(s) in the targets:\n"
                               + "\n".join(_problems(exc))) from None
    s = spec.calibration
    n = s.population or base.run.population
    d = s.days or base.run.days
    seed_list = (tuple(s.seeds) if isinstance(s.seeds, list)
                 else tuple(s.seed + k for k in range(s.seeds)))
    if len(set(seed_list)) != len(seed_list):
        raise CalibrationError(f"{where}: calibration.seeds lists a seed twice")
    problems: list[str] = []
    _check_parameters(base, spec, problems)
    resolved = _resolve_targets(base, spec, d, seed_list[0], problems)
    if problems:
        raise CalibrationError(f"{where}: {len(problems)} problem(s) in the targets:\n"
                               + "\n".join(f"  - {p}" for p in problems))
    fitted = tuple(t for t, held in resolved if not held)
    holdout = tuple(t for t, held in resolved if held)
    if not fitted:
        raise CalibrationError(f"{where}: every target is held out (holdout = true); at"
                               " least one must be fitted")
    return Calibration(name=s.name, description=s.description, policy=base,
                       policy_source=source, population=n, days=d, seeds=seed_list,
                       trials=s.trials, batch=s.batch, sampler_seed=s.sampler_seed,
                       parameters=MappingProxyType(dict(spec.parameters)),
                       first_trial=MappingProxyType(dict(spec.first_trial)),
                       fitted=fitted, holdout=holdout)


def _problems(exc: ValidationError) -> list[str]:
    """Pydantic's errors by field path; an unknown field lists the fields allowed."""
    out: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = [str(x) for x in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if loc[:1] == ["parameters"] and len(loc) >= 2:
            key = ".".join(loc[:2])
            out.setdefault(key, "a parameter is a list of values, or a range"
                                " { low, high, log }")
            continue
        if err["type"] == "extra_forbidden":
            model: Any = TargetsFile
            for part in loc[:-1]:
                if part.isdigit():
                    continue
                f = model.model_fields.get(part) if isinstance(model, type) else None
                ann = f.annotation if f is not None else None
                model = TargetRow if part == "targets" else ann
            valid = (", ".join(model.model_fields) if isinstance(model, type)
                     and issubclass(model, BaseModel) else "")
            msg = f"unknown field {loc[-1]!r}" + (f"; valid fields here are {valid}"
                                                  if valid else "")
            loc = loc[:-1]
        elif err["type"] == "missing":
            msg = "this field is required"
        elif "input" in err and not isinstance(err["input"], dict | list):
            msg += f", got {err['input']!r}"
        out.setdefault(".".join(loc) or "(top level)", msg)
    return [f"  - {k}: {v}" for k, v in out.items()]


def _check_parameters(base: Policy, spec: TargetsFile, problems: list[str]) -> None:
    """Each parameter's path and bounds (each value of a list) make valid policies, and
    the first trial lies within them."""
    for name, p in spec.parameters.items():
        if isinstance(p, Range):
            ends: list[Any] = [p.low, p.high]
        else:
            ends = list(p)
            bad = [v for v in ends if not isinstance(v, str | int | float | bool)]
            if bad:
                problems.append(f"parameters.{name}: a value to fit is a number, a text or"
                                f" true/false, got {bad[0]!r}")
                continue
        for v in ends:
            try:
                base.with_overrides({name: v})
            except PolicyError as exc:
                problems.append(f"parameters.{name} = {v!r}: {exc}")
                break
    for name, v in spec.first_trial.items():
        p = spec.parameters.get(name)
        if p is None:
            problems.append(f"first_trial.{name}: not a parameter to fit; those are:"
                            f" {', '.join(spec.parameters)}")
        elif isinstance(p, Range):
            if not (isinstance(v, int | float) and not isinstance(v, bool)
                    and p.low <= v <= p.high):
                problems.append(f"first_trial.{name} = {v!r}: must lie in the range"
                                f" [{p.low}, {p.high}]")
            elif p.integer and not isinstance(v, int):
                problems.append(f"first_trial.{name} = {v!r}: an integer range takes an"
                                " integer")
        elif v not in p:
            problems.append(f"first_trial.{name} = {v!r}: not one of the values {p}")


def _resolve_targets(base: Policy, spec: TargetsFile, days: int, seed: int,
                     problems: list[str]) -> list[tuple[Target, bool]]:
    """Each row as a Target, with whether it is held out; statistics checked against
    what a tiny run of the policy has."""
    from socialcredit.engine import daily_metrics, simulate, summary
    from socialcredit.stats import flatten

    tiny = simulate(base, 200, 2, seed, threads=1)
    stats = list(flatten(summary(tiny)))
    daily = [m for m in daily_metrics(tiny) if m != "day"]
    first_day = spec.calibration.first_day
    out: list[tuple[Target, bool]] = []
    labels: dict[str, int] = {}
    for i, row in enumerate(spec.targets):
        where = f"targets[{i}] ({row.statistic})"
        day = row.day
        if row.date is not None:
            if first_day is None:
                problems.append(f"{where}: a target given by date needs [calibration]"
                                " first_day, the date of day 0")
                continue
            day = (row.date - first_day).days
        if row.statistic in stats and day is None:
            if row.per is not None:
                problems.append(f"{where}: per scales counts, and {row.statistic!r} is a"
                                " summary statistic (a share, a mean or a rate per adult);"
                                " remove per, or use a daily metric that counts")
        elif row.statistic in daily:
            if day is None:
                day = days - 1
            elif not 0 <= day < days:
                problems.append(f"{where}: day {day} is outside the run's days 0 to"
                                f" {days - 1}")
        elif row.statistic in stats:
            problems.append(f"{where}: {row.statistic!r} is a summary statistic, known at"
                            " the end of the run only; remove day/date, or use a daily"
                            " metric")
        else:
            problems.append(f"{where}: no statistic {row.statistic!r}; summary statistics"
                            f" (end of run): {', '.join(stats)}; daily metrics (on a day):"
                            f" {', '.join(daily)}")
            continue
        tolerance = row.tolerance
        if tolerance is None:
            if row.value == 0:
                problems.append(f"{where}: value 0 needs a tolerance (without one the error"
                                " is relative to the value)")
                continue
            tolerance = abs(row.value)
        label = row.statistic if day is None else f"{row.statistic}@{day}"
        if label in labels:
            problems.append(f"{where}: the same statistic and day as targets"
                            f"[{labels[label]}]")
            continue
        labels[label] = i
        out.append((Target(label=label, statistic=row.statistic, day=day, value=row.value,
                           tolerance=tolerance, weight=row.weight, per=row.per,
                           note=row.note), row.holdout))
    return out


# --- simulated values and the objective -----------------------------------------------

def simulated(target: Target, results: Sequence[dict[str, Any]],
              population: int) -> list[float | None]:
    """The target's statistic in each run (scaled by per / population where the
    observation is a count among `per` persons); None where a run leaves it undefined."""
    values: list[float | None] = []
    for r in results:
        if target.day is None:
            v = r["summary"].get(target.statistic)
        else:
            v = float(r["daily"][target.statistic][target.day])
        if v is not None and target.per is not None:
            v = v * target.per / population
        values.append(None if v is None or not math.isfinite(v) else float(v))
    return values


def _mean(values: Sequence[float | None]) -> float | None:
    x = [v for v in values if v is not None]
    return math.fsum(x) / len(x) if x else None


def make_objective(fitted: tuple[Target, ...], population: int
                   ) -> Callable[[Sequence[dict[str, Any]]], tuple[float | None,
                                                                   dict[str, float | None]]]:
    """The objective of a trial from its runs (one per seed): the weighted mean squared
    standardised error over `fitted`, and each target's simulated mean. It closes over
    `fitted` alone, the only targets it can ever read."""
    targets = tuple(fitted)
    total_weight = math.fsum(t.weight for t in targets)

    def objective(results: Sequence[dict[str, Any]]
                  ) -> tuple[float | None, dict[str, float | None]]:
        sims: dict[str, float | None] = {}
        acc = 0.0
        for t in targets:
            m = _mean(simulated(t, results, population))
            sims[t.label] = m
            if m is None:
                return None, sims  # undefined in every seed: the trial fails
            acc += t.weight * ((m - t.value) / t.tolerance) ** 2
        return acc / total_weight, sims

    return objective


# --- the search -----------------------------------------------------------------------

def _suggest(trial: Any, parameters: Mapping[str, Range | list[Any]]) -> dict[str, Any]:
    point: dict[str, Any] = {}
    for name, p in parameters.items():
        if isinstance(p, Range):
            if p.integer:
                point[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
            else:
                point[name] = trial.suggest_float(name, float(p.low), float(p.high),
                                                  log=p.log)
        else:
            point[name] = trial.suggest_categorical(name, list(p))
    return point


def _tasks(policy_dump: dict[str, Any], point: dict[str, Any], population: int, days: int,
           seeds: Sequence[int], metrics: tuple[str, ...] | None, first_id: int,
           ref: int) -> list[RunTask]:
    return [RunTask(run_id=first_id + k, point=ref, seed=s, policy=policy_dump,
                    overrides=point, population=population, days=days, metrics=metrics,
                    key=task_key(policy_dump, point, population, days, s, metrics))
            for k, s in enumerate(seeds)]


def search(policy: Policy, parameters: Mapping[str, Range | list[Any]],
           first_trial: Mapping[str, Any], objective: Callable[..., Any],
           metrics: tuple[str, ...], *, population: int, days: int, seeds: Sequence[int],
           trials: int, batch: int, sampler_seed: int, executor: Executor,
           progress: Progress | None = None, on_trial: OnTrial | None = None,
           runs_after: int = 0) -> tuple[Any, list[dict[str, Any]]]:
    """Optuna's TPE over `parameters`: each trial runs every seed on `executor` and is
    scored by `objective` (built from the fitted targets; this function sees no
    targets). Returns the study and one row per trial."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="minimize",
                                    sampler=optuna.samplers.TPESampler(seed=sampler_seed))
        if first_trial:
            study.enqueue_trial(dict(first_trial))
        dump = policy.model_dump(mode="json", exclude_none=True)
        total_runs = trials * len(seeds) + runs_after
        done_runs = 0
        rows: list[dict[str, Any]] = []
        best: float | None = None
        if progress:
            progress(0, total_runs)
        while len(rows) < trials:
            asked = [study.ask() for _ in range(min(batch, trials - len(rows)))]
            tasks: list[RunTask] = []
            points: dict[int, dict[str, Any]] = {}
            failed: dict[int, str] = {}
            for trial in asked:
                point = _suggest(trial, parameters)
                points[trial.number] = point
                try:
                    policy.with_overrides(point)
                except PolicyError as exc:
                    failed[trial.number] = str(exc)
                    continue
                tasks += _tasks(dump, point, population, days, seeds, metrics,
                                len(tasks), trial.number)
            results: dict[int, dict[int, dict[str, Any]]] = {}
            t0 = time.perf_counter()
            for task, result in executor.map_unordered(run_task, tasks):
                results.setdefault(task.point, {})[task.seed] = result
                done_runs += 1
                if progress:
                    progress(done_runs, total_runs)
            took = time.perf_counter() - t0
            for trial in asked:
                n = trial.number
                row: dict[str, Any] = {"trial": n, **points[n]}
                if n in failed:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    done_runs += len(seeds)
                    row.update(state="fail", objective=None, reason=failed[n])
                else:
                    runs = [results[n][s] for s in seeds]
                    value, sims = objective(runs)
                    if value is None:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        row.update(state="fail", objective=None,
                                   reason="a target's statistic is undefined in every seed")
                    else:
                        study.tell(trial, value)
                        row.update(state="complete", objective=value, reason=None)
                        best = value if best is None else min(best, value)
                    row.update({f"sim:{k}": v for k, v in sims.items()})
                    row["engine_seconds"] = sum(r["seconds"] for r in runs)
                row["batch_seconds"] = took
                rows.append(row)
                if on_trial:
                    on_trial(n, row["objective"], best)
            if progress:
                progress(done_runs, total_runs)
    finally:
        optuna.logging.set_verbosity(verbosity)
    if best is None:
        raise CalibrationError(f"all {trials} trials failed; the first: "
                               f"{rows[0].get('reason')}")
    return study, rows


# --- after the search: the fitted run, the fit and the held-out rows ------------------

def evaluate(targets: Sequence[Target], results: Sequence[dict[str, Any]], population: int,
             *, holdout: bool) -> list[dict[str, Any]]:
    """Each target against the fitted runs (one per seed): the mean, its 95 % interval,
    min and max over seeds, and the error."""
    from socialcredit.stats import describe

    rows = []
    for t in targets:
        d = describe(simulated(t, results, population))
        error = None if d["mean"] is None else d["mean"] - t.value
        rows.append({
            "label": t.label, "statistic": t.statistic, "day": t.day, "holdout": holdout,
            "observed": t.value, "tolerance": t.tolerance, "weight": t.weight, "per": t.per,
            "mean": d["mean"], "lo": d["lo"], "hi": d["hi"], "min": d["min"],
            "max": d["max"], "error": error,
            "relative_error": None if error is None or t.value == 0 else error / abs(t.value),
            "z": None if error is None else error / t.tolerance,
            "within_tolerance": None if error is None else abs(error) <= t.tolerance,
            "note": t.note})
    return rows


def evaluate_holdout(holdout: tuple[Target, ...], results: Sequence[dict[str, Any]],
                     population: int) -> list[dict[str, Any]]:
    """The prediction error on the held-out rows: the only reader of them, called once
    the search has finished."""
    return evaluate(holdout, results, population, holdout=True)


@dataclass
class CalibrationResult:
    """What a calibration found: the best parameters and objective, the calibrated
    policy, every trial, the fit of each target (held-out rows included, flagged), and
    the directory written."""

    best: dict[str, Any]
    objective: float
    policy: Policy
    trials: Any
    fit: Any
    out: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def holdout(self) -> Any:
        """The held-out rows of `fit`: the prediction error of the calibrated policy."""
        import polars as pl

        return self.fit.filter(pl.col("holdout"))

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
                         for k, v in self.best.items())
        return (f"CalibrationResult({self.settings.get('name', '')!r}: best {best};"
                f" objective {self.objective:.4g} after {self.trials.height} trials;"
                f" {self.out})")


def calibrate(policy: str | Path | Policy | None, targets: str | Path | dict[str, Any] |
              Calibration, out: str | Path, *, trials: int | None = None,
              seeds: int | None = None, population: int | None = None,
              days: int | None = None, executor: str | Executor = "local",
              workers: int | None = None, address: str | None = None,
              progress: Progress | None = None, on_trial: OnTrial | None = None,
              report: bool = True) -> CalibrationResult:
    """Fit the parameters of `policy` (a scenario, a policy file or a Policy) to the
    targets (a file, the same as a dict, or a loaded `Calibration`, which carries its
    policy: then pass None) with Optuna, and write `out` (see the module's docstring).

    >>> # res = calibrate("reference", "targets.toml", "runs/fit", trials=60)
    >>> # res.best, res.holdout.select("label", "observed", "mean", "error")
    """
    if isinstance(targets, Calibration):
        if policy is not None:
            raise CalibrationError("a loaded Calibration carries its policy; pass None")
        cal = targets
    else:
        if policy is None:
            raise CalibrationError("name the policy to calibrate (a scenario or a file)")
        cal = load_calibration(policy, targets, trials=trials, seeds=seeds,
                               population=population, days=days)
    out = Path(out)
    _check_out(out)
    objective = make_objective(cal.fitted, cal.population)
    metrics = tuple(dict.fromkeys(t.statistic for t in cal.fitted if t.day is not None))
    # the executor first: a cluster that cannot be reached leaves nothing written
    ex = get_executor(executor, workers, address) if isinstance(executor, str) else executor
    try:
        _make_out(out)
        study, rows = search(cal.policy, cal.parameters, cal.first_trial, objective,
                             metrics, population=cal.population, days=cal.days,
                             seeds=cal.seeds, trials=cal.trials, batch=cal.batch,
                             sampler_seed=cal.sampler_seed, executor=ex,
                             progress=progress, on_trial=on_trial,
                             runs_after=len(cal.seeds))
        best = dict(study.best_trial.params)
        best = {name: best[name] for name in cal.parameters}  # the file's order
        # the fitted policy with every seed, every daily metric kept (for the report)
        tasks = _tasks(cal.policy.model_dump(mode="json", exclude_none=True), best,
                       cal.population, cal.days, cal.seeds, None, 0, -1)
        by_seed = {}
        done = cal.trials * len(cal.seeds)
        total = done + len(cal.seeds)
        for task, result in ex.map_unordered(run_task, tasks):
            by_seed[task.seed] = result
            done += 1
            if progress:
                progress(done, total)
    finally:
        if isinstance(executor, str):
            ex.close()
    fitted_runs = [by_seed[s] for s in cal.seeds]
    fit_rows = evaluate(cal.fitted, fitted_runs, cal.population, holdout=False)
    holdout_rows = evaluate_holdout(cal.holdout, fitted_runs, cal.population)
    calibrated = cal.policy.with_overrides(best)
    settings = cal.resolved()
    result = CalibrationResult(best=best, objective=float(study.best_value),
                               policy=calibrated, trials=_trials_frame(rows),
                               fit=_fit_frame(fit_rows + holdout_rows), out=out,
                               settings=settings)
    _write(out, cal, result, fitted_runs, fit_rows + holdout_rows, report)
    return result


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise RunOutputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise RunOutputError(f"{out}: not empty; a calibration writes a new directory:"
                             " choose another --out (nothing was written)")


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunOutputError(f"{out}: cannot create the directory ({exc})") from exc


def _trials_frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    frame = pl.DataFrame([{k: r.get(k) for k in names} for r in rows],
                         infer_schema_length=None)
    # columns that are null in every trial still get their type
    text = {"state", "reason"}
    return frame.with_columns([pl.col(c).cast(pl.String if c in text else pl.Float64)
                               for c, t in frame.schema.items() if t == pl.Null])


_FIT_SCHEMA = {"label": "str", "statistic": "str", "day": "int", "holdout": "bool",
               "observed": "float", "tolerance": "float", "weight": "float",
               "per": "float", "mean": "float", "lo": "float", "hi": "float",
               "min": "float", "max": "float", "error": "float", "relative_error": "float",
               "z": "float", "within_tolerance": "bool", "note": "str"}


def _fit_frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    types = {"str": pl.String, "int": pl.Int64, "bool": pl.Boolean, "float": pl.Float64}
    schema = {k: types[v] for k, v in _FIT_SCHEMA.items()}
    return pl.DataFrame(rows, schema=schema)


def _write(out: Path, cal: Calibration, result: CalibrationResult,
           runs: list[dict[str, Any]], rows: list[dict[str, Any]], report: bool) -> None:
    from socialcredit.experiments._sweep import _write_text
    from socialcredit.policy import policy_toml

    _write_text(out / "calibrated.toml", policy_toml(result.policy, result.best))
    for name, frame in (("trials", result.trials), ("fit", result.fit)):
        tmp = out / f".{name}.parquet.tmp"
        frame.write_parquet(tmp, compression="zstd")
        tmp.replace(out / f"{name}.parquet")
    trials = result.trials
    held = [r for r in rows if r["holdout"]]
    payload = {**result.settings, "best": result.best, "best_objective": result.objective,
               "best_trial": _best_trial(trials),
               "trials_complete": int((trials["state"] == "complete").sum()),
               "trials_failed": int((trials["state"] == "fail").sum()),
               "holdout_error": _holdout_summary(held), "targets": rows}
    _write_text(out / "calibration.json",
                json.dumps(payload, indent=2, default=str) + "\n")
    if report:
        from socialcredit.experiments._calibrate_report import write_fit_report

        write_fit_report(out, result, runs, rows, cal.population)


def _best_trial(trials: Any) -> int | None:
    done = trials.filter(trials["state"] == "complete")
    return None if done.is_empty() else int(done.sort("objective")["trial"][0])


def _holdout_summary(held: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The prediction error over the held-out rows: mean absolute relative error, root
    mean squared standardised error, and how many lie within their tolerance."""
    ok = [r for r in held if r["error"] is not None]
    if not ok:
        return None
    rel = [abs(r["relative_error"]) for r in ok if r["relative_error"] is not None]
    return {"rows": len(held),
            "mean_abs_relative_error": math.fsum(rel) / len(rel) if rel else None,
            "rms_z": math.sqrt(math.fsum(r["z"] ** 2 for r in ok) / len(ok)),
            "within_tolerance": sum(bool(r["within_tolerance"]) for r in ok)}
