"""Cross-references of a policy, and the domains where values are used: every problem,
each at its field path, even when other parts of the file are invalid.

`problems(data, valid)` reads the names a policy defines from its raw data (so a
reference to something whose own definition is broken is not reported a second time),
and checks the parts that validated on their own (`valid`: a `Parts`). The loader calls
it together with field validation, so one run of `validate` lists every problem.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


@dataclass
class Parts:
    """The parts of a policy that are valid on their own (by index or name); a part
    missing here was invalid (or absent)."""

    population: Any = None
    traits: dict[str, dict[str, Any]] = field(default_factory=dict)  # type -> name -> Trait
    company_kinds: Any = None
    regions: dict[int, Any] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)
    behaviours: dict[int, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)  # "person"/"company" -> Score
    lists: dict[int, Any] = field(default_factory=dict)
    measures: dict[int, Any] = field(default_factory=dict)
    disclosure: dict[int, Any] = field(default_factory=dict)
    companies: Any = None
    summary: Any = None


def _list(data: dict, key: str) -> list[tuple[int, dict]]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    return [(i, x) for i, x in enumerate(items) if isinstance(x, dict)]


def _str(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _names(items: Iterable[str]) -> str:
    keys = sorted(set(items))
    return ", ".join(repr(k) for k in keys) if keys else "none"


def _subject(item: dict) -> str:
    s = item.get("subject", "person")
    return s if s in ("person", "company") else "person"


def _record_kinds(b: dict) -> list[tuple[Loc, str]]:
    """(loc of its name, record kind) of a raw behaviour: its outcomes, or itself."""
    outcomes = b.get("outcomes")
    if isinstance(outcomes, list):
        return [(("outcomes", j, "name"), o["name"]) for j, o in enumerate(outcomes)
                if isinstance(o, dict) and isinstance(o.get("name"), str)]
    return [(("name",), b["name"])] if isinstance(b.get("name"), str) else []


def problems(data: dict, valid: Parts) -> list[Problem]:  # noqa: C901 - one place for all
    """Every cross-reference and domain problem of a policy, in file order."""
    out: list[Problem] = []

    def add(loc: Loc, msg: str) -> None:
        out.append((loc, msg))

    pop = data.get("population") if isinstance(data.get("population"), dict) else {}
    trait_names = {t: set(pop.get(f"{t}_traits") or {}) if isinstance(
        pop.get(f"{t}_traits"), dict) else set() for t in ("person", "company")}
    kinds_raw = pop.get("company_kinds")
    if isinstance(kinds_raw, list):
        company_kinds = [k["name"] for k in kinds_raw if isinstance(k, dict)
                         and isinstance(k.get("name"), str)]
    else:
        company_kinds = ["firm"]  # the default
    channels_raw = data.get("channels") if isinstance(data.get("channels"), dict) else {}
    regions = _list(data, "regions")
    scores_raw = {t: data.get(f"{t}_score") for t in ("person", "company")}
    grades = {t: [g.get("name") for g in s["grades"] if isinstance(g, dict)]
              if isinstance(s, dict) and isinstance(s.get("grades"), list) else None
              for t, s in scores_raw.items()}

    # ------------------------------------------------------------------ names
    for section in ("behaviours", "regions", "lists", "measures"):
        seen: set[str] = set()
        for i, x in _list(data, section):
            name = _str(x.get("name"))
            if name is not None and name in seen:
                add((section, i, "name"), f"{section[:-1]} {name!r} is defined twice")
            if name is not None:
                seen.add(name)

    # ------------------------------------------------------------------ the society
    if regions and all(isinstance(r.get("weight", 1.0), int | float) for _, r in regions):
        weights = [float(r.get("weight", 1.0)) for _, r in regions]
        if all(math.isfinite(w) for w in weights) and sum(weights) <= 0:
            add(("regions",), "every region's weight is 0: nobody would live anywhere;"
                              " give at least one region a positive weight")
    used_coverage = {c.get("coverage") for c in channels_raw.values()
                     if isinstance(c, dict) and isinstance(c.get("coverage"), str)}
    unused: dict[str, list[int]] = {}
    for i, r in regions:
        cov = r.get("coverage")
        for key in cov if isinstance(cov, dict) else {}:
            if key not in used_coverage:
                unused.setdefault(key, []).append(i)
    for key, where in unused.items():
        more = f" (nor in {len(where) - 1} more regions)" if len(where) > 1 else ""
        add(("regions", where[0], "coverage", key),
            f"no channel uses coverage {key!r}{more}; channels use {_names(used_coverage)}")

    # ------------------------------------------------------------------ behaviours
    kinds: dict[str, str] = {}  # record kind -> subject type, from every raw behaviour
    made_by: dict[str, int] = {}
    for i, b in _list(data, "behaviours"):
        for loc, kind in _record_kinds(b):
            if kind in made_by and made_by[kind] != i:
                add(("behaviours", i, *loc),
                    f"record kind {kind!r} is also made by behaviours[{made_by[kind]}]")
            made_by.setdefault(kind, i)
            kinds.setdefault(kind, _subject(b))
    for i, b in valid.behaviours.items():
        here = ("behaviours", i)
        if b.channel not in channels_raw:
            add((*here, "channel"), f"unknown channel {b.channel!r}; channels are"
                                    f" {_names(channels_raw)}")
        traits = trait_names[b.subject]
        valid_traits = valid.traits.get(b.subject, {})
        if b.multiplier is not None:
            if b.multiplier not in traits:
                add((*here, "multiplier"), f"unknown {b.subject} trait {b.multiplier!r};"
                                           f" {b.subject} traits are {_names(traits)}")
            elif b.multiplier in valid_traits and valid_traits[b.multiplier].lowest() < 0:
                add((*here, "multiplier"),
                    f"trait {b.multiplier!r} can be negative"
                    f" ({valid_traits[b.multiplier].describe()}); a rate's multiplier is 0"
                    " or more")
        for j, (_kind, _points, _cls, prob) in enumerate(b.record_kinds()):
            if not isinstance(prob, str):
                continue
            name = prob.removeprefix("1-")
            loc = (*here, "outcomes", j, "probability")
            if name not in traits:
                add(loc, f"unknown {b.subject} trait {name!r}; {b.subject} traits are"
                         f" {_names(traits)}")
            elif name in valid_traits and not valid_traits[name].is_probability():
                add(loc, f"trait {name!r} ({valid_traits[name].describe()}) is not a"
                         " probability: a trait used here must lie in [0, 1] (a beta trait,"
                         " or a constant between 0 and 1)")
        for k, kind in enumerate(b.company_kinds or []):
            if kind not in company_kinds:
                add((*here, "company_kinds", k), f"unknown company kind {kind!r}; kinds are"
                                                 f" {_names(company_kinds)}")
        if scores_raw[b.subject] is None:
            add((*here, "subject"), f"a {b.subject} behaviour needs a [{b.subject}_score]"
                                    " table, and there is none")

    # ------------------------------------------------------------------ channels
    for name, ch in valid.channels.items():
        if ch.coverage is not None:
            lacking = [str(r.get("name", i)) for i, r in regions
                       if ch.coverage not in (r.get("coverage") if isinstance(
                           r.get("coverage"), dict) else {})]
            if lacking:
                shown = ", ".join(repr(x) for x in lacking[:5]) + (
                    f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
                defined = {k for _, r in regions if isinstance(r.get("coverage"), dict)
                           for k in r["coverage"]}
                add(("channels", name, "coverage"),
                    f"coverage {ch.coverage!r} is not defined by region(s) {shown};"
                    f" regions define {_names(defined)}")
        if ch.false_positive is not None and ch.false_positive.kind not in kinds:
            add(("channels", name, "false_positive", "kind"),
                f"{ch.false_positive.kind!r} is not a record kind; kinds are {_names(kinds)}")

    # ------------------------------------------------------------------ lists
    list_subject: dict[str, str] = {}
    triggered: dict[str, int] = {}
    for i, x in _list(data, "lists"):
        name = _str(x.get("name"))
        if name is not None:
            list_subject.setdefault(name, _subject(x))
        rule = valid.lists.get(i)
        if rule is None:
            continue
        here = ("lists", i)
        if scores_raw[rule.subject] is None:
            add((*here, "subject"), f"a {rule.subject} list needs a [{rule.subject}_score]"
                                    " table, and there is none")
        for j, t in enumerate(rule.triggers):
            loc = (*here, "triggers", j, "kind")
            if t.kind not in kinds:
                add(loc, f"{t.kind!r} is not a record kind; kinds are {_names(kinds)}")
            elif kinds[t.kind] != rule.subject:
                add(loc, f"{t.kind!r} is a {kinds[t.kind]} record, and this is a"
                         f" {rule.subject} list")
            if t.kind in triggered and triggered[t.kind] != i:
                add(loc, f"{t.kind!r} already triggers lists[{triggered[t.kind]}]: a record"
                         " kind may trigger one list only")
            triggered.setdefault(t.kind, i)
        earlier = {_str(y.get("name")) for k, y in _list(data, "lists")
                   if k < i and _subject(y) == rule.subject}
        for j, e in enumerate(rule.excludes):
            if e not in earlier:
                add((*here, "excludes", j),
                    f"{e!r} must be a {rule.subject} list defined before this one (defined"
                    f" before: {_names(n for n in earlier if n)})")

    # ------------------------------------------------------------------ measures, disclosure
    for section, items in (("measures", valid.measures), ("disclosure", valid.disclosure)):
        for i, m in items.items():
            here = (section, i)
            if m.list is not None and list_subject.get(m.list) != m.subject:
                same = _names(n for n, s in list_subject.items() if s == m.subject)
                add((*here, "list"), f"{m.list!r} is not a {m.subject} list; {m.subject}"
                                     f" lists are {same}")
            for k, g in enumerate(m.grades or []):
                known = grades[m.subject]
                if known is not None and g not in known:
                    add((*here, "grades", k), f"unknown {m.subject} grade {g!r}; grades are"
                                              f" {known}")
                elif known is None and scores_raw[m.subject] is None:
                    add((*here, "grades", k), f"there is no [{m.subject}_score] table, so no"
                                              f" {m.subject} grade")
            for k, kind in enumerate(getattr(m, "company_kinds", None) or []):
                if kind not in company_kinds:
                    add((*here, "company_kinds", k), f"unknown company kind {kind!r}; kinds"
                                                     f" are {_names(company_kinds)}")
    for section, limit in (("measures", 62), ("disclosure", 62)):
        for subject in ("person", "company"):
            n = sum(_subject(x) == subject for _, x in _list(data, section))
            if n > limit:
                add((section,), f"{n} {subject} {section}: at most {limit} per subject type"
                                " (each is a bit of one 64-bit mask)")

    # ------------------------------------------------------------------ companies, summary
    if valid.companies is not None:
        known = grades["company"] or []
        for g in valid.companies.tax_multiplier:
            if g not in known:
                add(("companies", "tax_multiplier", g), f"unknown company grade {g!r}; grades"
                                                        f" are {known}")
        for k, g in enumerate(valid.companies.procurement_excluded_grades):
            if g not in known:
                add(("companies", "procurement_excluded_grades", k),
                    f"unknown company grade {g!r}; grades are {known}")
    if valid.summary is not None:
        for k, extra in enumerate(valid.summary.extra_company_grade_shares):
            here = ("summary", "extra_company_grade_shares", k)
            if extra.grade not in (grades["company"] or []):
                add((*here, "grade"), f"unknown company grade {extra.grade!r}; grades are"
                                      f" {grades['company'] or []}")
            if extra.company_kind not in company_kinds:
                add((*here, "company_kind"), f"unknown company kind {extra.company_kind!r};"
                                             f" kinds are {_names(company_kinds)}")
    out += _summary_keys(data, valid)
    return out


SUMMARY_KEYS = ("mean_score", "grades", "children_restricted", "records_per_adult",
                "false_record_share", "company_grades", "mean_tax_multiplier")


def _summary_keys(data: dict, valid: Parts) -> list[Problem]:
    """Every statistic of summary.json has its own key: a list's label (and the keys
    made from it) or an extra share may not overwrite another."""
    owner: dict[str, str] = {k: "a built-in statistic" for k in SUMMARY_KEYS}
    made: list[tuple[Loc, str, str]] = []
    for i, x in valid.lists.items():
        loc = ("lists", i, "label" if x.label else "name")
        if x.subject == "person":
            made.append((loc, x.adjective, f"lists[{i}]"))
            if x.type == "black":
                made += [(loc, f"wrongfully_{x.adjective}", f"lists[{i}]"),
                         (loc, f"ever_{x.adjective}", f"lists[{i}]")]
        else:
            made.append((loc, f"companies_{x.adjective}", f"lists[{i}]"))
    if valid.summary is not None:
        made += [(("summary", "extra_company_grade_shares", k, "name"), e.name,
                  f"summary.extra_company_grade_shares[{k}]")
                 for k, e in enumerate(valid.summary.extra_company_grade_shares)]
    out = []
    for loc, key, what in made:
        if key in owner:
            out.append((loc, f"would write the summary statistic {key!r}, which {owner[key]}"
                             " writes: give it another label or name"))
        else:
            owner[key] = what
    return out


def dotted(loc: Loc) -> str:
    """('measures', 0, 'list') -> 'measures[0].list'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parts_of(policy: Any) -> Parts:
    """The parts of a valid policy (all of them)."""
    return Parts(
        population=policy.population,
        traits={"person": dict(policy.population.person_traits),
                "company": dict(policy.population.company_traits)},
        company_kinds=policy.population.company_kinds,
        regions=dict(enumerate(policy.regions)), channels=dict(policy.channels),
        behaviours=dict(enumerate(policy.behaviours)),
        scores={t: s for t, s in (("person", policy.person_score),
                                  ("company", policy.company_score)) if s is not None},
        lists=dict(enumerate(policy.lists)), measures=dict(enumerate(policy.measures)),
        disclosure=dict(enumerate(policy.disclosure)), companies=policy.companies,
        summary=policy.summary)


def parts_from_raw(data: dict) -> Parts:
    """The parts of a policy's raw data that are valid on their own (the rest of the
    file may not be)."""
    from pydantic import ValidationError

    from socialcredit.policy import _model as m

    def ok(model: Any, raw: Any) -> Any:
        try:
            return model.model_validate(raw, context={"references": False})
        except (ValidationError, ValueError, TypeError):
            return None

    parts = Parts()
    pop = data.get("population", {})
    if isinstance(pop, dict):
        parts.population = ok(m.Population, pop)
        for t in ("person", "company"):
            raw = pop.get(f"{t}_traits")
            if isinstance(raw, dict):
                parts.traits[t] = {k: v for k, v in ((k, ok(m.Trait, v)) for k, v in
                                                     raw.items()) if v is not None}
    for key, model in (("regions", m.Region), ("behaviours", m.Behaviour), ("lists", m.ListRule),
                       ("measures", m.Measure), ("disclosure", m.Disclosure)):
        for i, raw in _list(data, key):
            item = ok(model, raw)
            if item is not None:
                getattr(parts, key)[i] = item
    channels = data.get("channels")
    if isinstance(channels, dict):
        parts.channels = {k: v for k, v in ((k, ok(m.Channel, v)) for k, v in
                                            channels.items()) if v is not None}
    for t in ("person", "company"):
        score = ok(m.Score, data.get(f"{t}_score")) if f"{t}_score" in data else None
        if score is not None:
            parts.scores[t] = score
    parts.companies = ok(m.Companies, data.get("companies", {}))
    parts.summary = ok(m.Summary, data.get("summary", {}))
    return parts
