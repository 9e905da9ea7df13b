"""The report of a sweep: each outcome against each parameter, and a table of points.

One HTML file that opens offline (the Vega bundle inlined, as in the run report). The
charts hold one value per run and per outcome, never per-person data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa

from socialcredit import __version__
from socialcredit.stats import describe

MAX_TABLE_POINTS = 200

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("socialcredit.experiments", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


def default_outputs(stat_names: list[str]) -> list[str]:
    """The statistics charted when the experiment names none: the top-level ones."""
    return [s for s in stat_names if "." not in s]


def outcome_chart(rows: list[dict[str, Any]], parameter: str, output: str,
                  discrete: bool) -> dict[str, Any]:
    """A Vega-Lite spec: every run as a point, the mean over seeds as a line when the
    parameter takes few values (a grid)."""
    base = {"data": {"values": rows}, "width": 320, "height": 200}
    x = {"field": "x", "type": "quantitative", "title": parameter,
         "scale": {"zero": False}}
    y = {"field": "y", "type": "quantitative", "title": output, "scale": {"zero": False}}
    points = {"mark": {"type": "point", "opacity": 0.5, "filled": True},
              "encoding": {"x": x, "y": y, "tooltip": [
                  {"field": "x", "title": parameter}, {"field": "y", "title": output},
                  {"field": "seed"}, {"field": "run_id"}]}}
    layers = [points]
    if discrete:
        layers.append({"mark": {"type": "line", "point": False},
                       "encoding": {"x": x, "y": {**y, "aggregate": "mean"}}})
    return {**base,
            "title": f"{output} against {parameter}", "layer": layers}


def write_sweep_report(out: Path, exp: Any, resolved: dict[str, Any],
                       runs: pa.Table) -> Path:
    from socialcredit.report import vega_bundle

    params = list(exp.parameters)
    skip = {"run_id", "point", "seed", "seconds", "records", "key", *params}
    stats = [c for c in runs.column_names if c not in skip]
    outputs = exp.outputs or default_outputs(stats)
    data = runs.to_pydict()
    charts = []
    for p in params:
        values = [v for v in data[p] if v is not None]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        discrete = len(set(map(json.dumps, values))) <= 25
        for o in outputs:
            rows = [{"x": data[p][i] if numeric else json.dumps(data[p][i]),
                     "y": data[o][i], "seed": data["seed"][i], "run_id": data["run_id"][i]}
                    for i in range(runs.num_rows)]
            spec = outcome_chart(rows, p, o, discrete)
            if not numeric:
                for layer in spec["layer"]:
                    layer["encoding"]["x"]["type"] = "nominal"
            charts.append({"key": f"c{len(charts)}", "spec": spec})
    table = _point_table(data, params, outputs)
    described = {k: _describe_parameter(v) for k, v in resolved["parameters"].items()}
    html = _env.get_template("sweep.html.j2").render(
        title=f"socialcredit sweep: {exp.name}", experiment=resolved, version=__version__,
        charts=charts, table=table, outputs=outputs, params=params, described=described,
        specs=json.dumps({c["key"]: c["spec"] for c in charts}).replace("</", "<\\/"),
        bundle=vega_bundle(), n_runs=runs.num_rows,
        seconds=sum(data["seconds"]) if runs.num_rows else 0.0)
    from socialcredit.experiments._sweep import _write_text

    path = out / "report.html"
    _write_text(path, html)
    return path


def _point_table(data: dict[str, list], params: list[str], outputs: list[str]
                 ) -> list[dict[str, Any]]:
    """Each point's parameters and every output's mean with its 95 % interval."""
    by_point: dict[int, list[int]] = {}
    for i, p in enumerate(data["point"]):
        by_point.setdefault(p, []).append(i)
    rows = []
    for p, idx in list(by_point.items())[:MAX_TABLE_POINTS]:
        cells = []
        for o in outputs:
            d = describe([data[o][i] for i in idx])
            if d["lo"] is not None and d["min"] >= 0:
                d["lo"] = max(d["lo"], 0.0)  # a count or a share is never negative
            cells.append(_fmt(d))
        rows.append({"point": p, "params": [data[k][idx[0]] for k in params],
                     "cells": cells, "seeds": len(idx)})
    return rows


def _describe_parameter(value: Any) -> str:
    """A parameter in words: its values, or its range and how it is spread."""
    if isinstance(value, dict):
        scale = "log scale" if value.get("log") else "linear"
        return f"{value['low']} to {value['high']} ({scale}; a grid of {value['steps']})"
    return ", ".join(json.dumps(v) for v in value)


def _fmt(d: dict[str, Any]) -> str:
    if d["mean"] is None:
        return "–"
    if d["lo"] is None:
        return f"{d['mean']:.4g}"
    return f"{d['mean']:.4g} ({d['lo']:.4g} to {d['hi']:.4g})"
