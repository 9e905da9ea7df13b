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


def _rows(runs: list[RunData], columns: Callable[[RunData], dict[str, list]],
          scale: Callable[[RunData], float] | None = None) -> tuple[list[dict], list[str]]:
    """Wide rows (one per run and day, one field per series) and the series, in order.

    The chart folds them back into (series, value) in the browser: far fewer bytes than
    one row per value."""
    rows: list[dict[str, Any]] = []
    order: list[str] = []
    for run in runs:
        div = scale(run) if scale else 1.0
        cols = columns(run)
        order += [k for k in cols if k not in order]
        for day in range(run.days):
            row: dict[str, Any] = {DAY: day, RUN: run.label}
            for series, values in cols.items():
                v = values[day] if day < len(values) else None
                if v is not None:
                    row[series] = _round(v / div)
            rows.append(row)
    return (rows if order else []), order


def _merge_identical(rows: list[dict], order: list[str]) -> tuple[list[dict], list[str],
                                                                     list[str]]:
    """Series equal on every day of every run are drawn once, named "a = b": drawn apart
    they would hide each other. Returns the rows, the series and the merged names."""
    groups: dict[tuple, list[str]] = {}
    for name in order:
        groups.setdefault(tuple(row.get(name) for row in rows), []).append(name)
    if all(len(g) == 1 for g in groups.values()):
        return rows, order, []
    rename = {g[0]: " = ".join(g) for g in groups.values()}
    drop = {n for g in groups.values() for n in g[1:]}
    out = [{rename.get(k, k): v for k, v in row.items() if k not in drop} for row in rows]
    merged = [rename[g[0]] for g in groups.values() if len(g) > 1]
    return out, [rename.get(n, n) for n in order if n not in drop], merged


def _lines(rows: list[dict], order: list[str], runs: list[RunData], y_title: str,
           fmt: str = ",.0f", stacked: bool = False,
           colours: list[str] | None = None) -> dict[str, Any]:
    many = len(runs) > 1
    base = alt.Chart(alt.Data(values=rows)).transform_fold(order, as_=["series", "value"])
    base = base.properties(width=WIDTH, height=HEIGHT)
    scale = (alt.Scale(domain=order, range=colours) if colours else
             alt.Scale(domain=order, scheme="category20" if len(order) > 10 else "tableau10"))
    enc: dict[str, Any] = {
        "x": _day_axis(runs),
        "y": alt.Y("value:Q", title=y_title, stack="zero" if stacked and not many else None,
                   axis=alt.Axis(format=fmt,
                                 tickMinStep=1 if fmt == ",.0f" else alt.Undefined)),
        "color": alt.Color("series:N", title=None, sort=order, scale=scale,
                           legend=alt.Legend(orient="bottom", columns=3, labelLimit=400)),
        "tooltip": [alt.Tooltip(f"{RUN}:N", title="run"), alt.Tooltip("series:N"),
                    alt.Tooltip(f"{DAY}:Q", title="day"),
                    alt.Tooltip("value:Q", format=fmt)],
    }
    if many:
        enc["strokeDash"] = alt.StrokeDash(f"{RUN}:N", title="run",
                                           legend=alt.Legend(orient="bottom"))
    mark = base.mark_area(opacity=0.85) if stacked and not many else base.mark_line()
    return mark.encode(**enc).to_dict()


def _series_chart(key: str, section: str, title: str, caption: str, runs: list[RunData],
                  columns: Callable[[RunData], dict[str, list]], y_title: str,
                  fmt: str = ",.0f", stacked: bool = False,
                  scale: Callable[[RunData], float] | None = None,
                  colours: Callable[[list[str]], list[str]] | None = None) -> Chart | None:
    rows, order = _rows(runs, columns, scale)
    if not rows:
        return None
    notes = []
    if not stacked:
        rows, order, merged = _merge_identical(rows, order)
        if merged:
            notes.append("Equal series, drawn as one line: " + "; ".join(merged) + ".")
    if all(not row.get(name) for row in rows for name in order):
        notes.append("Every value is 0 in this run: nothing of this kind happened.")
    spec = _lines(rows, order, runs, y_title, fmt, stacked,
                  colours(order) if colours else None)
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
    for run in runs:
        cols = run.columns("person_score_")
        if "p50" not in cols:
            continue
        for day in range(run.days):
            rows.append({DAY: day, RUN: run.label,
                         "p05": cols["p05"][day], "p25": cols["p25"][day],
                         "p50": cols["p50"][day], "p75": cols["p75"][day],
                         "p95": cols["p95"][day], "mean": cols["mean"][day]})
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
    median = base.mark_line().encode(
        x=f"{DAY}:Q", y="p50:Q", color=color,
        tooltip=[alt.Tooltip(f"{RUN}:N", title="run"), alt.Tooltip(f"{DAY}:Q", title="day"),
                 "p05:Q", "p25:Q", "p50:Q", "p75:Q", "p95:Q",
                 alt.Tooltip("mean:Q", format=".1f")])
    spec = alt.layer(outer, inner, median).to_dict()
    return Chart("score_bands", "Scores", "Score distribution over time",
                 "Adults' scores: the line is the median, the bands hold the middle 50% and"
                 " 90%. Quantiles are exact, from a daily score histogram.", spec)


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
    def cols(r: RunData) -> dict[str, list]:
        return {k: v for k, v in r.columns("person_false_records_").items() if any(v)}

    return _series_chart(
        "false_records", "Errors", "False records by channel",
        "Records per day that are misattributed (recorded against the wrong person) or"
        " false positives (about nobody's act).", runs, cols, "false records per day")


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
                 f" its adults. Cities that join late record nothing before they join.", spec)


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
        chart.spec["encoding"]["y"]["scale"] = {"zero": False}
    return chart


BUILDERS = (score_bands, grade_shares, list_sizes, sanctions, privileges, false_records,
            wrongful, wrongful_share, children, cities, company_grades, company_effects, tax)


def build_charts(runs: list[RunData]) -> list[Chart]:
    """Every chart the runs have data for, in reading order."""
    return [c for b in BUILDERS if (c := b(runs)) is not None]
