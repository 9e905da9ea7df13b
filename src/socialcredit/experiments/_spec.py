"""The experiment file: a base policy, the society, seeds, and parameters to vary.

    [experiment]
    name = "misattribution"
    policy = "reference"          # a built-in scenario, or a policy file (relative to here)
    population = 20000
    days = 365
    seeds = 3                     # seeds seed, seed + 1, ... or a list: [1, 5, 9]
    seed = 1                      # the first seed when `seeds` is a count (default 1)
    metrics = ["person_list_blacklist"]   # daily metrics kept (default: all)
    outputs = ["blacklisted", "wrongfully_blacklisted"]  # charted (default: all)

    [sampling]
    method = "grid"               # grid | lhs (Latin hypercube) | sobol
    samples = 16                  # points, for lhs and sobol
    seed = 0                      # the sampler's own seed

    [parameters]
    "channels.camera.misattribution" = [0.0, 0.02, 0.05]        # values
    "lists.blacklist.score_below" = { low = 700, high = 800, steps = 3 }  # a range
    "behaviours.spreading_rumors.rate" = { low = 0.0001, high = 0.01, log = true }

A parameter's path is an override path (policy/_overrides.py). A range is sampled as a
grid of `steps` values (grid), or within [low, high] (lhs, sobol); integer bounds give
integer values. Values lists are crossed in a grid, and drawn by index under lhs and
sobol. Every point is validated as a policy before anything runs.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socialcredit.errors import PolicyError, PolicyFileError, SocialCreditError
from socialcredit.policy import Policy

MAX_POINTS = 100_000
MAX_RUNS = 1_000_000


class ExperimentError(SocialCreditError):
    """An experiment file or its parameters cannot be used; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(_Strict):
    """A parameter's range: sampled within [low, high]."""

    low: float | int
    high: float | int
    steps: Annotated[int, Field(ge=2, le=10_000)] = 5
    """values on a grid, from low to high"""
    log: bool = False
    """spread on a log scale (low > 0)"""

    @model_validator(mode="after")
    def _order(self) -> Range:
        for v in (self.low, self.high):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError("low and high are finite numbers")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def at(self, u: float) -> float | int:
        """The value at quantile u in [0, 1] of the range."""
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.integer:
            return int(min(self.high, max(self.low, math.floor(x + 0.5))))
        return float(x)

    def grid(self) -> list[float | int]:
        values = [self.at(k / (self.steps - 1)) for k in range(self.steps)]
        return list(dict.fromkeys(values))  # integer ranges may repeat values


Values = Annotated[list[Any], Field(min_length=1, max_length=10_000)]


class Sampling(_Strict):
    method: Literal["grid", "lhs", "sobol"] = "grid"
    samples: Annotated[int, Field(ge=1, le=MAX_POINTS)] = 16
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0


class Header(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
    description: str = ""
    policy: Annotated[str, Field(min_length=1)]
    population: Annotated[int, Field(ge=1, le=2_000_000_000)]
    days: Annotated[int, Field(ge=1, le=20_000)]
    seeds: Annotated[int, Field(ge=1, le=1000)] | Annotated[
        list[Annotated[int, Field(ge=0, lt=2**63)]], Field(min_length=1, max_length=1000)] = 1
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    metrics: list[str] | None = None
    outputs: list[str] | None = None


class ExperimentFile(_Strict):
    experiment: Header
    sampling: Sampling = Sampling()
    parameters: dict[str, Range | Values] = Field(default_factory=dict)


class Experiment:
    """An experiment, resolved: the base policy, the seeds and the points to run."""

    def __init__(self, spec: ExperimentFile, policy: Policy, base: Path | None,
                 where: str = "<experiment>") -> None:
        self.spec = spec
        self.policy = policy
        self.policy_source = base
        h = spec.experiment
        self.name, self.population, self.days = h.name, h.population, h.days
        self.seeds = (list(h.seeds) if isinstance(h.seeds, list)
                      else [h.seed + k for k in range(h.seeds)])
        if len(set(self.seeds)) != len(self.seeds):
            raise ExperimentError(f"{where}: experiment.seeds: a seed is listed twice")
        self.parameters = dict(spec.parameters)
        self.metrics = h.metrics
        self.outputs = h.outputs

    def points(self) -> list[dict[str, Any]]:
        """The parameter values of each point, in a stable order."""
        return sample(self.parameters, self.spec.sampling)

    def resolved(self, points: list[dict[str, Any]]) -> dict[str, Any]:
        """What exactly runs: written beside the results (experiment.json)."""
        return {"name": self.name, "description": self.spec.experiment.description,
                "policy": self.policy.meta.name,
                "policy_source": str(self.policy_source) if self.policy_source else None,
                "population": self.population, "days": self.days, "seeds": self.seeds,
                "sampling": (self.spec.sampling.model_dump()
                             if self.spec.sampling.method != "grid" else {"method": "grid"}),
                "parameters": {k: v.model_dump() if isinstance(v, Range) else v
                               for k, v in self.parameters.items()},
                "metrics": self.metrics, "outputs": self.outputs, "points": points}


def sample(parameters: dict[str, Range | list], sampling: Sampling) -> list[dict[str, Any]]:
    """Points for `parameters`: the grid of all values, or `samples` points from a Latin
    hypercube or a scrambled Sobol sequence (scipy.stats.qmc), seeded."""
    names = list(parameters)
    if not names:
        return [{}]
    if sampling.method == "grid":
        axes = [p.grid() if isinstance(p, Range) else list(p) for p in parameters.values()]
        total = math.prod(len(a) for a in axes)
        if total > MAX_POINTS:
            raise ExperimentError(f"the grid has {total:,} points; at most {MAX_POINTS:,}:"
                                  " use fewer steps or values, or method = \"lhs\"")
        import itertools

        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
    from scipy.stats import qmc

    d = len(names)
    if sampling.method == "lhs":
        unit = qmc.LatinHypercube(d=d, seed=sampling.seed).random(sampling.samples)
    else:
        unit = qmc.Sobol(d=d, scramble=True, seed=sampling.seed).random(sampling.samples)
    out = []
    for row in unit:
        point = {}
        for name, u in zip(names, row, strict=True):
            p = parameters[name]
            point[name] = (p.at(float(u)) if isinstance(p, Range)
                           else p[min(int(u * len(p)), len(p) - 1)])
        out.append(point)
    return out


def read_toml(source: str | Path | dict[str, Any], what: str
              ) -> tuple[dict[str, Any], str, Path]:
    """(data, the name messages give it, the folder its relative paths start from) of a
    TOML file, or of a dict given instead (a copy: the caller's is never changed)."""
    if isinstance(source, dict):
        import copy

        return copy.deepcopy(source), f"<{what}>", Path.cwd()
    path = Path(source)
    if not path.is_file():
        raise PolicyFileError(f"{path}: no such {what} file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"{path}: cannot be read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(f"{path}: not valid TOML: {exc}") from exc
    return data, str(path), path.parent


def load_experiment(source: str | Path | dict[str, Any]) -> Experiment:
    """Read and check an experiment (a TOML file, or the same as a dict): the file's
    fields, the base policy, and every point as an overridden policy. Every problem is
    reported at once."""
    from socialcredit.policy._load import field_problems
    from socialcredit.policy._references import dotted
    from socialcredit.scenarios import resolve_policy

    data, where, here = read_toml(source, "experiment")
    try:
        spec = ExperimentFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {dotted(loc) or '(top level)'}: {msg}"
                 for loc, msg in field_problems_plain(exc, field_problems)]
        raise ExperimentError(f"{where}: {len(lines)} problem(s) in the experiment:\n"
                              + "\n".join(lines)) from None
    name = spec.experiment.policy
    candidate = here / name
    try:
        policy, base = resolve_policy(str(candidate) if candidate.exists() else name)
    except SocialCreditError as exc:
        raise ExperimentError(f"{where}: experiment.policy: {exc}") from None
    if spec.sampling.method == "sobol" and spec.sampling.samples & (
            spec.sampling.samples - 1):
        n = spec.sampling.samples
        low = 1 << (n.bit_length() - 1)
        raise ExperimentError(f"{where}: sampling.samples: a Sobol sequence is balanced only"
                              f" for a power of 2 points; {n} is not (take {low} or"
                              f" {low * 2}), or use method = \"lhs\"")
    exp = Experiment(spec, policy, base, where)
    try:
        exp.points()
    except ExperimentError as exc:
        raise ExperimentError(f"{where}: {exc}") from None
    if len(exp.seeds) * 1 > MAX_RUNS:
        raise ExperimentError(f"{where}: too many runs")
    _check_points(exp, where)
    return exp


def field_problems_plain(exc: ValidationError, fn: Any) -> list[tuple[tuple, str]]:
    """Pydantic's errors in the policy loader's words; a parameter that is neither a
    list nor a range gets one message, not one per alternative; an unknown field names
    the fields allowed there."""
    seen: dict[tuple, str] = {}
    for loc, msg in fn(exc):
        if loc and loc[0] == "parameters" and len(loc) >= 2:
            key = loc[:2]
            if "should not be empty" in msg:
                seen[key] = "a list of values needs at least one value"
            elif key not in seen:
                seen[key] = ("a parameter is a list of values, or a range {low, high}"
                             f" ({msg})")
            continue
        if loc[:2] == ("experiment", "seeds"):  # a count or a list: one message
            seen[loc[:2]] = ("a number of seeds (1 to 1000) or a list of distinct seeds"
                             " (integers from 0), such as 3 or [1, 5, 9]")
            continue
        if msg.startswith("unknown field"):
            msg = msg.split(";")[0]  # the loader names a policy's fields; these are ours
            model: Any = ExperimentFile
            for part in loc:
                field = model.model_fields.get(str(part)) if isinstance(model, type) else None
                model = field.annotation if field is not None else None
            if isinstance(model, type) and issubclass(model, BaseModel):
                msg += f"; valid fields here are {', '.join(model.model_fields)}"
        seen[loc] = msg
    return list(seen.items())


def _check_points(exp: Experiment, where: str) -> None:
    """Every point is a valid policy, and the outputs and metrics exist."""
    points = exp.points()
    if len(points) * len(exp.seeds) > MAX_RUNS:
        raise ExperimentError(f"{where}: {len(points):,} points x {len(exp.seeds)} seeds;"
                              f" at most {MAX_RUNS:,} runs")
    _check_names(exp, where)
    found: list[str] = []
    seen: set[str] = set()
    for i, point in enumerate(points):
        try:
            exp.policy.with_overrides(point)
        except PolicyError as exc:
            text = str(exc)
            if text not in seen:
                seen.add(text)
                found.append(f"point {i} ({_show(point)}): {text}")
    if found:
        raise ExperimentError(f"{where}: {len(found)} point(s) are not valid policies:\n"
                              + "\n".join(found[:20])
                              + (f"\n  ... and {len(found) - 20} more" if len(found) > 20
                                 else ""))


def _check_names(exp: Experiment, where: str) -> None:
    """`metrics` and `outputs` name what a run of this policy has (a tiny run says)."""
    from socialcredit.engine import daily_metrics, simulate, summary
    from socialcredit.stats import flatten

    if exp.metrics is None and exp.outputs is None:
        return
    tiny = simulate(exp.policy, 200, 2, exp.seeds[0], threads=1)
    found = []
    for field, wanted, have in (("metrics", exp.metrics, list(daily_metrics(tiny))),
                                ("outputs", exp.outputs, list(flatten(summary(tiny))))):
        unknown = [m for m in wanted or [] if m not in have]
        if unknown:
            found.append(f"  - experiment.{field}: no {', '.join(map(repr, unknown))} in"
                         f" this policy's runs; there are: {', '.join(have)}")
    if found:
        raise ExperimentError(f"{where}: {len(found)} problem(s) in the experiment:\n"
                              + "\n".join(found))


def _show(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items())
