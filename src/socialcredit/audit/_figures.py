"""Figures from a run behind an audit's findings: how many adults and children each
finding touches, and the wrongful listings behind each measure.

They are read from what a run writes (details.json, metrics.parquet, run.json), so a run
made earlier, on an executor or as a replicate set (means over its seeds) is read the
same way as one simulated here (`result_figures`, which computes the same three from the
RunResult). Nothing here is per person.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialcredit.errors import PolicyError, RunOutputError
from socialcredit.policy import Policy, policy_from_dict
from socialcredit.stats import flatten_paths

if TYPE_CHECKING:
    from socialcredit.audit._audit import Finding
    from socialcredit.engine import RunResult
    from socialcredit.report._data import RunData

_PLURAL = {"person": "persons", "company": "companies"}


@dataclass(frozen=True)
class MeasureFigures:
    """One measure in a run: on whom it is in force, who is refused its service, and the
    wrongful listings behind it (its list's members who are on it only through false
    records: misattributed or false positive)."""

    measure: str
    type: str                 # sanction or privilege
    subject: str              # person or company
    reaches: str              # self, or children: then in_force counts children
    in_force: float           # at the end of the run
    peak: float | None        # on the day it was in force on most (None: not in the run)
    service: str | None
    denied: float | None      # subjects a check of its service refuses (by any measure;
    #                           for a privilege: those not granted it)
    denied_children: float | None
    list: str | None          # the list that brings it (None: it goes by grades)
    listed: float | None      # on that list at the end
    wrongfully_listed: float | None   # of them, listed only through false records


@dataclass(frozen=True)
class ListFigures:
    """One list in a run, and the measures it brings."""

    list: str
    subject: str
    listed: float
    wrongfully_listed: float  # at the end: on it only through false records
    peak_wrongfully_listed: float | None
    ever_listed: float
    measures: tuple[str, ...]  # the measures a listing brings


@dataclass(frozen=True)
class RunFigures:
    """A run's figures, by measure and by list."""

    source: str               # the run directory, or how it was simulated
    policy: str
    persons: int
    adults: int
    children: int
    days: int
    seeds: tuple[int, ...]    # several: every figure is the mean over them
    measures: dict[str, MeasureFigures]
    lists: dict[str, ListFigures]
    published: float | None   # persons published at the end (every disclosure rule)
    children_restricted: float | None   # children under any sanction on children

    @property
    def header(self) -> str:
        seeds = (f"seed {self.seeds[0]}" if len(self.seeds) == 1 else
                 f"mean over {len(self.seeds)} seeds")
        return (f"{self.source}: policy {self.policy}, {self.persons:,} persons ({self.adults:,}"
                f" adults, {self.children:,} children), {self.days:,} days, {seeds}")

    def touches(self, f: Finding) -> dict[str, Any] | None:
        """Whom a finding touches in this run, at its end: adults and children under its
        measure (for a privilege: granted it), on its list or published, and the
        wrongful listings behind it (on the list only through false records)."""
        if f.measure is not None and f.measure in self.measures:
            m = self.measures[f.measure]
            kids = m.reaches == "children"
            return {"measure": m.measure, "type": m.type,
                    "adults": 0 if kids else m.in_force,
                    "children": m.in_force if kids else 0, "peak": m.peak,
                    "service": m.service, "denied_adults": m.denied,
                    "denied_children": m.denied_children, "list": m.list,
                    "listed": m.listed, "wrongfully_listed": m.wrongfully_listed}
        if f.type != "no_way_out":
            return None
        publication = f.id.startswith("no_way_out/publication_")
        if f.list is not None and f.list in self.lists:
            x = self.lists[f.list]
            kids = [self.measures[m].in_force for m in x.measures
                    if m in self.measures and self.measures[m].reaches == "children"]
            return {"list": x.list, "published": publication, "adults": x.listed,
                    "children": 0 if publication else max(kids, default=0),
                    "listed": x.listed, "wrongfully_listed": x.wrongfully_listed,
                    "peak_wrongfully_listed": x.peak_wrongfully_listed,
                    "ever_listed": x.ever_listed, "measures": list(x.measures)}
        if publication and self.published is not None:
            return {"published": True, "adults": self.published, "children": 0,
                    "by_any_rule": True}
        return None

    def words(self, f: Finding) -> str | None:
        """What `touches` says, in one sentence."""
        t = self.touches(f)
        if t is None:
            return None
        if "measure" in t:
            m = self.measures[t["measure"]]
            subjects = "adults" if m.subject == "person" else "companies"
            who = "children" if m.reaches == "children" else subjects
            verb = "in force on" if m.type == "sanction" else "granted to"
            text = f"{m.measure} is {verb} {_n(m.in_force)} {who} at the end of the run"
            if m.peak is not None:
                text += f" (at most {_n(m.peak)} on one day)"
            if m.service is not None and m.denied is not None:
                text += f"; a check of {m.service} refuses {_n(m.denied)} {subjects}"
                if m.denied_children is not None:
                    text += f" and {_n(m.denied_children)} children"
                text += " (by any measure)"
            if m.list is not None and m.listed is not None:
                text += (f"; {_n(m.wrongfully_listed or 0)} of the {_n(m.listed)} on {m.list}"
                         " are there only through false records")
            elif m.list is None:
                text += "; it goes by grade, not by a list, so no wrongful listing is counted"
            return text
        if "list" in t:
            text = (f"{_n(t['listed'])} adults on {t['list']} are published at the end"
                    if t["published"] else
                    f"{_n(t['listed'])} adults are on {t['list']} at the end")
            text += (f" ({_n(t['ever_listed'])} were ever on it),"
                     f" {_n(t['wrongfully_listed'])} of them only through false records")
            if t["peak_wrongfully_listed"] is not None:
                text += f" (at most {_n(t['peak_wrongfully_listed'])} on one day)"
            if not t["published"]:
                text += "; it brings " + (", ".join(t["measures"]) or "no measure")
            return text
        return f"{_n(t['adults'])} persons are published at the end, by any rule"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "policy": self.policy, "persons": self.persons,
                "adults": self.adults, "children": self.children, "days": self.days,
                "seeds": list(self.seeds), "published": self.published,
                "children_restricted": self.children_restricted,
                "measures": {k: asdict(v) for k, v in self.measures.items()},
                "lists": {k: {**asdict(v), "measures": list(v.measures)}
                          for k, v in self.lists.items()}}


def _n(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else f


def _peak(col: Sequence | None) -> float | None:
    """The most on any day of a daily column; None when the run has no such column."""
    if col is None or len(col) == 0:
        return None
    return _num(max((float(x) for x in col if x is not None), default=0.0))


def figures(policy: Policy, details: Mapping[str, Any], metrics: Mapping[str, Sequence],
            manifest: Mapping[str, Any], source: str) -> RunFigures:
    """The figures of a run of `policy` from its details.json, its daily metrics (column
    -> values by day) and its run.json's sizes."""
    in_force = details.get("measures_in_force", {})
    denied = details.get("denied", {})
    measures: dict[str, MeasureFigures] = {}
    for m in policy.measures:
        if m.name not in in_force:
            continue
        peak = _peak(metrics.get(f"in_force_{m.name}"))
        lists = details.get(m.subject, {}).get("lists", {})
        on = lists.get(m.list) if m.list else None
        plural = _PLURAL[m.subject]
        measures[m.name] = MeasureFigures(
            m.name, m.type, m.subject, m.reaches, _num(in_force[m.name]), peak, m.service,
            _num(denied.get(f"{plural}_{m.service}")) if m.service else None,
            _num(denied.get(f"children_{m.service}"))
            if m.service and m.subject == "person" else None,
            m.list, _num(on["listed"]) if on else None,
            _num(on["wrongfully_listed"]) if on else None)
    lists: dict[str, ListFigures] = {}
    for x in policy.lists:
        d = details.get(x.subject, {}).get("lists", {}).get(x.name)
        if d is None:
            continue
        peak = _peak(metrics.get(f"{x.subject}_wrongful_{x.name}"))
        lists[x.name] = ListFigures(
            x.name, x.subject, _num(d["listed"]), _num(d["wrongfully_listed"]), peak,
            _num(d["ever_listed"]),
            tuple(m.name for m in policy.measures
                  if m.list == x.name and m.subject == x.subject))
    col = metrics.get("children_restricted")
    seeds = tuple(int(s) for s in manifest.get("seeds") or [manifest["seed"]])
    return RunFigures(
        source, policy.meta.name, int(manifest["persons"]), int(manifest["adults"]),
        int(manifest["children"]), int(manifest["days"]), seeds, measures, lists,
        _num(details.get("published", {}).get("person")),
        _num(col[-1]) if col else None)


def result_figures(run: RunResult, source: str) -> RunFigures:
    """The figures of a run simulated here, computed as simulate writes them."""
    from socialcredit.engine import daily_metrics, details

    cols = {k: v.tolist() for k, v in daily_metrics(run).items()
            if k.startswith(("in_force_", "person_wrongful_", "company_wrongful_",
                             "children_restricted"))}
    manifest = {"persons": run.n_persons, "adults": run.n_adults,
                "children": run.n_children, "days": run.days, "seed": run.seed}
    return figures(run.policy, details(run), cols, manifest, source)


def run_policy(run: RunData) -> Policy:
    """The policy a run directory ran (from its run.json)."""
    try:
        return policy_from_dict(run.manifest["policy"], str(run.path / "run.json"))
    except KeyError:
        raise RunOutputError(f"{run.path}: run.json holds no policy; simulate the run"
                             " again") from None
    except PolicyError as exc:
        raise RunOutputError(f"{run.path}: the policy stored in run.json is not valid"
                             f" ({exc})") from None


def run_figures(path: str | Path, policy: Policy | None = None,
                 given_as: str = "") -> tuple[Policy, RunFigures]:
    """The policy a run directory ran and its figures. With `policy`, refuse a run of
    another policy (RunOutputError, saying where they differ)."""
    from socialcredit.report._data import read_run

    run = read_run(path)
    ran = run_policy(run)
    if policy is not None:
        diff = policy_difference(policy, ran)
        if diff:
            shown = ", ".join(diff[:6]) + (f" and {len(diff) - 6} more" if len(diff) > 6
                                          else "")
            overrides = run.overrides
            raise RunOutputError(
                f"{path}: this run did not run the policy given"
                f" ({given_as or policy.meta.name}): it ran {ran.meta.name!r}"
                + (f" with --set {', '.join(overrides)}" if overrides else "")
                + f", which differs in {shown}. Give the run's own policy, or audit the"
                f" run alone: socialcredit audit --run {path}")
    return ran, figures(ran, run.details, run.metrics, run.manifest, str(path))


def policy_difference(a: Policy, b: Policy) -> list[str]:
    """The fields (dotted paths) where two policies differ; [] when they are the same."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    if da == db:
        return []
    fa, fb = flatten_paths(da), flatten_paths(db)
    return [k for k in dict.fromkeys([*fa, *fb])
            if json.dumps(fa.get(k, "(absent)")) != json.dumps(fb.get(k, "(absent)"))
            ] or ["the policy"]


