"""Statistics of a run: the end-of-run summary and the daily series, from the kernel's
difference arrays (running sums give exact daily values)."""

from __future__ import annotations

from typing import Any

import numpy as np

from socialcredit.engine._decide import company_terms
from socialcredit.engine._kernel import ACT_SCALE
from socialcredit.engine._run import RunResult, TypeResult

_PLURAL = {"person": "persons", "company": "companies"}
QUANTILES = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)


def _share(num: float, den: float) -> float | None:
    """num / den; None (null in JSON) when there is nobody to count: a share of no
    adults, companies or records is undefined, not 0."""
    return float(num) / float(den) if den else None


def _levels(tr: TypeResult, key: str) -> np.ndarray:
    """Daily levels (running sum over days) of a difference array."""
    return np.cumsum(getattr(tr.acc, key), axis=0)


def summary(run: RunResult) -> dict[str, Any]:
    """End-of-run statistics; for `reference` exactly the names of REFERENCE-SCENARIO.md.

    Shares are fractions in [0, 1]. `wrongfully_<list>` is the share of adults who are
    on the list but would not be if their false records were removed (denominator:
    adults, like every other person share here); the same count as a share of the list
    is in `details()`.
    """
    policy = run.policy
    out: dict[str, Any] = {}
    person = run.types.get("person")
    if person is not None:
        adults = int(person.segment_sizes[0])
        out["mean_score"] = person.score_sum / adults if adults else None
        grades = _levels(person, "grade")[-1, 0]
        out["grades"] = {g: _share(grades[i], adults) for i, g in enumerate(person.plan.grades)}
        listed = _levels(person, "list")[-1, 0]
        wrong = _levels(person, "wrong")[-1, 0]
        for li, name in enumerate(person.plan.lists):
            rule = next(x for x in policy.lists if x.name == name)
            out[rule.adjective] = _share(listed[li], adults)
            if rule.type == "black":
                out[f"wrongfully_{rule.adjective}"] = _share(wrong[li], adults)
                out[f"ever_{rule.adjective}"] = _share(person.acc.ever[0, li], adults)
        if person.plan.consequences.child_sanctions:
            n_kids = run.n_children
            kids = _levels(person, "child_restricted")[-1]
            out["children_restricted"] = _share(kids, n_kids)
        rec = person.acc.rec.sum(axis=0)
        out["records_per_adult"] = {
            k.name: _share(rec[i], adults) for i, k in enumerate(person.plan.kinds)
        }
        out["false_record_share"] = _share(person.acc.false.sum(), rec.sum())
    company = run.types.get("company")
    if company is not None:
        n = company.n_subjects
        grades = _levels(company, "grade")[-1]  # (segments, grades)
        total = grades.sum(axis=0)
        out["company_grades"] = {g: _share(total[i], n) for i, g in enumerate(company.plan.grades)}
        if policy.companies.tax_multiplier:
            out["mean_tax_multiplier"] = _share(float(total @ _tax(company)), n)
        listed = _levels(company, "list")[-1].sum(axis=0)
        for li, name in enumerate(company.plan.lists):
            rule = next(x for x in policy.lists if x.name == name)
            out[f"companies_{rule.adjective}"] = _share(listed[li], n)
        for extra in policy.summary.extra_company_grade_shares:
            s = company.plan.segments.index(extra.company_kind)
            g = company.plan.grades.index(extra.grade)
            out[extra.name] = _share(grades[s, g], company.segment_sizes[s])
    return out


def details(run: RunResult) -> dict[str, Any]:
    """Everything else worth reading at the end of a run: measures in force, errors,
    regions, disclosure, records by channel. Counts are absolute, shares are fractions."""
    policy = run.policy
    out: dict[str, Any] = {"measures_in_force": {}, "published": {}}
    for tname, tr in run.types.items():
        plan = tr.plan
        d: dict[str, Any] = {"subjects": tr.n_subjects,
                             "segments": dict(zip(plan.segments, tr.segment_sizes.tolist(),
                                                  strict=True))}
        listed = _levels(tr, "list")[-1].sum(axis=0)
        wrong = _levels(tr, "wrong")[-1].sum(axis=0)
        d["lists"] = {
            name: {"listed": int(listed[li]), "wrongfully_listed": int(wrong[li]),
                   "wrongful_share_of_list": _share(wrong[li], listed[li]),
                   "ever_listed": int(tr.acc.ever[:, li].sum())}
            for li, name in enumerate(plan.lists)
        }
        rec = tr.acc.rec.sum(axis=0)
        false = tr.acc.false.sum(axis=0)
        by_channel: dict[str, dict[str, int]] = {}
        for i, k in enumerate(plan.kinds):
            c = by_channel.setdefault(k.channel, {"records": 0, "false": 0})
            c["records"] += int(rec[i])
            c["false"] += int(false[i])
        d["records_by_channel"] = by_channel
        d["misattributed_records"] = tr.n_misattributed
        d["expected_acts"] = dict(zip(plan.behaviours, expected_acts(tr).sum(axis=0).tolist(),
                                      strict=True))
        reg_acts = np.cumsum(tr.acc.reg_acts, axis=0).sum(axis=0) / ACT_SCALE
        reg_n = tr.region_sizes
        d["regions"] = [
            {
                "region": r.name,
                "subjects": int(reg_n[k]),
                "coverage": dict(r.coverage),
                "joins_day": r.joins_day,
                "expected_acts_per_subject": {b: _share(reg_acts[k, j], reg_n[k])
                                     for j, b in enumerate(plan.behaviours)},
                "listed_share": {name: _share(tr.acc.reg_list[k, li], reg_n[k])
                                 for li, name in enumerate(plan.lists)},
            }
            for k, r in enumerate(policy.regions)
        ]
        out[tname] = d
    in_force = measures_in_force(run)
    out["measures_in_force"] = {m: int(v[-1]) for m, v in in_force.items()}
    out["denied"] = {k: int(v[-1]) for k, v in denied(run).items()}
    out["published"] = {k: int(v[-1]) for k, v in published(run).items()}
    company = run.types.get("company")
    if company is not None and policy.companies.procurement_excluded_grades:
        out["procurement_excluded"] = int(_procurement_excluded(company)[-1])
    return out


def _tax(tr: TypeResult) -> np.ndarray:
    """Tax multiplier by grade, through the decision function's company terms."""
    return company_terms(tr.plan.consequences, np.arange(len(tr.plan.grades)))[0]


def _procurement_excluded(tr: TypeResult) -> np.ndarray:
    """Daily number of companies excluded from public procurement."""
    grades = _levels(tr, "grade").sum(axis=1)
    excluded = company_terms(tr.plan.consequences, np.arange(len(tr.plan.grades)))[1]
    return grades[:, excluded].sum(axis=1)


def expected_acts(tr: TypeResult) -> np.ndarray:
    """Expected acts per day and behaviour, summed over subjects: (days, behaviours).

    The engine samples only acts that a channel records; acts themselves (seen or not,
    which is how behaviour changes under watch) are counted exactly in expectation,
    from each subject's daily act probability."""
    return np.cumsum(tr.acc.acts, axis=0) / ACT_SCALE


def measures_in_force(run: RunResult) -> dict[str, np.ndarray]:
    """Daily count of subjects each sanction or privilege applies to (for a measure that
    reaches children: the children it applies to), from the decision function."""
    out: dict[str, np.ndarray] = {}
    for tr in run.types.values():
        levels = _levels(tr, "measure")
        for m in tr.plan.measures:
            out[m.name] = levels[:, m.index]
    return {m.name: out[m.name] for m in run.policy.measures if m.name in out}


def denied(run: RunResult) -> dict[str, np.ndarray]:
    """Daily count of subjects a check of each service would refuse (counted once,
    however many measures refuse them); for persons, adults and children apart."""
    out: dict[str, np.ndarray] = {}
    for tname, tr in run.types.items():
        levels = _levels(tr, "denied")
        kids = _levels(tr, "child_denied")
        for k, service in enumerate(tr.plan.services):
            out[f"{_PLURAL[tname]}_{service}"] = levels[:, k]
            if tname == "person" and run.n_children:
                out[f"children_{service}"] = kids[:, k]
    return out


def published(run: RunResult) -> dict[str, np.ndarray]:
    """Daily count of subjects on the public list, per subject type (each counted once,
    whatever the number of disclosure rules that publish it)."""
    return {tname: _levels(tr, "published") for tname, tr in run.types.items()
            if tr.plan.disclosures}


def daily_metrics(run: RunResult) -> dict[str, np.ndarray]:
    """One row per day: score quantiles, grade shares, list sizes, sanctions in force,
    records by channel, false records, wrongful listings, children restricted, company
    grades, disclosure. Returned as columns."""
    cols: dict[str, np.ndarray] = {"day": np.arange(run.days, dtype=np.int32)}
    for tname, tr in run.types.items():
        plan = tr.plan
        n = int(tr.segment_sizes.sum())
        none = np.full(run.days, None, dtype=object)  # nobody to measure: null, not 0
        # only the bins some day uses (scores cluster: a few hundred of thousands)
        used = np.flatnonzero(tr.acc.hist.any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        hist = np.cumsum(tr.acc.hist[:, lo:hi], axis=0, dtype=np.int64)
        cdf = np.cumsum(hist, axis=1)
        values = np.arange(lo, hi) + plan.hist_lo
        cols[f"{tname}_score_mean"] = (hist * values).sum(axis=1) / n if n else none
        # the first bin whose cumulative count reaches q * n, day by day (a row of the
        # cdf is sorted: a binary search, not a pass over every bin per quantile)
        need = np.ceil(np.asarray(QUANTILES) * n)
        first = np.stack([np.searchsorted(row, need, side="left") for row in cdf]) \
            if n else None
        for k, q in enumerate(QUANTILES):
            cols[f"{tname}_score_p{round(q * 100):02d}"] = (
                values[np.minimum(first[:, k], values.size - 1)].astype(np.int32)
                if n else none)
        grades = _levels(tr, "grade").sum(axis=1)
        for i, g in enumerate(plan.grades):
            cols[f"{tname}_grade_{g}"] = grades[:, i] / n if n else none
        if tname == "company":
            for s, seg in enumerate(plan.segments):
                seg_n = int(tr.segment_sizes[s])
                for i, g in enumerate(plan.grades):
                    cols[f"company_{seg}_grade_{g}"] = (
                        _levels(tr, "grade")[:, s, i] / seg_n if seg_n else none)
            if run.policy.companies.tax_multiplier:
                cols["company_mean_tax_multiplier"] = grades @ _tax(tr) / n if n else none
            if run.policy.companies.procurement_excluded_grades:
                cols["company_procurement_excluded"] = _procurement_excluded(tr)
        lists = _levels(tr, "list").sum(axis=1)
        wrong = _levels(tr, "wrong").sum(axis=1)
        for li, name in enumerate(plan.lists):
            cols[f"{tname}_list_{name}"] = lists[:, li]
            cols[f"{tname}_wrongful_{name}"] = wrong[:, li]
        if tname == "person" and plan.consequences.child_sanctions:
            cols["children_restricted"] = _levels(tr, "child_restricted")
        rec = tr.acc.rec
        false = tr.acc.false
        for c in plan.channels:
            ks = [i for i, k in enumerate(plan.kinds) if k.channel == c]
            if ks:
                cols[f"{tname}_records_{c}"] = rec[:, ks].sum(axis=1)
                cols[f"{tname}_false_records_{c}"] = false[:, ks].sum(axis=1)
        acts = expected_acts(tr)
        for j, b in enumerate(plan.behaviours):
            cols[f"{tname}_expected_acts_{b}"] = acts[:, j]
    for m, v in measures_in_force(run).items():
        cols[f"in_force_{m}"] = v
    for subject, v in published(run).items():
        cols[f"published_{_PLURAL[subject]}"] = v
    for key, v in denied(run).items():
        cols[f"denied_{key}"] = v
    return cols
