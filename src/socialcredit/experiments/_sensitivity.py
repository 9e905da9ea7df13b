"""Sensitivity analysis (`socialcredit sensitivity`): which parameters drive an outcome.

    socialcredit sensitivity EXPERIMENT.toml --out DIR [--method morris|sobol]
        [--samples N] [--executor local|ray|inline] [--workers W] [--resume]

The experiment file is a sweep's (see `socialcredit sweep`) with every parameter a range
and one more table, `[sensitivity]`; options on the command line win over the table:

    [sensitivity]
    method = "sobol"       # morris (screening, the default) | sobol (variance shares)
    samples = 64           # Morris: trajectories (runs: samples x (parameters + 1));
                           # Sobol: base samples, a power of 2 (samples x (parameters + 2))
    levels = 4             # Morris: grid levels (even)
    seed = 0               # the sampler's seed (SALib)
    outputs = ["blacklisted", "records_per_adult.spreading_rumors"]
                           # summary statistics analysed (default: [experiment] outputs)

SALib draws points in the unit cube; each coordinate u is mapped into its parameter's
range by `Range.at(u)`, so a `log = true` range is analysed on a log scale and an integer
range in whole steps. A `[sampling]` table is refused (the method samples). Each point
runs with every seed of the experiment (common random numbers) and the model's value at a
point is the mean over those seeds, so seed noise shrinks with more seeds but never
vanishes: an index below its confidence half-width is indistinguishable from zero.

It writes the sweep's files (runs.parquet, daily.parquet, experiment.json, report.html:
`--resume` skips finished runs) and:

    OUT/indices.parquet   one row per output and parameter. Morris: mu_star,
                          mu_star_conf (95 % bootstrap half-width), mu, sigma.
                          Sobol: S1, S1_conf, ST, ST_conf (first and total order)
    OUT/indices.json      the same, with the method and its settings
    OUT/sensitivity.html  bar charts of the indices with their confidence intervals

Morris' mu_star is in the output's units per whole range of a parameter; Sobol's S1 and
ST are shares of the output's variance (ST >= S1; ST - S1 is the part due to
interactions). An output that does not vary at all has every index 0.

In Python: `socialcredit.experiments.sensitivity(experiment, out, ...)` returns the
indices as a Polars DataFrame. Experimental: the file format may still change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from socialcredit.errors import PolicyError, SocialCreditError
from socialcredit.experiments._executor import Executor
from socialcredit.experiments._spec import (
    Experiment,
    ExperimentError,
    Range,
    load_experiment,
    read_toml,
)

METHODS = ("morris", "sobol")
MAX_SAMPLES = 1 << 16
CONF_LEVEL = 0.95
RESAMPLES = 200

#: progress(runs_done, runs_total)
Progress = Callable[[int, int], None]


class SensitivityOptions(BaseModel):
    """The `[sensitivity]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    method: Literal["morris", "sobol"] = "morris"
    samples: Annotated[int, Field(ge=2, le=MAX_SAMPLES)] | None = None
    levels: Annotated[int, Field(ge=2, le=100)] = 4
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    outputs: Annotated[list[str], Field(min_length=1)] | None = None


DEFAULT_SAMPLES = {"morris": 10, "sobol": 64}


class SensitivityPlan:
    """An experiment ready for analysis: the experiment (every parameter a range), the
    method's options, the outputs, and the unit-cube sample with its points."""

    def __init__(self, exp: Experiment, options: SensitivityOptions,
                 outputs: list[str]) -> None:
        self.exp = exp
        self.options = options
        self.method = options.method
        self.samples = options.samples or DEFAULT_SAMPLES[options.method]
        self.outputs = outputs
        self.names = list(exp.parameters)
        self.ranges: list[Range] = [exp.parameters[n] for n in self.names]  # type: ignore[misc]
        self.problem = {"num_vars": len(self.names), "names": self.names,
                        "bounds": [[0.0, 1.0]] * len(self.names)}
        self.unit = self._unit_sample()
        self.points = [{n: r.at(float(u)) for n, r, u in zip(self.names, self.ranges, row,
                                                              strict=True)}
                       for row in self.unit]

    def _unit_sample(self) -> Any:
        if self.method == "morris":
            from SALib.sample import morris

            return morris.sample(self.problem, self.samples, num_levels=self.options.levels,
                                 seed=self.options.seed)
        from SALib.sample import sobol

        return sobol.sample(self.problem, self.samples, calc_second_order=False,
                            scramble=True, seed=self.options.seed)

    def settings(self) -> dict[str, Any]:
        s: dict[str, Any] = {"method": self.method, "samples": self.samples,
                             "seed": self.options.seed, "outputs": self.outputs,
                             "points": len(self.points), "conf_level": CONF_LEVEL,
                             "resamples": RESAMPLES}
        if self.method == "morris":
            s["levels"] = self.options.levels
        return s


def load_sensitivity(source: str | Path | dict[str, Any], *, method: str | None = None,
                     samples: int | None = None, outputs: list[str] | None = None
                     ) -> SensitivityPlan:
    """Read and check a sensitivity experiment (a TOML file or the same as a dict): the
    `[sensitivity]` table (the arguments, where given, win over it), then the rest as an
    experiment with every point validated as a policy. Nothing runs."""
    data, where, here = read_toml(source, "experiment")
    table = data.pop("sensitivity", {})
    if not isinstance(table, dict):
        raise ExperimentError(f"{where}: [sensitivity] is a table (method, samples, levels,"
                              " seed, outputs)")
    if "sampling" in data:
        raise ExperimentError(f"{where}: [sampling] is for sweeps; a sensitivity experiment"
                              " is sampled by its method: remove [sampling] and set"
                              " [sensitivity] method and samples")
    table = dict(table)
    for key, value in (("method", method), ("samples", samples), ("outputs", outputs)):
        if value is not None:
            table[key] = value
    try:
        options = SensitivityOptions.model_validate(table)
    except ValidationError as exc:
        lines = [f"  - sensitivity.{'.'.join(map(str, e['loc'])) or '(table)'}: {e['msg']}"
                 for e in exc.errors()]
        raise ExperimentError(f"{where}: {len(lines)} problem(s) in [sensitivity]"
                              f" (valid fields: {', '.join(SensitivityOptions.model_fields)};"
                              f" method is one of {', '.join(METHODS)}):\n"
                              + "\n".join(lines)) from None
    _check_parameters(data, where)
    header = data.get("experiment")
    wanted = options.outputs or (header.get("outputs") if isinstance(header, dict) else None)
    if not wanted:
        raise ExperimentError(f"{where}: name the outputs to analyse: [sensitivity] outputs"
                              " = [\"blacklisted\", ...] (summary statistics, dotted as in"
                              " summary.json), or [experiment] outputs")
    if isinstance(header, dict):
        header = dict(header)
        header["outputs"] = list(wanted)  # also checked against a run's statistics
        policy = header.get("policy")
        if isinstance(policy, str) and (here / policy).exists():
            header["policy"] = str((here / policy).resolve())  # relative to the file
        data["experiment"] = header
    # The experiment's own check validates the points of [sampling]; one point keeps it
    # quick, and every point of the method is validated below.
    data["sampling"] = {"method": "lhs", "samples": 1, "seed": 0}
    try:
        exp = load_experiment(data)
    except SocialCreditError as exc:
        raise type(exc)(str(exc).replace("<experiment>", where, 1)) from None
    samples_ = options.samples or DEFAULT_SAMPLES[options.method]
    _check_sizes(options, samples_, len(exp.parameters), len(exp.seeds), where)
    plan = SensitivityPlan(exp, options, list(wanted))
    _check_points(plan, where)
    return plan


def _check_parameters(data: dict[str, Any], where: str) -> None:
    """Every parameter is a range: a list of values has no place in the unit cube."""
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise ExperimentError(f"{where}: [parameters] names no parameter; a sensitivity"
                              " analysis needs at least one range, such as"
                              " \"channels.camera.misattribution\" = { low = 0.0, high = 0.1 }")
    lists = [name for name, v in params.items() if isinstance(v, list)]
    if lists:
        raise ExperimentError(
            f"{where}: {len(lists)} parameter(s) are lists of values, but a sensitivity"
            " analysis needs every parameter as a range { low, high } (log = true for a log"
            f" scale): {', '.join(map(repr, lists))}")


def _check_sizes(options: SensitivityOptions, samples: int, d: int, seeds: int,
                 where: str) -> None:
    from socialcredit.experiments._spec import MAX_RUNS

    if options.method == "sobol":
        if samples & (samples - 1):
            raise ExperimentError(f"{where}: sensitivity.samples = {samples}: Sobol's"
                                  " sequence needs a power of 2 (16, 32, 64, 128, ...)")
        points = samples * (d + 2)
    else:
        if options.levels % 2:
            raise ExperimentError(f"{where}: sensitivity.levels = {options.levels}: Morris"
                                  " needs an even number of levels (4, 6, 8, ...)")
        points = samples * (d + 1)
    if points * seeds > MAX_RUNS:
        raise ExperimentError(f"{where}: {points:,} points x {seeds} seeds; at most"
                              f" {MAX_RUNS:,} runs: fewer samples or seeds")


def _check_points(plan: SensitivityPlan, where: str) -> None:
    """Every point of the sample is a valid policy (a range may be valid at its ends
    alone, or only with the other parameters at some values)."""
    found: dict[str, int] = {}
    for i, point in enumerate(plan.points):
        try:
            plan.exp.policy.with_overrides(point)
        except PolicyError as exc:
            found.setdefault(str(exc), i)
    if found:
        lines = [f"point {i} ({', '.join(f'{k}={v!r}' for k, v in plan.points[i].items())}):"
                 f" {text}" for text, i in list(found.items())[:20]]
        raise ExperimentError(f"{where}: {len(found)} kind(s) of point are not valid"
                              " policies:\n" + "\n".join(lines))


def sensitivity(experiment: str | Path | dict[str, Any] | SensitivityPlan, out: str | Path,
                *, method: str | None = None, samples: int | None = None,
                outputs: list[str] | None = None, executor: str | Executor = "local",
                workers: int | None = None, address: str | None = None,
                resume: bool = False, progress: Progress | None = None,
                report: bool = True) -> Any:
    """Morris screening or Sobol indices of an experiment's outputs: runs every point of
    the method's sample with every seed (through the sweep machinery), writes the
    directory `out` (see the module's docstring) and returns the indices as a Polars
    DataFrame, one row per output and parameter.

    >>> # idx = sensitivity("rumours.toml", "runs/sens", method="sobol", samples=64)
    >>> # idx.filter(pl.col("output") == "blacklisted").sort("ST", descending=True)
    """
    from socialcredit.experiments._sweep import _write_text, run_points

    plan = (experiment if isinstance(experiment, SensitivityPlan)
            else load_sensitivity(experiment, method=method, samples=samples,
                                  outputs=outputs))
    settings = plan.settings()
    extra = {"sensitivity": settings,
             "sampling": {"method": plan.method, "samples": plan.samples,
                          "seed": plan.options.seed}}
    runs = run_points(plan.exp, plan.points, out, executor=executor, workers=workers,
                      address=address, resume=resume, progress=progress, report=report,
                      kind="sensitivity", extra=extra)
    indices = analyse(plan, runs)
    out = Path(out)
    tmp = out / ".indices.parquet.tmp"
    indices.write_parquet(tmp, compression="zstd")
    tmp.replace(out / "indices.parquet")
    payload = {**settings, "parameters": {n: r.model_dump() for n, r in
                                          zip(plan.names, plan.ranges, strict=True)},
               "indices": indices.to_dicts()}
    _write_text(out / "indices.json", json.dumps(payload, indent=2) + "\n")
    if report:
        write_sensitivity_report(out, plan, indices)
    return indices


def model_values(plan: SensitivityPlan, runs: Any, output: str) -> Any:
    """The model's value at each point: the mean of `output` over the point's seeds."""
    import numpy as np
    import polars as pl

    if output not in runs.columns:
        raise ExperimentError(f"output {output!r} is not a statistic of these runs")
    means = (runs.group_by("point").agg(pl.col(output).drop_nans().mean().alias("y"))
             .sort("point"))
    y = np.full(len(plan.points), np.nan)
    y[means["point"].to_numpy()] = means["y"].fill_null(np.nan).to_numpy()
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        i = int(missing[0])
        shown = ", ".join(f"{k}={v!r}" for k, v in plan.points[i].items())
        raise ExperimentError(f"output {output!r} is undefined at {missing.size} point(s),"
                              f" first at point {i} ({shown}), in every seed: choose an"
                              " output that every run defines")
    return y


def analyse(plan: SensitivityPlan, runs: Any) -> Any:
    """The indices of each output (SALib), as a Polars DataFrame."""
    import numpy as np
    import polars as pl

    rows: list[dict[str, Any]] = []
    for output in plan.outputs:
        y = model_values(plan, runs, output)
        constant = bool(np.ptp(y) == 0.0)
        if plan.method == "morris":
            res = _morris(plan, y, constant)
            for j, name in enumerate(plan.names):
                rows.append({"output": output, "parameter": name,
                             "mu_star": _f(res["mu_star"][j]),
                             "mu_star_conf": _f(res["mu_star_conf"][j]),
                             "mu": _f(res["mu"][j]), "sigma": _f(res["sigma"][j])})
        else:
            res = _sobol(plan, y, constant)
            for j, name in enumerate(plan.names):
                rows.append({"output": output, "parameter": name,
                             "S1": _f(res["S1"][j]), "S1_conf": _f(res["S1_conf"][j]),
                             "ST": _f(res["ST"][j]), "ST_conf": _f(res["ST_conf"][j])})
    return pl.DataFrame(rows)


def _f(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _morris(plan: SensitivityPlan, y: Any, constant: bool) -> dict[str, Any]:
    import numpy as np

    d = len(plan.names)
    if constant:
        z = np.zeros(d)
        return {"mu_star": z, "mu_star_conf": z, "mu": z, "sigma": z}
    from SALib.analyze import morris

    with np.errstate(all="ignore"):
        return morris.analyze(plan.problem, plan.unit, y, num_resamples=RESAMPLES,
                              conf_level=CONF_LEVEL, num_levels=plan.options.levels,
                              seed=plan.options.seed)


def _sobol(plan: SensitivityPlan, y: Any, constant: bool) -> dict[str, Any]:
    import numpy as np

    d = len(plan.names)
    if constant:
        z = np.zeros(d)
        return {"S1": z, "S1_conf": z, "ST": z, "ST_conf": z}
    from SALib.analyze import sobol

    with np.errstate(all="ignore"):
        return sobol.analyze(plan.problem, y, calc_second_order=False,
                             num_resamples=RESAMPLES, conf_level=CONF_LEVEL,
                             seed=plan.options.seed)


# --- the report -----------------------------------------------------------------------

def index_chart(indices: Any, output: str, method: str) -> dict[str, Any]:
    """A Vega-Lite spec: for one output, each parameter's indices as bars with their
    95 % confidence intervals as rules (Sobol: S1 and ST; Morris: mu_star, and sigma
    without an interval)."""
    sub = indices.filter(indices["output"] == output)
    kinds = [("S1", "S1_conf"), ("ST", "ST_conf")] if method == "sobol" else [
        ("mu_star", "mu_star_conf"), ("sigma", None)]
    rows = []
    for r in sub.iter_rows(named=True):
        for kind, conf in kinds:
            v = r[kind]
            c = r[conf] if conf else None
            rows.append({"parameter": r["parameter"], "index": kind, "value": v,
                         "lo": None if v is None or c is None else v - c,
                         "hi": None if v is None or c is None else v + c})
    y = {"field": "parameter", "type": "nominal", "title": None, "sort": None,
         "axis": {"labelLimit": 360}}
    offset = {"field": "index", "type": "nominal", "sort": [k for k, _ in kinds]}
    title = ("share of variance" if method == "sobol"
             else f"{output} per range (mu*, sigma)")
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"{output}: {'Sobol indices' if method == 'sobol' else 'Morris screening'}",
        "data": {"values": rows}, "width": 360,
        "height": {"step": 14 * len(kinds)},
        "layer": [
            {"mark": {"type": "bar"},
             "encoding": {"y": y, "yOffset": offset,
                          "x": {"field": "value", "type": "quantitative", "title": title},
                          "color": {**offset, "title": "index"},
                          "tooltip": [{"field": "parameter"}, {"field": "index"},
                                      {"field": "value", "format": ".4g"},
                                      {"field": "lo", "format": ".4g"},
                                      {"field": "hi", "format": ".4g"}]}},
            {"transform": [{"filter": "datum.lo != null"}],
             "mark": {"type": "rule", "color": "black"},
             "encoding": {"y": y, "yOffset": offset,
                          "x": {"field": "lo", "type": "quantitative"},
                          "x2": {"field": "hi"}}},
        ],
    }


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #555; }
code { background: #f4f4f4; padding: 0 3px; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p>Base policy <code>{{ policy }}</code>; {{ "{:,}".format(population) }} synthetic
persons, {{ days }} days; each point is the mean over seeds {{ seeds | join(", ") }}.
{{ method_words }} {{ settings.points }} points, {{ n_runs }} runs. socialcredit {{ version }}.
The runs against each parameter: <a href="report.html">report.html</a>.</p>
<p class="note">{{ reading }}</p>

<h2>Parameters (each sampled uniformly{% if any_log %}, or log-uniformly,{% endif %}
within its range)</h2>
<table>
<tr><th>path</th><th>low</th><th>high</th><th>scale</th></tr>
{% for p in params %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.low }}</td><td>{{ p.high }}</td>
<td>{{ "log" if p.log else "linear" }}{{ ", integer" if p.integer else "" }}</td></tr>
{% endfor %}
</table>

<h2>Indices with 95 % confidence intervals</h2>
<div class="charts">
{% for c in charts %}<div id="chart-{{ c.key }}"></div>
{% endfor %}
</div>

<h2>Table</h2>
<table>
<tr><th>output</th><th>parameter</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in rows %}<tr><td>{{ r.output }}</td><td><code>{{ r.parameter }}</code></td>
{% for c in columns %}<td>{{ r.cells[c] }}</td>{% endfor %}</tr>
{% endfor %}
</table>

<script>{{ bundle | safe }}</script>
<script>
const SPECS = {{ specs | safe }};
for (const [key, spec] of Object.entries(SPECS)) {
  vegaEmbed("#chart-" + key, spec, {renderer: "svg", actions: false});
}
</script>
</body>
</html>
"""

_READING = {
    "morris": "Morris screening: mu* is the mean absolute change of the output when one"
              " parameter moves across its whole range (elementary effects, in the output's"
              " units), a screening of which parameters matter; sigma, their spread, is"
              " large where a parameter acts nonlinearly or through interactions.",
    "sobol": "Sobol indices: S1 is the share of the output's variance due to a parameter"
             " alone, ST the share it takes part in, interactions included. A parameter"
             " whose ST interval reaches 0 cannot be told apart from no influence.",
}


def write_sensitivity_report(out: Path, plan: SensitivityPlan, indices: Any) -> Path:
    import jinja2

    from socialcredit import __version__
    from socialcredit.report import vega_bundle

    charts = [{"key": f"c{i}", "spec": index_chart(indices, o, plan.method)}
              for i, o in enumerate(plan.outputs)]
    columns = [c for c in indices.columns if c not in ("output", "parameter")]
    rows = [{"output": r["output"], "parameter": r["parameter"],
             "cells": {c: "–" if r[c] is None else f"{r[c]:.4g}" for c in columns}}
            for r in indices.iter_rows(named=True)]
    params = [{"name": n, "low": r.low, "high": r.high, "log": r.log, "integer": r.integer}
              for n, r in zip(plan.names, plan.ranges, strict=True)]
    method_words = (f"Sobol (Saltelli) sample of {plan.samples} base samples;"
                    if plan.method == "sobol" else
                    f"Morris sample of {plan.samples} trajectories on {plan.options.levels}"
                    " levels;")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_PAGE).render(
        title=f"socialcredit sensitivity: {plan.exp.name}", policy=plan.exp.policy.meta.name,
        population=plan.exp.population, days=plan.exp.days, seeds=plan.exp.seeds,
        settings=plan.settings(), method_words=method_words,
        n_runs=len(plan.points) * len(plan.exp.seeds), version=__version__,
        reading=_READING[plan.method], params=params, any_log=any(p["log"] for p in params),
        charts=charts, columns=columns, rows=rows, bundle=vega_bundle(),
        specs=json.dumps({c["key"]: c["spec"] for c in charts}).replace("</", "<\\/"))
    from socialcredit.experiments._sweep import _write_text

    path = out / "sensitivity.html"
    _write_text(path, html)
    return path
