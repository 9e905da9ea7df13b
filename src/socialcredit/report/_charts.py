"""The report's charts, as Vega-Lite specs built with Altair from daily aggregates.

Every builder takes one run (a report) or several runs on one society (a comparison)
and returns a `Chart` or None when the runs have nothing to show for it. With several
runs, series keep their colour and runs are told apart by dash and a tooltip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np

from socialcredit.report._data import RunData

WIDTH = 500
HEIGHT = 210
# the rows' own fields: no series can be named so (names of grades, lists, measures and
# channels begin with a letter or a digit)
DAY, RUN = "_day", "_run"


@dataclass(frozen=True)
class Chart:
    key: str
    section: str
    title: str
    caption: str
    spec: dict[str, Any]
    note: str = ""  # said under the caption: why a chart is flat, what lines coincide


# grade colours by rank from the lowest grade, so that the lowest grade has one colour in
# every chart (a person's D and a company's D both red)
GRADE_COLOURS = ["#c62828", "#ef6c00", "#f9a825", "#7cb342", "#2e7d32", "#00838f", "#1565c0",
                 "#6a1b9a", "#455a64", "#8d6e63"]


def grade_colours(grades: list[str]) -> list[str]:
    """Colours of grades listed from the highest: the lowest gets the first colour, and
    every grade its own (past ten, more are mixed in between)."""
    n = len(grades)
    palette = GRADE_COLOURS if n <= len(GRADE_COLOURS) else [
        _mix(GRADE_COLOURS, k / (n - 1)) for k in range(n)]
    return [palette[n - 1 - i] for i in range(n)]


def _mix(colours: list[str], x: float) -> str:
    """The colour at x in [0, 1] along a list of colours."""
    pos = x * (len(colours) - 1)
    k = min(int(pos), len(colours) - 2)
    f = pos - k
    a, b = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in colours[k:k + 2])
    return "#" + "".join(f"{round(u + (v - u) * f):02x}" for u, v in zip(a, b, strict=True))


def _round(v: float) -> float:
    """Six significant digits: plenty for a chart, and a third of the bytes."""
    return float(f"{v:.6g}")


def _day_axis(runs: list[RunData]) -> alt.X:
    last = max(r.days for r in runs) - 1
    # offset: the axis line sits a few pixels below the plot, so that a series at 0 (a
    # comparison's point, often) is not drawn under it
    return alt.X(f"{DAY}:Q", title="day", scale=alt.Scale(domain=[0, max(last, 1)],
                                                           nice=False),
                 axis=alt.Axis(offset=6))


def _seed_series(run: RunData, columns: Callable[[RunData], dict[str, list]],
                 scale: Callable[[RunData], float] | None
                 ) -> dict[str, tuple[list, list | None, list | None]]:
    """A run's series as (line, band low, band high) by name. One seed: the series, no
    band. Several: each seed's series (computed from that seed's own metrics and sizes),
    then per day their mean (the line) and their lowest and highest value (the band);
    a value undefined in a seed (a share of an empty list) is left out of that day."""
    if not run.replicated:
        div = scale(run) if scale else 1.0
        return {name: ([None if v is None else v / div for v in values], None, None)
                for name, values in columns(run).items()}
    per_seed = []
    for seed_run in run.seed_runs:
        div = scale(seed_run) if scale else 1.0
        per_seed.append({name: [None if v is None else v / div for v in values]
                         for name, values in columns(seed_run).items()})
    names = list(dict.fromkeys(k for cols in per_seed for k in cols))
    out: dict[str, tuple[list, list | None, list | None]] = {}
    for name in names:
        grid = np.full((len(per_seed), run.days), np.nan)
        for k, cols in enumerate(per_seed):
            values = cols.get(name) or []
            grid[k, :len(values)] = [np.nan if v is None else v for v in values[:run.days]]
        ok = np.isfinite(grid)
        count = ok.sum(axis=0)
        mean = np.where(ok, grid, 0.0).sum(axis=0) / np.maximum(count, 1)
        lo = np.where(ok, grid, np.inf).min(axis=0)
        hi = np.where(ok, grid, -np.inf).max(axis=0)
        out[name] = tuple([None if c == 0 else float(x) for x, c in zip(arr, count,
                                                                          strict=True)]
                          for arr in (mean, lo, hi))
    return out


def _rows(runs: list[RunData], columns: Callable[[RunData], dict[str, list]],
          scale: Callable[[RunData], float] | None = None, nonzero: bool = False,
          merge: bool = True) -> tuple[list[dict], list[str], list[str]]:
    """Wide rows (one per run and day, one field per series, and with several seeds the
    band's low and high as `_lo NAME` and `_hi NAME`), the series in order, and the
    series drawn as one because they are equal (named "a = b": drawn apart they would
    hide each other), unless not `merge`. `nonzero`: series that are 0 on every day of
    every run are left out.

    The chart folds rows back into (series, value) in the browser: far fewer bytes than
    one row per value."""
    per_run = [_seed_series(run, columns, scale) for run in runs]
    order = list(dict.fromkeys(k for series in per_run for k in series))
    if nonzero:
        order = [n for n in order if any(
            v for series in per_run if n in series for part in series[n] if part
            for v in part)]
    groups: dict[Any, list[str]] = {}
    for name in order:
        ident = tuple(tuple(tuple(p) if p else None for p in series[name])
                      if name in series else None for series in per_run) if merge else name
        groups.setdefault(ident, []).append(name)
    merged = [" = ".join(g) for g in groups.values() if len(g) > 1]
    shown = {g[0]: " = ".join(g) for g in groups.values()}
    order = [shown[n] for n in order if n in shown]
    rows: list[dict[str, Any]] = []
    for run, series in zip(runs, per_run, strict=True):
        for day in range(run.days):
            row: dict[str, Any] = {DAY: day, RUN: run.label}
            for name, label in shown.items():
                if name not in series:
                    continue
                for field, part in zip(("", "_lo ", "_hi "), series[name], strict=True):
                    v = part[day] if part is not None and day < len(part) else None
                    if v is not None:
                        row[field + label] = _round(v)
            rows.append(row)
    return (rows if order else []), order, merged


def _seed_counts(runs: list[RunData]) -> str:
    counts = sorted({len(r.seeds) for r in runs})
    return (f"{counts[0]} seeds" if len(counts) == 1
            else "each run's seeds (" + ", ".join(str(c) for c in counts) + ")")


def band_caption(runs: list[RunData]) -> str:
    """What a band across seeds is, said in the caption of every chart that draws one."""
    return (f" Lines: the mean over {_seed_counts(runs)}; the band around each line spans,"
            " day by day, the lowest to the highest value among the seeds.")


def _lines(rows: list[dict], order: list[str], runs: list[RunData], y_title: str,
           fmt: str = ",.0f", stacked: bool = False,
           colours: list[str] | None = None, banded: bool = False) -> dict[str, Any]:
    many = len(runs) > 1
    stacked = stacked and not many and not banded
    base = alt.Chart(alt.Data(values=rows)).properties(width=WIDTH, height=HEIGHT)
    scale = (alt.Scale(domain=order, range=colours) if colours else
             alt.Scale(domain=order, scheme="category20" if len(order) > 10 else "tableau10"))
    color = alt.Color("series:N", title=None, sort=order, scale=scale,
                      legend=alt.Legend(orient="bottom", columns=3, labelLimit=400))
    axis = alt.Axis(format=fmt, tickMinStep=1 if fmt == ",.0f" else alt.Undefined)
    enc: dict[str, Any] = {
        "x": _day_axis(runs),
        "y": alt.Y("value:Q", title=y_title, stack="zero" if stacked else None, axis=axis),
        "color": color,
        "tooltip": [alt.Tooltip(f"{RUN}:N", title="run"), alt.Tooltip("series:N"),
                    alt.Tooltip(f"{DAY}:Q", title="day"),
                    alt.Tooltip("value:Q", format=fmt)],
    }
    if many:
        enc["strokeDash"] = alt.StrokeDash(f"{RUN}:N", title="run",
                                           legend=alt.Legend(orient="bottom"))
    folded = base.transform_fold(order, as_=["series", "value"])
    mark = folded.mark_area(opacity=0.85) if stacked else folded.mark_line()
    lines = mark.encode(**enc)
    if not banded:
        return lines.to_dict()
    # the band's fields, `_lo NAME` and `_hi NAME`, folded on the low one; the high one is
    # read from the same row by name
    band = base.transform_fold([f"_lo {n}" for n in order], as_=["_key", "_lo"]
                               ).transform_calculate(
        series="substring(datum._key, 4)",
        _hi="datum['_hi ' + substring(datum._key, 4)]",
    ).transform_filter("isValid(datum._lo) && isValid(datum._hi)").mark_area(
        opacity=0.2).encode(
        x=_day_axis(runs), y=alt.Y("_lo:Q", title=y_title, axis=axis), y2="_hi:Q",
        color=color, detail=alt.Detail(f"{RUN}:N"),  # one area per run and series
        tooltip=[alt.Tooltip(f"{RUN}:N", title="run"), alt.Tooltip("series:N"),
                 alt.Tooltip(f"{DAY}:Q", title="day"),
                 alt.Tooltip("_lo:Q", title="lowest seed", format=fmt),
                 alt.Tooltip("_hi:Q", title="highest seed", format=fmt)])
    return alt.layer(band, lines).to_dict()


def _series_chart(key: str, section: str, title: str, caption: str, runs: list[RunData],
                  columns: Callable[[RunData], dict[str, list]], y_title: str,
                  fmt: str = ",.0f", stacked: bool = False,
                  scale: Callable[[RunData], float] | None = None,
                  colours: Callable[[list[str]], list[str]] | None = None,
                  nonzero: bool = False) -> Chart | None:
    banded = any(r.replicated for r in runs)
    # stacked areas keep equal series apart (each counts in the stack); with bands they
    # are drawn as lines, which would hide each other
    rows, order, merged = _rows(runs, columns, scale, nonzero, merge=not stacked or banded)
    if not rows:
        return None
    notes = []
    if merged:
        notes.append("Equal series, drawn as one line: " + "; ".join(merged) + ".")
    if all(not row.get(name) for row in rows for name in order):
        notes.append("Every value is 0 in this run: nothing of this kind happened.")
    if banded:
        caption += band_caption(runs)
        if stacked:
            caption += " (Lines rather than stacked areas, so that each grade has a band.)"
    spec = _lines(rows, order, runs, y_title, fmt, stacked,
                  colours(order) if colours else None, banded)
    return Chart(key, section, title, caption, spec, " ".join(notes))


def _policy(run: RunData) -> dict[str, Any]:
    return run.manifest["policy"]


def _same_grades(runs: list[RunData], score: str) -> bool:
    """Whether the runs share one list of grades (then grades are coloured by rank)."""
    lists = {tuple(g["name"] for g in (_policy(r).get(score) or {}).get("grades", []))
             for r in runs}
    return len(lists) == 1


def _adults(run: RunData) -> float:
    return max(float(run.manifest["adults"]), 1.0)


def _companies(run: RunData) -> float:
    return max(float(run.manifest["companies"]), 1.0)


def score_bands(runs: list[RunData]) -> Chart | None:
    rows = []
    banded = any(r.replicated for r in runs)
    for run in runs:
        cols = run.columns("person_score_")
        if "p50" not in cols:
            continue
        median = _seed_series(run, lambda r: {"p50": r.columns("person_score_")["p50"]},
                              None)["p50"]
        for day in range(run.days):
            row = {DAY: day, RUN: run.label,
                   "p05": cols["p05"][day], "p25": cols["p25"][day],
                   "p50": cols["p50"][day], "p75": cols["p75"][day],
                   "p95": cols["p95"][day], "mean": cols["mean"][day]}
            if banded:
                lo, hi = median[1], median[2]
                row["p50_lo"] = lo[day] if lo is not None else cols["p50"][day]
                row["p50_hi"] = hi[day] if hi is not None else cols["p50"][day]
            rows.append(row)
    if not rows:
        return None
    base = alt.Chart(alt.Data(values=rows)).properties(width=WIDTH, height=HEIGHT)
    color = alt.Color(f"{RUN}:N", title="run", legend=alt.Legend(orient="bottom"))
    outer = base.mark_area(opacity=0.18).encode(
        x=_day_axis(runs), y=alt.Y("p05:Q", title="score",
                                                 scale=alt.Scale(zero=False)),
        y2="p95:Q", color=color)
    inner = base.mark_area(opacity=0.35).encode(x=f"{DAY}:Q", y="p25:Q", y2="p75:Q",
                                                color=color)
    tooltip = [alt.Tooltip(f"{RUN}:N", title="run"), alt.Tooltip(f"{DAY}:Q", title="day"),
               "p05:Q", "p25:Q", "p50:Q", "p75:Q", "p95:Q",
               alt.Tooltip("mean:Q", format=".1f")]
    layers = [outer, inner]
    caption = ("Adults' scores: the line is the median, the bands hold the middle 50% and"
               " 90%. Quantiles are exact, from a daily score histogram.")
    if banded:
        tooltip += [alt.Tooltip("p50_lo:Q", title="median, lowest seed"),
                    alt.Tooltip("p50_hi:Q", title="median, highest seed")]
        layers.append(base.mark_area(opacity=0.7).encode(
            x=f"{DAY}:Q", y="p50_lo:Q", y2="p50_hi:Q", color=color))
        caption += (f" Each day's quantiles are the mean over {_seed_counts(runs)}; the dark"
                    " band around the median spans the lowest to the highest seed's median.")
    median_line = base.mark_line().encode(x=f"{DAY}:Q", y="p50:Q", color=color,
                                          tooltip=tooltip)
    spec = alt.layer(*layers, median_line).to_dict()
    return Chart("score_bands", "Scores", "Score distribution over time", caption, spec)


def grade_shares(runs: list[RunData]) -> Chart | None:
    return _series_chart(
        "grade_shares", "Scores", "Grade shares",
        "Share of adults in each grade, day by day.", runs,
        lambda r: r.columns("person_grade_"), "share of adults", ".0%", stacked=True,
        colours=grade_colours if _same_grades(runs, "person_score") else None)


def list_sizes(runs: list[RunData]) -> Chart | None:
    return _series_chart(
        "list_sizes", "Lists and sanctions", "Blacklist and redlist sizes",
        "Adults on each list, as a share of all adults.", runs,
        lambda r: r.columns("person_list_"), "share of adults", ".1%", scale=_adults)


def _measures(run: RunData, kind: str) -> dict[str, list]:
    names = {m["name"] for m in _policy(run)["measures"]
             if m["type"] == kind and m["subject"] == "person"}
    return {k: v for k, v in run.columns("in_force_").items() if k in names}


def sanctions(runs: list[RunData]) -> Chart | None:
    return _series_chart(
        "sanctions", "Lists and sanctions", "Sanctions in force, by kind",
        "People each sanction applies to on each day (children included for spillover"
        " measures): flights, rail, hotels, schools...", runs,
        lambda r: _measures(r, "sanction"), "people")


def privileges(runs: list[RunData]) -> Chart | None:
    return _series_chart(
        "privileges", "Lists and sanctions", "Privileges granted",
        "People each privilege applies to on each day.", runs,
        lambda r: _measures(r, "privilege"), "people")


def false_records(runs: list[RunData]) -> Chart | None:
    # channels with no false record on any day (of any seed) are left out
    return _series_chart(
        "false_records", "Errors", "False records by channel",
        "Records per day that are misattributed (recorded against the wrong person) or"
        " false positives (about nobody's act).", runs,
        lambda r: r.columns("person_false_records_"), "false records per day", nonzero=True)


def _black_lists(run: RunData) -> list[str]:
    return [x["name"] for x in _policy(run)["lists"]
            if x["type"] == "black" and x["subject"] == "person"]


def wrongful(runs: list[RunData]) -> Chart | None:
    return _series_chart(
        "wrongful", "Errors", "Wrongfully listed people",
        "People on a blacklist who would not be without their false records.", runs,
        lambda r: {n: r.metrics[f"person_wrongful_{n}"] for n in _black_lists(r)
                   if f"person_wrongful_{n}" in r.metrics}, "people")


def wrongful_share(runs: list[RunData]) -> Chart | None:
    def cols(r: RunData) -> dict[str, list]:
        out = {}
        for n in _black_lists(r):
            listed = r.metrics.get(f"person_list_{n}")
            wrong = r.metrics.get(f"person_wrongful_{n}")
            if listed and wrong:
                out[n] = [w / x if x else None for w, x in zip(wrong, listed, strict=True)]
        return out

    return _series_chart(
        "wrongful_share", "Errors", "Wrongful share of each blacklist",
        "Of the people on each blacklist, the share who are there because of false"
        " records.", runs, cols, "share of the list", ".1%")


def children(runs: list[RunData]) -> Chart | None:
    def cols(r: RunData) -> dict[str, list]:
        v = r.metrics.get("children_restricted")
        return {"children restricted": v} if v else {}

    return _series_chart(
        "children", "Spillover", "Children restricted",
        "Children whose guardian is on a list with a measure that reaches children"
        " (school choice): they did nothing themselves.", runs, cols, "children")


def cities(runs: list[RunData]) -> Chart | None:
    rows = []
    listed_name = coverage_name = ""
    for run in runs:
        person = run.details.get("person")
        if not person:
            continue
        policy = _policy(run)
        violations = {b["name"] for b in policy["behaviours"]
                      if b["subject"] == "person" and b.get("kind") == "violation"}
        black = _black_lists(run)
        # the list a score puts people on (a blacklist by score), else the first blacklist
        by_score = [x["name"] for x in policy["lists"] if x["subject"] == "person"
                    and x["type"] == "black" and x.get("score_below") is not None]
        listed_name = (by_score or black or [""])[0]
        # the coverage that watches the most of persons' violations
        watched = [policy["channels"][b["channel"]].get("coverage") for b in policy["behaviours"]
                   if b["subject"] == "person" and b["name"] in violations]
        watched = [c for c in watched if c]
        if not watched:
            continue
        coverage_name = max(sorted(set(watched)), key=watched.count)
        for reg in person["regions"]:
            if not reg["subjects"]:
                continue  # a city with no adult: nothing to plot
            cov = reg["coverage"].get(coverage_name, 0.0)
            acts = sum(v or 0.0 for b, v in reg["expected_acts_per_subject"].items()
                       if b in violations)
            listed = reg["listed_share"].get(listed_name) or 0.0
            rows.append({"region": reg["region"], "coverage": cov,
                         "violations": acts, "listed": listed, RUN: run.label,
                         "joins_day": reg["joins_day"]})
    if not rows:
        return None
    share = f"share on {listed_name}" if listed_name else "share listed"
    base = alt.Chart(alt.Data(values=rows)).properties(width=WIDTH, height=HEIGHT + 40)
    dots = base.mark_circle(opacity=0.8).encode(
        x=alt.X("coverage:Q", title=f"{coverage_name} coverage",
                axis=alt.Axis(format=".0%")),
        y=alt.Y("violations:Q", title="violations per adult (expected, whole run)",
                scale=alt.Scale(zero=True)),
        size=alt.Size("listed:Q", title=share, scale=alt.Scale(range=[25, 400]),
                      legend=alt.Legend(format=".1%", orient="right")),
        color=alt.Color("listed:Q", title=share, scale=alt.Scale(scheme="orangered"),
                        legend=alt.Legend(format=".1%", orient="right"))
        if len(runs) == 1 else alt.Color(f"{RUN}:N", title="run",
                                         legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip(f"{RUN}:N", title="run"), "region:N",
                 alt.Tooltip("coverage:Q", format=".0%"),
                 alt.Tooltip("violations:Q", format=".2f"),
                 alt.Tooltip("listed:Q", format=".2%"), "joins_day:Q"],
    )
    layers = [dots]
    if len(runs) == 1 and len(rows) <= 16:  # city names where they fit
        layers.append(base.mark_text(align="left", dx=7, dy=-7, fontSize=10).encode(
            x="coverage:Q", y="violations:Q", text="region:N"))
    spec = alt.layer(*layers).to_dict()
    return Chart("cities", "By city", "Coverage, behaviour and listing by city",
                 f"Each dot is a city: watched people commit fewer violations (deterrence),"
                 f" yet more of what they do is recorded. Size and colour: the {share} of"
                 f" its adults. Cities that join late record nothing before they join."
                 + (f" Means over {_seed_counts(runs)}."
                    if any(r.replicated for r in runs) else ""), spec)


def company_grades(runs: list[RunData]) -> Chart | None:
    def cols(r: RunData) -> dict[str, list]:
        grades = [g["name"] for g in (_policy(r).get("company_score") or {}).get("grades", [])]
        return {g: r.metrics[f"company_grade_{g}"] for g in grades
                if f"company_grade_{g}" in r.metrics}

    return _series_chart("company_grades", "Companies", "Company grade shares",
                         "Share of companies in each grade (colours by rank, as for persons:"
                         " the lowest grade is red in both).", runs, cols,
                         "share of companies", ".0%", stacked=True,
                         colours=grade_colours if _same_grades(runs, "company_score") else None)


def company_effects(runs: list[RunData]) -> Chart | None:
    def cols(r: RunData) -> dict[str, list]:
        out = {}
        n = _companies(r)
        if "company_procurement_excluded" in r.metrics:
            out["excluded from procurement"] = [v / n for v in
                                                r.metrics["company_procurement_excluded"]]
        if "published_companies" in r.metrics:
            out["published"] = [v / n for v in r.metrics["published_companies"]]
        for k, v in r.columns("company_restaurant_grade_").items():
            if k == "D":
                out["restaurants in grade D"] = v
        return out

    return _series_chart("company_effects", "Companies",
                         "Procurement exclusions, disclosure, restaurants",
                         "Shares of companies excluded from public procurement and published,"
                         " and the share of restaurants in grade D.", runs, cols,
                         "share", ".1%")


def tax(runs: list[RunData]) -> Chart | None:
    def cols(r: RunData) -> dict[str, list]:
        v = r.metrics.get("company_mean_tax_multiplier")
        return {"mean tax multiplier": v} if v else {}

    chart = _series_chart("tax", "Companies", "Mean tax multiplier",
                          "The average company's tax rate relative to the standard rate,"
                          " set by its grade.", runs, cols, "multiplier", ".3f")
    if chart is not None:
        for layer in chart.spec.get("layer", [chart.spec]):
            layer["encoding"]["y"]["scale"] = {"zero": False}
    return chart


BUILDERS = (score_bands, grade_shares, list_sizes, sanctions, privileges, false_records,
            wrongful, wrongful_share, children, cities, company_grades, company_effects, tax)


def build_charts(runs: list[RunData]) -> list[Chart]:
    """Every chart the runs have data for, in reading order."""
    return [c for b in BUILDERS if (c := b(runs)) is not None]
