"""Cross-references of a policy, and the domains where values are used: every problem,
each at its field path, even when other parts of the file are invalid.

`problems(data, valid)` reads the names a policy defines from its raw data (so a
reference to something whose own definition is broken is not reported a second time),
and checks the parts that validated on their own (`valid`: a `Parts`). The loader calls
it together with field validation, so one run of `validate` lists every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


@dataclass
class Parts:
    """The parts of a policy that `problems` needs valid (by index or name); a part
    missing here was invalid (or absent)."""

    traits: dict[str, dict[str, Any]] = field(default_factory=dict)  # type -> name -> Trait
    lists: dict[int, Any] = field(default_factory=dict)
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


def _strs(items: Any) -> list[tuple[int, str]]:
    """The strings of a raw array, with their indices."""
    return [(k, x) for k, x in enumerate(items) if isinstance(x, str)] if isinstance(
        items, list) else []


def problems(data: dict, valid: Parts) -> list[Problem]:  # noqa: C901 - one place for all
    """Every cross-reference and domain problem of a policy, in file order.

    References are read from the raw data, so an item with a broken field still has its
    references checked (every problem at once); domains that need a valid definition (a
    trait used as a probability) are checked where that definition is valid."""
    from socialcredit.policy._model import _TRAIT_REF, number

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
    weights = []
    for _, r in regions:
        try:
            weights.append(number(r.get("weight", 1.0), "a weight"))
        except ValueError:
            weights.append(None)
    if regions and None not in weights and sum(weights) <= 0:  # type: ignore[arg-type]
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
    for i, b in _list(data, "behaviours"):
        here = ("behaviours", i)
        subject = _subject(b)
        channel = _str(b.get("channel"))
        if channel is not None and channel not in channels_raw:
            add((*here, "channel"), f"unknown channel {channel!r}; channels are"
                                    f" {_names(channels_raw)}")
        traits = trait_names[subject]
        valid_traits = valid.traits.get(subject, {})
        multiplier = _str(b.get("multiplier"))
        if multiplier is not None:
            if multiplier not in traits:
                add((*here, "multiplier"), f"unknown {subject} trait {multiplier!r};"
                                           f" {subject} traits are {_names(traits)}")
            elif multiplier in valid_traits and valid_traits[multiplier].lowest() < 0:
                add((*here, "multiplier"),
                    f"trait {multiplier!r} can be negative"
                    f" ({valid_traits[multiplier].describe()}); a rate's multiplier is 0"
                    " or more")
        outcomes = b.get("outcomes") if isinstance(b.get("outcomes"), list) else []
        for j, o in enumerate(outcomes):
            prob = o.get("probability") if isinstance(o, dict) else None
            if not (isinstance(prob, str) and re.fullmatch(_TRAIT_REF, prob)):
                continue
            name = prob.removeprefix("1-")
            loc = (*here, "outcomes", j, "probability")
            if name not in traits:
                add(loc, f"unknown {subject} trait {name!r}; {subject} traits are"
                         f" {_names(traits)}")
            elif name in valid_traits and not valid_traits[name].is_probability():
                add(loc, f"trait {name!r} ({valid_traits[name].describe()}) is not a"
                         " probability: a trait used here must lie in [0, 1] (a beta trait,"
                         " or a constant between 0 and 1)")
        for k, kind in _strs(b.get("company_kinds")):
            if kind not in company_kinds:
                add((*here, "company_kinds", k), f"unknown company kind {kind!r}; kinds are"
                                                 f" {_names(company_kinds)}")
        if scores_raw[subject] is None:
            add((*here, "subject"), f"a {subject} behaviour needs a [{subject}_score]"
                                    " table, and there is none")

    # ------------------------------------------------------------------ channels
    for name, ch in channels_raw.items():
        if not isinstance(ch, dict):
            continue
        coverage = _str(ch.get("coverage"))
        if coverage is not None:
            lacking = [str(r.get("name", i)) for i, r in regions
                       if coverage not in (r.get("coverage") if isinstance(
                           r.get("coverage"), dict) else {})]
            if lacking:
                shown = ", ".join(repr(x) for x in lacking[:5]) + (
                    f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
                defined = {k for _, r in regions if isinstance(r.get("coverage"), dict)
                           for k in r["coverage"]}
                add(("channels", name, "coverage"),
                    f"coverage {coverage!r} is not defined by region(s) {shown};"
                    f" regions define {_names(defined)}")
        fp = ch.get("false_positive")
        fp_kind = _str(fp.get("kind")) if isinstance(fp, dict) else None
        if fp_kind is not None and fp_kind not in kinds:
            add(("channels", name, "false_positive", "kind"),
                f"{fp_kind!r} is not a record kind; kinds are {_names(kinds)}")

    # ------------------------------------------------------------------ lists
    list_subject: dict[str, str] = {}
    triggered: dict[str, int] = {}
    for i, x in _list(data, "lists"):
        name = _str(x.get("name"))
        if name is not None:
            list_subject.setdefault(name, _subject(x))
        here = ("lists", i)
        subject = _subject(x)
        if scores_raw[subject] is None:
            add((*here, "subject"), f"a {subject} list needs a [{subject}_score]"
                                    " table, and there is none")
        triggers = x.get("triggers") if isinstance(x.get("triggers"), list) else []
        for j, t in enumerate(triggers):
            kind = _str(t.get("kind")) if isinstance(t, dict) else None
            if kind is None:
                continue
            loc = (*here, "triggers", j, "kind")
            if kind not in kinds:
                add(loc, f"{kind!r} is not a record kind; kinds are {_names(kinds)}")
            elif kinds[kind] != subject:
                add(loc, f"{kind!r} is a {kinds[kind]} record, and this is a {subject} list")
            if kind in triggered and triggered[kind] != i:
                add(loc, f"{kind!r} already triggers lists[{triggered[kind]}]: a record"
                         " kind may trigger one list only")
            triggered.setdefault(kind, i)
        earlier = {_str(y.get("name")) for k, y in _list(data, "lists")
                   if k < i and _subject(y) == subject}
        for j, e in _strs(x.get("excludes")):
            if e not in earlier:
                add((*here, "excludes", j),
                    f"{e!r} must be a {subject} list defined before this one (defined"
                    f" before: {_names(n for n in earlier if n)})")

    # ------------------------------------------------------------------ measures, disclosure
    for section in ("measures", "disclosure"):
        for i, m in _list(data, section):
            here = (section, i)
            subject = _subject(m)
            name = _str(m.get("list"))
            if name is not None and list_subject.get(name) != subject:
                same = _names(n for n, s in list_subject.items() if s == subject)
                add((*here, "list"), f"{name!r} is not a {subject} list; {subject}"
                                     f" lists are {same}")
            for k, g in _strs(m.get("grades")):
                known = grades[subject]
                if known is not None and g not in known:
                    add((*here, "grades", k), f"unknown {subject} grade {g!r}; grades are"
                                              f" {known}")
                elif known is None and scores_raw[subject] is None:
                    add((*here, "grades", k), f"there is no [{subject}_score] table, so no"
                                              f" {subject} grade")
            for k, kind in _strs(m.get("company_kinds")):
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
    companies = data.get("companies") if isinstance(data.get("companies"), dict) else {}
    known = grades["company"] or []
    tax = companies.get("tax_multiplier")
    for g in tax if isinstance(tax, dict) else {}:
        if g not in known:
            add(("companies", "tax_multiplier", g), f"unknown company grade {g!r}; grades"
                                                    f" are {known}")
    for k, g in _strs(companies.get("procurement_excluded_grades")):
        if g not in known:
            add(("companies", "procurement_excluded_grades", k),
                f"unknown company grade {g!r}; grades are {known}")
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    extras = summary.get("extra_company_grade_shares")
    for k, extra in enumerate(extras if isinstance(extras, list) else []):
        if not isinstance(extra, dict):
            continue
        here = ("summary", "extra_company_grade_shares", k)
        grade, kind = _str(extra.get("grade")), _str(extra.get("company_kind"))
        if grade is not None and grade not in known:
            add((*here, "grade"), f"unknown company grade {grade!r}; grades are {known}")
        if kind is not None and kind not in company_kinds:
            add((*here, "company_kind"), f"unknown company kind {kind!r}; kinds are"
                                         f" {_names(company_kinds)}")
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
    """The parts of a valid policy (every one of them valid)."""
    return Parts(traits={"person": dict(policy.population.person_traits),
                         "company": dict(policy.population.company_traits)},
                 lists=dict(enumerate(policy.lists)), summary=policy.summary)


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
        for t in ("person", "company"):
            raw = pop.get(f"{t}_traits")
            if isinstance(raw, dict):
                parts.traits[t] = {k: v for k, v in ((k, ok(m.Trait, v)) for k, v in
                                                     raw.items()) if v is not None}
    for i, raw in _list(data, "lists"):
        item = ok(m.ListRule, raw)
        if item is not None:
            parts.lists[i] = item
    parts.summary = ok(m.Summary, data.get("summary", {}))
    return parts
