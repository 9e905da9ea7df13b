"""Findings and verdicts: a policy read against EU AI Act Art. 5(1)(c) and GDPR Art. 15
and 22 (the tests are quoted in ../shared/DOMAIN.md).

Every path is computed from the compiled plan: which record kinds bring which measure,
and with how few acts, comes from replays through the rule engine (`_least.py`); the
facts the law turns on (contexts, gravity, severity, human review, appeal) are read from
the policy's audit fields. Findings are indicators for legal review, not legal advice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from socialcredit.audit._figures import RunFigures
from socialcredit.audit._least import Reach, combined_acts, least_acts
from socialcredit.engine import TypePlan, compile_policy
from socialcredit.policy import Policy
from socialcredit.policy._model import CONTEXTS, GRAVITIES, SEVERITIES

Level = Literal["indicator", "review"]
ART5 = "AI Act Art. 5(1)(c)"
ART22 = "GDPR Art. 22"
ART15 = "GDPR Art. 15"
REDRESS = "Legal basis and redress"
ARTICLES = (ART5, ART22, ART15, REDRESS)
FINDING_TYPES = ("cross_context", "disproportion", "third_parties", "automated",
                 "no_way_out", "legal_basis", "opacity", "missing_facts")
DISCLAIMER = ("Findings are indicators for legal review, not legal advice: they say where a"
              " policy, as written, meets the tests of the law, not whether it breaks it.")

# how the verdict of each article reads, by its worst finding
VERDICTS = {
    ART5: {"clear": "clearly not social scoring as Art. 5(1)(c) describes it",
           "review": "findings needing legal review",
           "indicator": "prohibited-practice indicators"},
    ART22: {"clear": "no significant measure rests on unreviewed automated records alone",
            "review": "findings needing legal review",
            "indicator": "indicators of solely automated decisions with significant"
                         " effects"},
    ART15: {"clear": "subjects can see every record that counts against them",
            "review": "findings needing legal review",
            "indicator": "indicators that subjects cannot see the data used on them"},
    REDRESS: {"clear": "every person sanction names a legal basis and every list a way out",
              "review": "findings needing legal review",
              "indicator": "indicators of sanctions without a legal basis or a way out"},
}


@dataclass(frozen=True)
class Finding:
    """One indicator, with the rule path that proves it (`path`, in plain words)."""

    id: str                   # type/what[/what]: the name --explain takes
    type: str                 # one of FINDING_TYPES
    article: str              # one of ARTICLES
    level: Level              # indicator (of a prohibited or unlawful practice) or review
    title: str                # one line
    path: tuple[str, ...]     # the steps from the act to the measure, in words
    subject: str = "person"
    behaviour: str | None = None
    measure: str | None = None
    list: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureReach:
    """For one measure: the least grave behaviour that brings it alone, and how."""

    subject: str
    measure: str
    type: str
    context: str | None
    severity: str | None
    behaviour: str | None     # the least grave behaviour that brings it alone
    gravity: str | None
    kind: str | None          # its record kind
    acts: int | None          # the least such acts
    window: int               # within this many days
    brought_by: tuple[str, ...]   # every behaviour that brings it alone
    fed_by: tuple[str, ...]       # every behaviour whose records feed it (alone or not)


@dataclass(frozen=True)
class Audit:
    """The audit of one policy: verdicts per article, findings, and each measure's reach."""

    policy: str
    verdicts: dict[str, str]          # article -> clear | review | indicator
    findings: tuple[Finding, ...]
    measures: tuple[MeasureReach, ...]
    disclaimer: str = DISCLAIMER
    run: RunFigures | None = None     # figures from a run of the policy (--run, --simulate)

    @property
    def prohibited(self) -> bool:
        """Whether any prohibited-practice indicator (AI Act Art. 5(1)(c)) was found."""
        return self.verdicts[ART5] == "indicator"

    def verdict_text(self, article: str) -> str:
        return VERDICTS[article][self.verdicts[article]]

    def finding(self, ident: str) -> list[Finding]:
        """The finding with this id; else those whose id starts with it or names it as a
        part (a type, a measure, a behaviour, a list)."""
        exact = [f for f in self.findings if f.id == ident]
        if exact:
            return exact
        return [f for f in self.findings
                if f.id.startswith(ident) or ident in f.id.split("/")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "disclaimer": self.disclaimer,
            "prohibited_practice_indicators": self.prohibited,
            "verdicts": {a: {"level": v, "verdict": VERDICTS[a][v]}
                         for a, v in self.verdicts.items()},
            "counts": {t: sum(f.type == t for f in self.findings) for t in FINDING_TYPES},
            "findings": [{**asdict(f), "path": list(f.path),
                          **({"figures": self.run.touches(f)} if self.run else {})}
                         for f in self.findings],
            "measures": [{**asdict(m), "brought_by": list(m.brought_by),
                          "fed_by": list(m.fed_by)} for m in self.measures],
            "run": self.run.to_dict() if self.run else None,
        }


# ------------------------------------------------------------------ the facts, by name
@dataclass(frozen=True)
class _Act:
    name: str
    context: str | None
    gravity: str | None
    channel: str
    automated: bool
    unreviewed: bool          # a record counts before any human review
    visible: bool
    kinds: tuple[int, ...]    # its record kinds in the plan
    segment: int


def _acts(policy: Policy, plan: TypePlan) -> list[_Act]:
    by_name = {b.name: b for b in policy.behaviours}
    kinds_of: dict[str, list[int]] = {}
    for i, k in enumerate(plan.kinds):
        kinds_of.setdefault(k.behaviour, []).append(i)
    out = []
    for name in plan.behaviours:
        b = by_name[name]
        ch = policy.channels[b.channel]
        seg = 0
        if b.company_kinds:
            seg = plan.segments.index(b.company_kinds[0])
        out.append(_Act(name, b.context or ch.context, b.gravity, b.channel, ch.automated,
                        ch.counts_before_review, ch.visible_to_subject,
                        tuple(kinds_of.get(name, [])), seg))
    return out


def _rank(scale: tuple[str, ...], value: str | None) -> int | None:
    return scale.index(value) if value in scale else None


def _ctx(value: str | None) -> str:
    return value.replace("_", " ") if value else "context not stated"


def _days(n: int) -> str:
    return f"{n:,} day" + ("" if n == 1 else "s")


# ------------------------------------------------------------------ the audit
def audit(policy: Policy, run: RunFigures | None = None) -> Audit:
    """Audit a policy against AI Act Art. 5(1)(c) and GDPR Art. 15 and 22: every
    behaviour-to-measure path computed through the rule engine, findings by type, and a
    verdict per article. `run`: figures from a run of the policy (`run_figures(DIR)`,
    `result_figures(simulate(...))`), which then say whom each finding touches.

    >>> from socialcredit.scenarios import load_scenario
    >>> audit(load_scenario("driving-points")).prohibited
    False
    >>> audit(load_scenario("seed")).prohibited
    True
    """
    plans = compile_policy(policy)
    findings: list[Finding] = []
    reaches: list[MeasureReach] = []
    for plan in plans.values():
        f, r = _audit_type(policy, plan)
        findings += f
        reaches += r
    findings += _redress(policy, plans)
    findings = _dedupe(findings)
    verdicts: dict[str, str] = {}
    for art in ARTICLES:
        levels = {f.level for f in findings if f.article == art}
        verdicts[art] = ("indicator" if "indicator" in levels
                         else "review" if levels else "clear")
    order = {t: i for i, t in enumerate(FINDING_TYPES)}
    findings.sort(key=lambda f: (ARTICLES.index(f.article), f.level != "indicator",
                                 order[f.type], f.id))
    return Audit(policy.meta.name, verdicts, tuple(findings), tuple(reaches), run=run)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in findings:
        if f.id not in seen:
            seen.add(f.id)
            out.append(f)
    return out


def _describe_act(a: _Act, plan: TypePlan, kind: int) -> str:
    k = plan.kinds[kind]
    review = ("every record is confirmed by a person before it counts"
              if not a.unreviewed else "a record counts as soon as it is made")
    how = "automated" if a.automated else "kept by people"
    return (f"{a.name} ({_ctx(a.context)}, {a.gravity or 'gravity not stated'}) is recorded"
            f" by the {a.channel} channel ({how}; {review}): a record of kind {k.name},"
            f" {k.points:+d} points")


def _describe_state(policy: Policy, plan: TypePlan, reach: Reach, k: int) -> str:
    on = reach.lists.get(k, ())
    where = f"on {', '.join(on)}" if on else "on no list"
    return (f"{k:,} such act{'s' if k != 1 else ''}, one a day within"
            f" {_days(reach.window)}, leave the subject with score {reach.score[k]:,},"
            f" grade {reach.grade[k]}, {where}")


def _describe_measure(policy: Policy, plan: TypePlan, mi: int) -> str:
    m = plan.measures[mi]
    pm = _measure(policy, plan, mi)
    who = "on the subject's children" if m.reaches == "children" else "on the subject"
    svc = f"service {m.service} is {'denied' if m.type == 'sanction' else 'granted'}" \
        if m.service else "it applies"
    return (f"{m.rule}, {m.type} {m.name} applies {who}: {svc}"
            f" ({_ctx(pm.context)}, {pm.severity or 'severity not stated'})")


def _measure(policy: Policy, plan: TypePlan, mi: int):  # noqa: ANN202 - a Measure
    name = plan.measures[mi].name
    return next(x for x in policy.measures if x.name == name and x.subject == plan.type_name)


def _feeds(policy: Policy, plan: TypePlan, mi: int, kind: int) -> bool:
    """Whether records of `kind` push a subject towards measure `mi`, alone or with
    others: a trigger of its list, or points that move the score towards its rule."""
    pm = _measure(policy, plan, mi)
    k = plan.kinds[kind]
    if pm.list is not None:
        rule = next(x for x in policy.lists if x.name == pm.list and x.subject == plan.type_name)
        if any(t.kind == k.name for t in rule.triggers):
            return True
        if rule.score_below is not None:
            return k.points < 0
        if rule.score_at_least is not None:
            return k.points > 0
        return False
    score = policy.person_score if plan.type_name == "person" else policy.company_score
    assert score is not None  # noqa: S101 - a plan has a score
    names = score.grade_names()
    target = [names.index(g) for g in pm.grades or []]
    mins = [g.min for g in score.grades]
    base_grade = next((i for i, lo in enumerate(mins) if lo is None or score.base >= lo),
                      len(names) - 1)
    below = any(t > base_grade for t in target)   # a lower grade than the base's
    above = any(t < base_grade for t in target)
    return (below and k.points < 0) or (above and k.points > 0)


def _audit_type(policy: Policy, plan: TypePlan) -> tuple[list[Finding], list[MeasureReach]]:
    acts = _acts(policy, plan)
    reach: dict[int, Reach] = {}
    for a in acts:
        for kind in a.kinds:
            reach[kind] = least_acts(plan, kind, segment=a.segment)
    findings: list[Finding] = []
    reaches: list[MeasureReach] = []
    person = plan.type_name == "person"
    t = plan.type_name
    for m in plan.measures:
        pm = _measure(policy, plan, m.index)
        sanction = m.type == "sanction"
        # every behaviour that brings it alone (least kind per behaviour), and that feeds it
        alone: dict[str, tuple[int, int]] = {}   # behaviour -> (acts, kind)
        fed: list[str] = []
        for a in acts:
            best = None
            for kind in a.kinds:
                k = reach[kind].least.get(m.index)
                if k is not None and (best is None or k < best[0]):
                    best = (k, kind)
            if best is not None:
                alone[a.name] = best
            if best is not None or any(_feeds(policy, plan, m.index, kd) for kd in a.kinds):
                fed.append(a.name)
        by_act = {a.name: a for a in acts}

        def gravity_key(name: str, by_act: dict[str, _Act] = by_act,
                        alone: dict[str, tuple[int, int]] = alone) -> tuple[int, int]:
            g = _rank(GRAVITIES, by_act[name].gravity)
            return (g if g is not None else len(GRAVITIES), alone[name][0])

        least_name = min(alone, key=gravity_key) if alone else None
        la = by_act[least_name] if least_name else None
        reaches.append(MeasureReach(
            t, m.name, m.type, pm.context, pm.severity, least_name,
            la.gravity if la else None,
            plan.kinds[alone[least_name][1]].name if least_name else None,
            alone[least_name][0] if least_name else None, plan.window,
            tuple(alone), tuple(fed)))
        if not person:
            continue  # Art. 5(1)(c) and GDPR protect natural persons
        measure_words = _describe_measure(policy, plan, m.index)

        def path(a: _Act, how: tuple[int, int] | None, words: str = measure_words
                 ) -> tuple[str, ...]:
            if how is None:
                kind = a.kinds[0]
                return (_describe_act(a, plan, kind),
                        "its records push the subject towards the rule, with other records",
                        words)
            k, kind = how
            return (_describe_act(a, plan, kind),
                    _describe_state(policy, plan, reach[kind], k), words)

        # a sanction in force with no record at all falls on people who did nothing
        if sanction and reach and (next(iter(reach.values())).at_rest >> m.index) & 1:
            findings.append(Finding(
                f"third_parties/{m.name}/everyone", "third_parties", ART5, "review",
                f"{m.name} applies to subjects with no record at all", (
                    "a subject with no record at all", measure_words),
                t, None, m.name, pm.list))
        # cross-context detriment
        for name in fed:
            a = by_act[name]
            how = alone.get(name)
            if a.context is None or pm.context is None:
                continue  # reported as missing facts
            if a.context != pm.context:
                level: Level = "indicator" if sanction else "review"
                what = "detriment" if sanction else "a privilege withheld from others"
                acts_txt = (f"{how[0]:,} act{'s' if how[0] != 1 else ''} alone"
                            if how else "with other records")
                findings.append(Finding(
                    f"cross_context/{m.name}/{name}", "cross_context", ART5, level,
                    f"{name} ({_ctx(a.context)}) brings {m.name} ({_ctx(pm.context)}):"
                    f" {what} in an unrelated context, {acts_txt}",
                    path(a, how), t, name, m.name, pm.list,
                    {"behaviour_context": a.context, "measure_context": pm.context,
                     "acts": how[0] if how else None, "window_days": plan.window}))
        if not sanction:
            continue
        # disproportion: the least grave behaviour that brings it alone
        sev = _rank(SEVERITIES, pm.severity)
        if least_name is not None and la is not None:
            grav = _rank(GRAVITIES, la.gravity)
            if sev is not None and grav is not None and sev - grav >= 2:
                k, kind = alone[least_name]
                findings.append(Finding(
                    f"disproportion/{m.name}", "disproportion", ART5, "indicator",
                    f"{k:,} {la.gravity} act{'s' if k != 1 else ''} ({least_name}) within"
                    f" {_days(plan.window)} bring{'s' if k == 1 else ''} {m.name}"
                    f" ({pm.severity})", path(la, alone[least_name]), t, least_name, m.name,
                    pm.list, {"gravity": la.gravity, "severity": pm.severity, "acts": k,
                              "window_days": plan.window, "kind": plan.kinds[kind].name,
                              "as_grave": {n: alone[n][0] for n in alone
                                           if by_act[n].gravity == la.gravity}}))
        # third parties: children
        if m.reaches == "children":
            src = least_name or (fed[0] if fed else None)
            steps = path(by_act[src], alone.get(src)) if src else (measure_words,)
            findings.append(Finding(
                f"third_parties/{m.name}", "third_parties", ART5, "indicator",
                f"{m.name} falls on the children of the subjects it applies to, who did"
                " nothing themselves", (*steps,
                                        "the children are treated by their guardian's record,"
                                        " not by anything they did"),
                t, src, m.name, pm.list))
        # automated decisions with significant effects
        if sev is not None and sev >= SEVERITIES.index("significant"):
            auto = [a for a in acts if a.automated and a.unreviewed]
            alone_auto = [a for a in auto if a.name in alone]
            if alone_auto:
                a = min(alone_auto, key=lambda x: gravity_key(x.name))
                findings.append(Finding(
                    f"automated/{m.name}", "automated", ART22, "indicator",
                    f"{m.name} ({pm.severity}) is brought by automated records that count"
                    f" before any human review: {alone[a.name][0]:,} {a.name} records alone",
                    path(a, alone[a.name]), t, a.name, m.name, pm.list,
                    {"behaviours": {x.name: alone[x.name][0] for x in alone_auto}}))
            elif auto:
                kinds = [kd for a in auto for kd in a.kinds
                         if _feeds(policy, plan, m.index, kd)]
                if kinds and (combined_acts(plan, kinds) >> m.index) & 1:
                    names = sorted({plan.kinds[kd].behaviour for kd in kinds})
                    findings.append(Finding(
                        f"automated/{m.name}", "automated", ART22, "indicator",
                        f"{m.name} ({pm.severity}) is brought by automated records that"
                        " count before any human review, together: " + ", ".join(names),
                        (f"records of {', '.join(names)} come from automated channels and"
                         " count before any human review",
                         f"together, one of each a day for {_days(plan.window)}, they bring"
                         " it", measure_words), t, None, m.name, pm.list,
                        {"behaviours": names}))
        # opacity: records the subject cannot see
        hidden = [by_act[n] for n in fed if not by_act[n].visible]
        for a in hidden:
            findings.append(Finding(
                f"opacity/{m.name}/{a.name}", "opacity", ART15, "indicator",
                f"{a.name} records from the {a.channel} channel, hidden from their subject,"
                f" feed {m.name}", path(a, alone.get(a.name)), t, a.name, m.name, pm.list))
        # missing facts on a path
        missing = []
        if pm.context is None:
            missing.append(f"measure {m.name}: context")
        if pm.severity is None:
            missing.append(f"measure {m.name}: severity")
        for name in fed:
            a = by_act[name]
            if a.context is None:
                missing.append(f"behaviour {name}: context (or its channel {a.channel}'s)")
            if a.gravity is None and any(plan.kinds[kd].klass == "violation"
                                         for kd in a.kinds):
                missing.append(f"behaviour {name}: gravity")
        if missing:
            findings.append(Finding(
                f"missing_facts/{m.name}", "missing_facts", ART5, "review",
                f"the audit cannot judge {m.name}: facts not stated ({len(missing)})",
                tuple(missing), t, None, m.name, pm.list, {"missing": missing}))
    return findings, reaches


def _redress(policy: Policy, plans: dict[str, TypePlan]) -> list[Finding]:
    """Person sanctions without a legal basis; lists and publications of persons with no
    way out but time."""
    out: list[Finding] = []
    plan = plans.get("person")
    if plan is None:
        return out
    sanction_lists = set()
    for m in plan.measures:
        pm = _measure(policy, plan, m.index)
        if m.type != "sanction":
            continue
        if pm.list:
            sanction_lists.add(pm.list)
        if not pm.legal_basis.strip():
            out.append(Finding(
                f"legal_basis/{m.name}", "legal_basis", REDRESS, "review",
                f"sanction {m.name} names no legal basis",
                (_describe_measure(policy, plan, m.index),
                 "the policy gives no law or rule for it (legal_basis is empty)"),
                "person", None, m.name, pm.list))
    score = policy.person_score
    assert score is not None  # noqa: S101 - a person plan has a score
    for x in policy.lists:
        if x.subject != "person" or x.name not in sanction_lists:
            continue
        repair = any(t.repair_probability > 0 for t in x.triggers)
        if repair or x.appeal.strip():
            continue
        longest = max([*(t.days for t in x.triggers),
                       score.window_days + (x.duration_days or 0)
                       if (x.score_below is not None or x.score_at_least is not None)
                       else 0])
        out.append(Finding(
            f"no_way_out/{x.name}", "no_way_out", REDRESS, "review",
            f"list {x.name} has no appeal path and no repair: only time ends a listing"
            f" (up to {_days(longest)} from the last record)",
            (f"a subject enters {x.name} by "
             + ("score" if x.score_below is not None or x.score_at_least is not None
                else "a trigger record"),
             "no appeal path is named (appeal is empty) and no trigger has credit repair",
             f"a listing ends only when its records expire: up to {_days(longest)}"),
            "person", None, None, x.name, {"longest_days": longest}))
    for i, d in enumerate(policy.disclosure):
        if d.subject != "person" or d.appeal.strip():
            continue
        rule = d.list or "grade " + "/".join(d.grades or [])
        out.append(Finding(
            f"no_way_out/publication_{i}", "no_way_out", REDRESS, "review",
            f"persons {('on ' + rule) if d.list else 'in ' + rule} are published"
            f" ({', '.join(d.fields)}) with no appeal path",
            (f"disclosure rule {i} publishes persons {'on' if d.list else 'in'} {rule}",
             "no appeal path is named (appeal is empty)"), "person", None, None, d.list,
            {"fields": list(d.fields)}))
    return out


def contexts() -> dict[str, str]:
    """The contexts (domains of life) the policy format knows, with what each covers."""
    return dict(CONTEXTS)
