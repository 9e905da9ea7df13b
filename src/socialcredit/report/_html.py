"""Render a report or a comparison as one HTML file that opens offline.

Vega, Vega-Lite and Vega-Embed are inlined from vl-convert's bundle (no CDN); charts
carry daily aggregates only, never per-person data.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jinja2

from socialcredit import __version__
from socialcredit.errors import PolicyError, RunOutputError
from socialcredit.policy import policy_from_dict
from socialcredit.policy._explain import explain
from socialcredit.report._bundle import vega_bundle
from socialcredit.report._charts import build_charts
from socialcredit.report._data import RunData, check_comparable, read_run
from socialcredit.stats import difference, flatten_paths

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("socialcredit.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)


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


def format_interval(name: str, lo: float, hi: float, signed: bool = False) -> str:
    """A 95 % interval as "(11.90–12.70%)"; a difference's as "(+0.50 to +1.96 pp)"."""
    if signed:
        unit = " pp" if _is_share(name) else ""
        return f"({_number(name, lo, True)} to {_number(name, hi, True)}{unit})"
    if _is_share(name):
        # a share lies in [0, 1]: its t interval, cut there, says what is possible
        lo, hi = max(lo, 0.0), min(hi, 1.0)
        return f"({_number(name, lo)}–{_number(name, hi)}%)"
    return f"({_number(name, lo)}–{_number(name, hi)})"


def _number(name: str, v: float, signed: bool = False) -> str:
    """A bound of an interval: shares in percent (or points) without the unit, and no
    sign on a number that rounds to zero (-0.00)."""
    text = f"{v * 100:{'+' if signed else ''}.2f}" if _is_share(name) else (
        ("+" if signed and v > 0 else "") + format_value(name, v))
    return text.lstrip("+-") if not text.strip("+-0.,") else text


def _cell(run: RunData, name: str, flat: dict[str, float]) -> str:
    """A statistic of one run: its value, or with several seeds their mean and the 95 %
    interval of the mean (and how many seeds define it, when some do not)."""
    stat = run.statistics.get(name)
    if run.replicated and stat is not None and stat["mean"] is not None:
        text = format_value(name, stat["mean"])
        if stat["lo"] is not None:
            text += " " + format_interval(name, stat["lo"], stat["hi"])
        if stat["n"] < len(run.seeds):
            text += f" [{stat['n']} of {len(run.seeds)} seeds]"
        return text
    v = flat.get(name)
    return "–" if v is None else format_value(name, v)


def _diff_cell(name: str, a: RunData, b: RunData) -> dict[str, str]:
    """B minus A, with its 95 % interval where one can be computed (experiments._stats:
    paired over shared seeds, else Welch's)."""
    by_a, by_b = a.by_seed(name), b.by_seed(name)
    d = difference(by_a, by_b) if by_a and by_b else {"diff": None}
    if d["diff"] is None:
        return {"text": "–", "cls": ""}
    text = format_difference(name, d["diff"])
    if d["lo"] is None:
        # no red or green: whether more is worse depends on the statistic
        return {"text": text, "cls": "changed" if d["diff"] else ""}
    clear = d["lo"] > 0 or d["hi"] < 0
    if d["lo"] == d["hi"]:  # paired, and the same difference in every seed (often 0)
        return {"text": f"{text} (in every seed)", "cls": "changed" if clear else ""}
    return {"text": f"{text} {format_interval(name, d['lo'], d['hi'], signed=True)}",
            "cls": "changed" if clear else ""}


def _stats(runs: list[RunData]) -> list[dict[str, Any]]:
    flats = [_flat(r.summary) for r in runs]
    names = list(dict.fromkeys(k for f in flats for k in f))
    return [{"name": name, "label": stat_label(name, runs[0].manifest["policy"]),
             "cells": [_cell(r, name, f) for r, f in zip(runs, flats, strict=True)],
             "diffs": [_diff_cell(name, runs[0], r) for r in runs[1:]]}
            for name in names]


def seeds_text(seeds: tuple[int, ...] | list[int]) -> str:
    """Seeds in few characters: "3", "0–4", "1, 5, 9", "0, 1, 2, … (50 seeds)"."""
    seeds = list(seeds)
    if len(seeds) >= 3 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    if len(seeds) > 8:
        return ", ".join(str(s) for s in seeds[:3]) + f", … ({len(seeds)} seeds)"
    return ", ".join(str(s) for s in seeds)


def _seeds_phrase(seeds: tuple[int, ...]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({seeds_text(seeds)})"


def _comparison_notes(runs: list[RunData]) -> list[str]:
    """How each difference from the first run is estimated, and so what it means."""
    base, out = runs[0], []
    for r in runs[1:]:
        what = f"Δ {r.path.name} (against {base.path.name}):"
        shared = sorted(set(base.seeds) & set(r.seeds))
        if len(shared) >= 2:
            text = (f"{what} paired over {len(shared)} shared seeds (common random numbers):"
                    " in each seed both runs see the same people and the same acts, so each"
                    " seed's difference comes from policy alone; the interval is the 95 %"
                    " interval of their mean (Student's t).")
            if len(shared) < max(len(base.seeds), len(r.seeds)):
                text += " Seeds that are not in both runs are left out of the differences."
        elif len(base.seeds) >= 2 and len(r.seeds) >= 2:
            text = (f"{what} independent seeds (fewer than two shared): Welch's 95 % interval"
                    " from each run's mean and spread over its own seeds. Running both on"
                    " the same seeds would pair them and narrow the interval.")
        else:
            same = len(shared) == 1 and len(base.seeds) == len(r.seeds) == 1
            text = (f"{what} no interval: "
                    + ("one seed each" if len(base.seeds) == len(r.seeds) == 1
                       else "a run with one seed")
                    + (" (the same seed: the same people and acts)" if same else "")
                    + ". The difference includes sampling noise, the luck of one draw;"
                    " run each with the same --seeds K (say 5) to get a 95 % interval.")
        out.append(text)
    return out


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
    flats = [flatten_paths(r.manifest["policy"]) for r in runs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    return [{"path": k, "cells": [json.dumps(f.get(k, "(absent)")) for f in flats]}
            for k in keys if len({json.dumps(f.get(k, "(absent)")) for f in flats}) > 1]


def _explained(run: RunData) -> str:
    try:
        return explain(policy_from_dict(run.manifest["policy"], str(run.path / "run.json")))
    except PolicyError as exc:
        raise RunOutputError(f"{run.path}: the policy stored in run.json is not valid"
                             f" ({exc})") from None


_LEVEL_WORD = {"indicator": "INDICATORS", "review": "REVIEW", "clear": "CLEAR"}


def audit_section(run: RunData) -> dict[str, Any]:
    """The audit of a run's policy (socialcredit audit) with the run's figures: a
    verdict per article, each finding with its path and whom it touches in the run."""
    from socialcredit.audit import ARTICLES, DISCLAIMER, audit
    from socialcredit.audit._figures import _n, figures, run_policy
    from socialcredit.audit._render import measures_shown
    from socialcredit.errors import SocialCreditError

    try:
        policy = run_policy(run)
        fig = figures(policy, run.details, run.metrics, run.manifest, run.path.name
                      or str(run.path))
        a = audit(policy, fig)
    except SocialCreditError as exc:
        return {"error": str(exc), "disclaimer": DISCLAIMER}
    verdicts = []
    for art in ARTICLES:
        found = [f for f in a.findings if f.article == art]
        level = a.verdicts[art]
        word = "CANNOT JUDGE" if art in a.cannot_judge else _LEVEL_WORD[level]
        verdicts.append({"article": art, "level": level, "word": word,
                         "text": a.verdict_text(art), "n": len(found),
                         "n_indicators": sum(f.level == "indicator" for f in found)})
    findings = [{"id": f.id, "level": f.level, "article": f.article, "title": f.title,
                 "path": list(f.path), "figures": fig.words(f) or "–"}
                for f in a.findings]
    measures = []
    for name in measures_shown(a):
        m = fig.measures[name]
        measures.append({
            "measure": name, "type": m.type,
            "on": f"{_n(m.in_force)} {'children' if m.reaches == 'children' else 'adults'}",
            "peak": _n(m.peak), "service": m.service or "–",
            "denied": (f"{_n(m.denied)} adults, {_n(m.denied_children)} children"
                       if m.service else "–"),
            "wrongful": (f"{_n(m.wrongfully_listed)} of {_n(m.listed)} on {m.list}"
                         if m.list else "– (by grade)")})
    lists = [{"list": x.list, "listed": _n(x.listed), "ever": _n(x.ever_listed),
              "wrongful": _n(x.wrongfully_listed), "peak": _n(x.peak_wrongfully_listed),
              "measures": ", ".join(x.measures) or "–"}
             for x in fig.lists.values() if x.subject == "person"]
    return {"error": None, "disclaimer": a.disclaimer, "policy": a.policy,
            "prohibited": a.prohibited, "verdicts": verdicts, "findings": findings,
            "measures": measures, "lists": lists, "header": fig.header}


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
        "seeds": seeds_text(r.seeds), "n_seeds": len(r.seeds),
        "overrides": "; ".join(f"{k} = {json.dumps(v)}" for k, v in r.overrides.items()),
        "persons": r.manifest["persons"],
        "adults": r.manifest["adults"], "companies": r.manifest["companies"],
        "days": r.manifest["days"], "records": r.manifest["records"],
        "version": r.manifest["socialcredit_version"], "explained": _explained(r),
        "audit": audit_section(r),
    } for r in runs]
    specs = json.dumps({c.key: c.spec for c in charts}).replace("</", "<\\/")
    return _env.get_template("report.html.j2").render(
        title=title, subtitle=subtitle, version=__version__, runs=run_rows,
        sections=list(sections.values()), stats=_stats(runs), specs=specs, bundle=vega_bundle(),
        policy_diff=_policy_diff(runs) if len(runs) > 1 else [], notices=_notices(runs),
        comparison_notes=_comparison_notes(runs), replicated=any(r.replicated for r in runs),
        same_society=len({r.seeds for r in runs}) == 1,
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
                  f" {m['days']} days, {_seeds_phrase(run.seeds)}")
    return _write(run.path / "report.html", html)


def write_comparison(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write a side-by-side report of runs on societies drawn alike (the same persons,
    days, population section and region weights); refuse others, saying what differs.

    Runs may have one seed or several (`simulate --seeds K`), the same or others: each
    difference from the first run comes with a 95 % interval, paired over the seeds the
    runs share (common random numbers) when they share two or more, Welch's otherwise,
    and none for two runs of one seed (the page says so)."""
    runs = [read_run(p) for p in run_dirs]
    check_comparable(runs)
    names = ", ".join(r.manifest["policy_name"] for r in runs)
    size = f"{runs[0].manifest['persons']:,} persons, {runs[0].manifest['days']} days"
    seeds = {r.seeds for r in runs}
    subtitle = (f"{len(runs)} runs on one society: {size}, {_seeds_phrase(runs[0].seeds)}"
                if len(seeds) == 1 else
                f"{len(runs)} runs on societies drawn alike: {size}; seeds differ between"
                " runs")
    html = render(runs, f"socialcredit comparison: {names}", subtitle)
    return _write(Path(out), html)


def _write(path: Path, html: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    if not path.parent.is_dir():
        raise RunOutputError(f"{path}: cannot write the report: no directory"
                             f" {path.parent}")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunOutputError(f"{path}: cannot write the report ({exc})") from exc
    return path
