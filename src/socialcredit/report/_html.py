"""Render a report or a comparison as one HTML file that opens offline.

Vega, Vega-Lite and Vega-Embed are inlined from vl-convert's bundle (no CDN); charts
carry daily aggregates only, never per-person data.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import vl_convert

from socialcredit import __version__
from socialcredit.errors import PolicyError, RunOutputError
from socialcredit.policy import policy_from_dict
from socialcredit.policy._explain import explain
from socialcredit.report._charts import build_charts
from socialcredit.report._data import RunData, check_comparable, read_run

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("socialcredit.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


@lru_cache(maxsize=1)
def _bundle() -> str:
    # a closing script tag inside the bundle would end the inline script early
    return vl_convert.javascript_bundle().replace("</script", "<\\/script")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, int | float):
            out[f"{prefix}{k}"] = float(v)
    return out


def _is_share(name: str) -> bool:
    return not (name.startswith("records_per_adult") or name in ("mean_score",
                                                                  "mean_tax_multiplier"))


def format_value(name: str, v: float) -> str:
    """How a statistic is shown: shares as percentages, the rest as numbers."""
    if name.startswith("records_per_adult") or name in ("mean_score",):
        return f"{v:,.2f}"
    if name == "mean_tax_multiplier":
        return f"{v:.4f}"
    return f"{v:.2%}"


def format_difference(name: str, d: float) -> str:
    """A difference between runs: of shares in percentage points, else as the value."""
    sign = "+" if d > 0 else ""
    if _is_share(name):
        return f"{sign}{d * 100:.2f} pp"
    return sign + format_value(name, d)


def stat_label(name: str, policy: dict[str, Any]) -> str:
    """A statistic's key (as in summary.json) in words."""
    extra = {e["name"]: f"{e['company_kind']}s in grade {e['grade']}"
             for e in (policy.get("summary") or {}).get("extra_company_grade_shares", [])}
    head, _, tail = name.partition(".")
    words = tail.replace("_", " ")
    if name in extra:
        return extra[name]
    fixed = {"mean_score": "mean score of adults",
             "false_record_share": "false records, as a share of person records",
             "children_restricted": "children under a sanction through their guardian",
             "mean_tax_multiplier": "mean tax multiplier of companies"}
    if name in fixed:
        return fixed[name]
    if head == "grades":
        return f"adults in grade {tail}"
    if head == "company_grades":
        return f"companies in grade {tail}"
    if head == "records_per_adult":
        return f"{words} records per adult"
    if name.startswith("wrongfully_"):
        return "adults wrongfully " + name.removeprefix("wrongfully_").replace("_", " ")
    if name.startswith("ever_"):
        return "adults ever " + name.removeprefix("ever_").replace("_", " ")
    if name.startswith("companies_"):
        return "companies " + name.removeprefix("companies_").replace("_", " ")
    return "adults " + name.replace("_", " ")


def _stats(runs: list[RunData]) -> list[dict[str, Any]]:
    flats = [_flat(r.summary) for r in runs]
    names = list(dict.fromkeys(k for f in flats for k in f))
    rows = []
    for name in names:
        vals = [f.get(name) for f in flats]
        diffs = []
        for v in vals[1:]:
            if v is None or vals[0] is None:
                diffs.append({"text": "–", "cls": ""})
                continue
            # no red or green: whether more is worse depends on the statistic
            d = v - vals[0]
            diffs.append({"text": format_difference(name, d), "cls": "changed" if d else ""})
        rows.append({"name": name, "label": stat_label(name, runs[0].manifest["policy"]),
                     "cells": ["–" if v is None else format_value(name, v) for v in vals],
                     "diffs": diffs})
    return rows


def _notices(runs: list[RunData]) -> list[str]:
    """Why a run's charts may be flat: said once, at the top."""
    out = []
    for r in runs:
        m, policy = r.manifest, r.manifest["policy"]
        who = f"{r.path.name}: " if len(runs) > 1 else ""
        if m["adults"] == 0:
            out.append(f"{who}this run has no adults (its population is all children), so"
                       " nobody is scored: the person charts are flat.")
        if not policy.get("behaviours"):
            out.append(f"{who}this policy has no behaviours: nobody does anything it records,"
                       " so every score stays at its base.")
        if m["companies"] == 0 and policy.get("company_score"):
            out.append(f"{who}this run has no companies (companies_per_person is 0 or the"
                       " population is small): the company charts are flat.")
    return out


def _policy_diff(runs: list[RunData]) -> list[dict[str, Any]]:
    """Policy fields that differ between the runs (dotted paths), first run first."""
    flats = [_flat_any(r.manifest["policy"]) for r in runs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    return [{"path": k, "cells": [json.dumps(f.get(k, "(absent)")) for f in flats]}
            for k in keys if len({json.dumps(f.get(k, "(absent)")) for f in flats}) > 1]


def _flat_any(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flat_any(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        out = {}
        for i, v in enumerate(node):
            name = v.get("name", i) if isinstance(v, dict) else i
            out.update(_flat_any(v, f"{prefix}[{name}]"))
        return out
    return {prefix: node}


def _explained(run: RunData) -> str:
    try:
        return explain(policy_from_dict(run.manifest["policy"], str(run.path / "run.json")))
    except PolicyError as exc:
        raise RunOutputError(f"{run.path}: the policy stored in run.json is not valid"
                             f" ({exc})") from None


def render(runs: list[RunData], title: str, subtitle: str) -> str:
    """The HTML page for one run or several comparable runs."""
    charts = build_charts(runs)
    sections: dict[str, dict[str, Any]] = {}
    for c in charts:
        sec = sections.setdefault(c.section, {"name": c.section, "charts": [],
                                              "id": c.section.lower().replace(" ", "-")})
        sec["charts"].append(c)
    run_rows = [{
        "path": str(r.path), "short": r.path.name or str(r.path),
        "policy": r.manifest["policy_name"], "policy_version": r.manifest["policy_version"],
        "seed": r.manifest["seed"], "persons": r.manifest["persons"],
        "adults": r.manifest["adults"], "companies": r.manifest["companies"],
        "days": r.manifest["days"], "records": r.manifest["records"],
        "version": r.manifest["socialcredit_version"], "explained": _explained(r),
    } for r in runs]
    specs = json.dumps({c.key: c.spec for c in charts}).replace("</", "<\\/")
    return _env.get_template("report.html.j2").render(
        title=title, subtitle=subtitle, version=__version__, runs=run_rows,
        sections=list(sections.values()), stats=_stats(runs), specs=specs, bundle=_bundle(),
        policy_diff=_policy_diff(runs) if len(runs) > 1 else [], notices=_notices(runs),
    )


def write_report(run_dir: str | Path, shown_as: str | Path | None = None) -> Path:
    """Write RUN_DIR/report.html for one run and return its path. `shown_as`: the run
    directory's name as the report shows it (simulate writes the report into a staging
    directory that becomes RUN_DIR).

    >>> # socialcredit simulate reference -n 20000 --out runs/ref && then:
    >>> # write_report("runs/ref")  -> runs/ref/report.html
    """
    run = read_run(run_dir)
    shown = dataclasses.replace(run, path=Path(shown_as)) if shown_as is not None else run
    m = run.manifest
    html = render([shown], f"socialcredit report: {m['policy_name']}",
                  f"{m['persons']:,} synthetic persons and {m['companies']:,} companies,"
                  f" {m['days']} days, seed {m['seed']}")
    return _write(run.path / "report.html", html)


def write_comparison(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write a side-by-side report of runs that share a society; refuse others."""
    runs = [read_run(p) for p in run_dirs]
    check_comparable(runs)
    names = ", ".join(r.manifest["policy_name"] for r in runs)
    html = render(runs, f"socialcredit comparison: {names}",
                  f"{len(runs)} runs on one society: {runs[0].manifest['persons']:,} persons,"
                  f" {runs[0].manifest['days']} days, seed {runs[0].manifest['seed']}")
    return _write(Path(out), html)


def _write(path: Path, html: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunOutputError(f"{path}: cannot write the report ({exc})") from exc
    return path
