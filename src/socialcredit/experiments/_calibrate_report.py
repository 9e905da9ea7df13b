"""The fit report of a calibration (report.html): targets against the fitted run with
bands across seeds, the held-out rows' prediction error, and the objective by trial.
One page that opens offline (the Vega bundle inlined); values per run and per target,
never per person."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from socialcredit.experiments._calibrate import CalibrationResult, _holdout_summary

MAX_CHART_DAYS = 1000
_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_KIND = {"domain": ["fitted", "held out"], "range": ["#1f77b4", "#d62728"]}


def daily_chart(statistic: str, per: float | None, series: list[dict[str, Any]],
                points: list[dict[str, Any]], population: int) -> dict[str, Any]:
    """A Vega-Lite spec: the fitted run's daily metric (mean over seeds, with the band
    from the lowest to the highest seed), and the observations on their days with their
    tolerance, fitted ones and held-out ones apart."""
    scale = f" (x {per:,.0f} / {population:,} persons)" if per else ""
    x = {"field": "day", "type": "quantitative", "title": "day"}
    y_title = f"{statistic}{scale}"
    return {
        "$schema": _SCHEMA, "title": f"{statistic}: targets against the fitted run",
        "width": 520, "height": 220,
        "layer": [
            {"data": {"values": series}, "mark": {"type": "area", "opacity": 0.25},
             "encoding": {"x": x, "y": {"field": "min", "type": "quantitative",
                                        "title": y_title, "scale": {"zero": False}},
                          "y2": {"field": "max"}}},
            {"data": {"values": series}, "mark": {"type": "line"},
             "encoding": {"x": x, "y": {"field": "mean", "type": "quantitative"}}},
            {"data": {"values": points}, "mark": {"type": "rule", "strokeWidth": 2},
             "encoding": {"x": x, "y": {"field": "lo_obs", "type": "quantitative"},
                          "y2": {"field": "hi_obs"},
                          "color": {"field": "kind", "type": "nominal", "scale": _KIND}}},
            {"data": {"values": points}, "mark": {"type": "point", "filled": True,
                                                  "size": 60},
             "encoding": {"x": x, "y": {"field": "observed", "type": "quantitative"},
                          "color": {"field": "kind", "type": "nominal", "scale": _KIND,
                                    "title": "target"},
                          "tooltip": [{"field": "label"}, {"field": "kind"},
                                      {"field": "observed", "format": ".4g"},
                                      {"field": "mean", "format": ".4g",
                                       "title": "fitted mean"}]}},
        ],
    }


def end_chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A Vega-Lite spec: each end-of-run target in its own row and scale: the fitted
    run's range over seeds (grey), its mean (tick), the observation with its tolerance."""
    x = {"type": "quantitative", "scale": {"zero": False}, "title": None}
    return {
        "$schema": _SCHEMA, "title": "End-of-run targets against the fitted run",
        "data": {"values": points},
        "facet": {"row": {"field": "label", "type": "nominal", "title": None,
                          "header": {"labelAngle": 0, "labelAlign": "left"}}},
        "resolve": {"scale": {"x": "independent"}},
        "spec": {"width": 420, "height": 20, "layer": [
            {"mark": {"type": "rule", "color": "#999", "strokeWidth": 8, "opacity": 0.5},
             "encoding": {"x": {**x, "field": "min"}, "x2": {"field": "max"}}},
            {"mark": {"type": "tick", "color": "black", "thickness": 2},
             "encoding": {"x": {**x, "field": "mean"}}},
            {"mark": {"type": "rule", "strokeWidth": 2},
             "encoding": {"x": {**x, "field": "lo_obs"}, "x2": {"field": "hi_obs"},
                          "color": {"field": "kind", "type": "nominal", "scale": _KIND}}},
            {"mark": {"type": "point", "filled": True, "size": 60},
             "encoding": {"x": {**x, "field": "observed"},
                          "color": {"field": "kind", "type": "nominal", "scale": _KIND,
                                    "title": "target"},
                          "tooltip": [{"field": "label"}, {"field": "kind"},
                                      {"field": "observed", "format": ".4g"},
                                      {"field": "mean", "format": ".4g",
                                       "title": "fitted mean"},
                                      {"field": "min", "format": ".4g"},
                                      {"field": "max", "format": ".4g"}]}}]},
    }


def trials_chart(trials: Any) -> dict[str, Any]:
    """A Vega-Lite spec: each trial's objective (log scale) and the best so far."""
    rows, best = [], None
    for r in trials.iter_rows(named=True):
        v = r["objective"]
        if v is not None:
            best = v if best is None else min(best, v)
        rows.append({"trial": r["trial"], "objective": v if v and v > 0 else None,
                     "best": best if best and best > 0 else None})
    x = {"field": "trial", "type": "quantitative"}
    return {
        "$schema": _SCHEMA, "title": "The search: objective by trial",
        "data": {"values": rows}, "width": 520, "height": 200,
        "layer": [
            {"mark": {"type": "point", "filled": True, "opacity": 0.6},
             "encoding": {"x": x, "y": {"field": "objective", "type": "quantitative",
                                        "scale": {"type": "log"}}}},
            {"mark": {"type": "line", "interpolate": "step-after", "color": "black"},
             "encoding": {"x": x, "y": {"field": "best", "type": "quantitative"}}},
        ],
    }


def _series(runs: list[dict[str, Any]], statistic: str, per: float | None,
            population: int, keep: set[int]) -> list[dict[str, Any]]:

    m = np.vstack([np.asarray(r["daily"][statistic], dtype=float) for r in runs])
    if per:
        m = m * per / population
    days = m.shape[1]
    stride = max(1, math.ceil(days / MAX_CHART_DAYS))
    chosen = sorted(set(range(0, days, stride)) | {days - 1} | {d for d in keep if d < days})
    mean, lo, hi = m.mean(axis=0), m.min(axis=0), m.max(axis=0)
    return [{"day": d, "mean": float(mean[d]), "min": float(lo[d]), "max": float(hi[d])}
            for d in chosen]


def _point(r: dict[str, Any]) -> dict[str, Any]:
    return {"label": r["label"], "day": r["day"],
            "kind": "held out" if r["holdout"] else "fitted",
            "observed": r["observed"], "lo_obs": r["observed"] - r["tolerance"],
            "hi_obs": r["observed"] + r["tolerance"], "mean": r["mean"], "min": r["min"],
            "max": r["max"]}


def fit_charts(runs: list[dict[str, Any]], rows: list[dict[str, Any]], population: int
               ) -> list[dict[str, Any]]:
    """The charts of targets against the fitted run: one per daily metric (and scale),
    one for the end-of-run targets."""
    charts: list[dict[str, Any]] = []
    daily: dict[tuple[str, float | None], list[dict[str, Any]]] = {}
    for r in rows:
        if r["day"] is not None:
            daily.setdefault((r["statistic"], r["per"]), []).append(r)
    for (stat, per), group in daily.items():
        series = _series(runs, stat, per, population, {r["day"] for r in group})
        charts.append(daily_chart(stat, per, series, [_point(r) for r in group],
                                  population))
    ends = [_point(r) for r in rows if r["day"] is None and r["mean"] is not None]
    if ends:
        charts.append(end_chart(ends))
    return charts




def _summary_words(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return ""
    rel = summary["mean_abs_relative_error"]
    return ((f"Mean absolute relative error {100 * rel:.1f} %; " if rel is not None else "")
            + f"root mean squared standardised error {summary['rms_z']:.3g};"
            f" {summary['within_tolerance']} of {summary['rows']} within tolerance.")


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4g}"


def write_fit_report(out: Path, result: CalibrationResult, runs: list[dict[str, Any]],
                     rows: list[dict[str, Any]], population: int) -> Path:
    """report.html: one page that opens offline (the Vega bundle inlined)."""
    import jinja2

    from socialcredit import __version__
    from socialcredit.report import vega_bundle

    s = result.settings
    charts = [{"key": f"c{i}", "spec": spec}
              for i, spec in enumerate(fit_charts(runs, rows, population))]
    specs = {c["key"]: c["spec"] for c in charts}
    specs["trials"] = trials_chart(result.trials)
    params = []
    for name, p in s["parameters"].items():
        bounds = (f"{p['low']} to {p['high']}{' (log)' if p.get('log') else ''}"
                  if isinstance(p, dict) else ", ".join(map(str, p)))
        best = result.best[name]
        params.append({"name": name, "best": _fmt(best) if isinstance(best, float) else best,
                       "bounds": bounds, "first": s["first_trial"].get(name, "–")})
    held = [r for r in rows if r["holdout"]]
    trials = result.trials
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("socialcredit.experiments", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.get_template("calibrate.html.j2").render(
        title=f"socialcredit calibration: {s['name']}", s=s, version=__version__,
        n_trials=trials.height, n_failed=int((trials["state"] == "fail").sum()),
        objective=result.objective, params=params, held=held,
        summary_words=_summary_words(_holdout_summary(held)),
        fitted=[r for r in rows if not r["holdout"]],
        charts=charts, fmt=_fmt, bundle=vega_bundle(),
        specs=json.dumps(specs, default=str).replace("</", "<\\/"))
    from socialcredit.experiments._sweep import _write_text

    path = out / "report.html"
    _write_text(path, html)
    return path
