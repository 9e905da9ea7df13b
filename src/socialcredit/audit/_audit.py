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
from socialcredit.audit._least import Reach, at_rest, least_acts, reach
from socialcredit.engine import TypePlan, compile_policy
from socialcredit.policy import Policy
from socialcredit.policy._model import CONTEXTS, GRAVITIES, SEVERITIES

Level = Literal["indicator", "review"]
ART5 = "AI Act Art. 5(1)(c)"
ART22 = "GDPR Art. 22"
ART15 = "GDPR Art. 15"
REDRESS = "Legal basis and redress"
ARTICLES = (ART5, ART22, ART15, REDRESS)
FINDING_TYPES = ("everyone", "cross_context", "disproportion", "third_parties",
                 "automated", "no_way_out", "legal_basis", "opacity", "missing_facts")
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
    at_rest: bool = False         # it applies with no record at all (to everyone)
    exact: bool = True            # False: `acts` is an upper bound
    undetermined: tuple[str, ...] = ()  # behaviours for which the search was not
    #                                     determined (within `tried` acts)
    tried: int | None = None      # the acts examined for those


@dataclass(frozen=True)
class Audit:
    """The audit of one policy: verdicts per article, findings, and each measure's reach."""

    policy: str
    verdicts: dict[str, str]          # article -> clear | review | indicator
    findings: tuple[Finding, ...]
    measures: tuple[MeasureReach, ...]
    disclaimer: str = DISCLAIMER
    run: RunFigures | None = None     # figures from a run of the policy (--run, --simulate)
    # article -> why it cannot be judged (facts missing, a search not determined); its
    # verdict then reads "cannot judge: ..." unless it holds indicators
    unjudged: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def prohibited(self) -> bool:
        """Whether any prohibited-practice indicator (AI Act Art. 5(1)(c)) was found."""
        return self.verdicts[ART5] == "indicator"

    @property
    def exit_code(self) -> int:
        """The command's exit status: 1 when any article holds indicators, 3 when none
        does but an article cannot be judged (facts missing, or a search not determined),
        0 otherwise (clear, or findings needing review only)."""
        if "indicator" in self.verdicts.values():
            return 1
        return 3 if self.cannot_judge else 0

    @property
    def cannot_judge(self) -> list[str]:
        """The articles without indicators that cannot be judged."""
        return [a for a in ARTICLES if self.unjudged.get(a)
                and self.verdicts[a] != "indicator"]

    def verdict_text(self, article: str) -> str:
        if article in self.cannot_judge:
            return "cannot judge: " + "; ".join(self.unjudged[article])
        return VERDICTS[article][self.verdicts[article]]

    def finding(self, ident: str) -> list[Finding]:
        """The findings `ident` selects: a finding's id; a grouped id with `*` (as the
        terminal prints, e.g. cross_context/jobs_closed/*); or a whole part of ids (a
        type, a measure, a behaviour) or a list name, for every finding that names it.
        An empty string or a part of a word selects nothing."""
        ident = ident.strip()
        if not ident or ident.strip("/*") == "":
            return []
        exact = [f for f in self.findings if f.id == ident]
        if exact:
            return exact
        if "*" in ident or "?" in ident:
            from fnmatch import fnmatchcase

            return [f for f in self.findings if fnmatchcase(f.id, ident)]
        return [f for f in self.findings
                if ident in f.id.split("/") or ident in (f.list, f.measure, f.behaviour)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "disclaimer": self.disclaimer,
            "prohibited_practice_indicators": self.prohibited,
            "exit_status": self.exit_code,
            "verdicts": {a: {"level": v, "verdict": self.verdict_text(a),
                             "cannot_judge": a in self.cannot_judge,
                             "why_not_judged": list(self.unjudged.get(a, ()))}
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
    unjudged: dict[str, list[str]] = {}
    for plan in plans.values():
        f, r = _audit_type(policy, plan, unjudged)
        findings += f
        reaches += r
    findings += _redress(policy, plans)
    findings = _dedupe(findings)
    verdicts: dict[str, str] = {}
    for art in ARTICLES:
        levels = {f.level for f in findings if f.article == art}
        verdicts[art] = ("indicator" if "indicator" in levels
                         else "review" if levels or unjudged.get(art) else "clear")
    order = {t: i for i, t in enumerate(FINDING_TYPES)}
    findings.sort(key=lambda f: (ARTICLES.index(f.article), f.level != "indicator",
                                 order[f.type], f.id))
    return Audit(policy.meta.name, verdicts, tuple(findings), tuple(reaches), run=run,
                 unjudged={a: _why(a, v) for a, v in unjudged.items() if v})


def _why(article: str, reasons: list[str]) -> tuple[str, ...]:
    """Why an article cannot be judged, in a few words: the measures whose facts are
    missing (named by the missing_facts findings), then each search not determined."""
    reasons = list(dict.fromkeys(reasons))
    missing = [r.removeprefix("facts missing: ") for r in reasons
               if r.startswith("facts missing: ")]
    out = []
    if missing:
        names = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more"
                                          if len(missing) > 4 else "")
        what = "the severity" if article == ART22 else "context, gravity or severity"
        out.append(f"facts missing ({what} on the paths to"
                   f" {len(missing)} measure{'s' if len(missing) != 1 else ''}: {names};"
                   " see the missing_facts findings)")
    out += [r for r in reasons if not r.startswith("facts missing: ")]
    return tuple(out)


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


def _acts_words(k: int, exact: bool = True, tried: int | None = None) -> str:
    """"41 acts", "1 act", "at most 5,001 acts (4,096 or fewer do not)"."""
    n = f"{k:,} act{'s' if k != 1 else ''}"
    if exact:
        return n
    return f"at most {n} ({tried:,} or fewer do not)" if tried else f"at most {n}"


def _describe_state(r: Reach, mi: int) -> str:
    h = r.hits[mi]
    on = f"on {', '.join(h.lists)}" if h.lists else "on no list"
    acts = (f"{h.acts:,} such act{'s' if h.acts != 1 else ''}" if h.exact
            else f"{h.acts:,} such acts (fewer not ruled out above {r.tried:,})")
    state = f"score {h.score:,}, grade {h.grade}, {on}"
    if h.after == 0:
        verb = "leave" if h.acts != 1 or not h.exact else "leaves"
        return f"{acts}, one a day within {_days(r.window)}, {verb} the subject with {state}"
    return (f"{acts}, one a day, and then nothing more: {_days(h.after)} after the last"
            f" act the subject has {state}")


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


def _towards(policy: Policy, plan: TypePlan, mi: int, kind: int) -> bool:
    """Whether records of `kind` push a subject towards measure `mi`: a trigger of its
    list, or points that move the score towards its rule. A direction only: whether
    the measure can be reached at all is asked of the rule engine (`_feeders`)."""
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


def _together(plan: TypePlan, acts: list[_Act], measures: list[int], sign: int,
              segment: int) -> Reach | None:
    """What every record kind whose points go one way (`sign`), done each day together,
    brings: the most negative (or positive) combination, through the rule engine."""
    kinds = sorted({kd for a in acts if a.segment == segment for kd in a.kinds
                    if plan.kinds[kd].points * sign > 0
                    or (plan.arrays.kinds.trig[kd] >= 0 and sign < 0)})
    if not kinds or not measures:
        return None
    return reach(plan, kinds, segment=segment, measures=measures)


def _audit_type(policy: Policy, plan: TypePlan, unjudged: dict[str, list[str]]
                ) -> tuple[list[Finding], list[MeasureReach]]:
    acts = _acts(policy, plan)
    by_act = {a.name: a for a in acts}
    reaches_of: dict[int, Reach] = {}
    for a in acts:
        for kind in a.kinds:
            reaches_of[kind] = least_acts(plan, kind, segment=a.segment)
    rest = at_rest(plan)
    findings: list[Finding] = []
    reaches: list[MeasureReach] = []
    person = plan.type_name == "person"
    t = plan.type_name

    # every behaviour that brings each measure alone (its least kind)
    alone: dict[int, dict[str, tuple[int, int]]] = {}   # measure -> behaviour -> (acts, kind)
    unsure: dict[int, dict[str, int]] = {}               # measure -> behaviour -> tried
    for m in plan.measures:
        alone[m.index], unsure[m.index] = {}, {}
        if (rest >> m.index) & 1:
            continue  # everyone has it: no act brings it
        for a in acts:
            best = None
            for kind in a.kinds:
                r = reaches_of[kind]
                k = r.least.get(m.index)
                if k is not None and (best is None or k < best[0]):
                    best = (k, kind)
                elif k is None and (r.undetermined >> m.index) & 1:
                    unsure[m.index][a.name] = r.tried
            if best is not None:
                alone[m.index][a.name] = best
                unsure[m.index].pop(a.name, None)
    # the records that bring a measure only with others: the direction of their points,
    # and the combination of every kind that goes that way, replayed
    fed: dict[int, list[str]] = {m.index: list(alone[m.index]) for m in plan.measures}
    together: dict[tuple[int, int], Reach | None] = {}
    for m in plan.measures:
        if (rest >> m.index) & 1:
            continue
        for a in acts:
            if a.name in alone[m.index]:
                continue
            for kd in a.kinds:
                if not _towards(policy, plan, m.index, kd):
                    continue
                sign = -1 if plan.kinds[kd].points < 0 or plan.arrays.kinds.trig[kd] >= 0 \
                    else 1
                key = (sign, a.segment)
                if key not in together:
                    asked = [x.index for x in plan.measures if not (rest >> x.index) & 1]
                    together[key] = _together(plan, acts, asked, sign, a.segment)
                c = together[key]
                if c is None:
                    continue
                if m.index in c.least:
                    fed[m.index].append(a.name)
                    break
                if (c.undetermined >> m.index) & 1:
                    unsure[m.index].setdefault(a.name, c.tried)
    for m in plan.measures:
        pm = _measure(policy, plan, m.index)
        sanction = m.type == "sanction"
        everyone = bool((rest >> m.index) & 1)
        here = alone[m.index]

        def gravity_key(name: str, here: dict[str, tuple[int, int]] = here
                        ) -> tuple[int, int]:
            g = _rank(GRAVITIES, by_act[name].gravity)
            return (g if g is not None else len(GRAVITIES), here[name][0])

        least_name = min(here, key=gravity_key) if here else None
        la = by_act[least_name] if least_name else None
        hit = (reaches_of[here[least_name][1]].hits[m.index] if least_name else None)
        tried = min(unsure[m.index].values()) if unsure[m.index] else None
        reaches.append(MeasureReach(
            t, m.name, m.type, pm.context, pm.severity, least_name,
            la.gravity if la else None,
            plan.kinds[here[least_name][1]].name if least_name else None,
            here[least_name][0] if least_name else None, plan.window,
            tuple(here), tuple(fed[m.index]), everyone, hit.exact if hit else True,
            tuple(unsure[m.index]), tried))
        if not person:
            continue  # Art. 5(1)(c) and GDPR protect natural persons
        measure_words = _describe_measure(policy, plan, m.index)

        def path(a: _Act, how: tuple[int, int] | None, words: str = measure_words,
                 mi: int = m.index) -> tuple[str, ...]:
            if how is None:
                kind = a.kinds[0]
                return (_describe_act(a, plan, kind),
                        "its records bring the subject to the rule together with other"
                        " records (every kind whose points go the same way, one of each a"
                        " day, replayed through the rule engine)", words)
            k, kind = how
            return (_describe_act(a, plan, kind),
                    _describe_state(reaches_of[kind], mi), words)

        if unsure[m.index]:
            names = ", ".join(sorted(unsure[m.index]))
            why = (f"whether {names} bring{'s' if len(unsure[m.index]) == 1 else ''}"
                   f" {m.name} is not determined within {tried:,} acts")
            unjudged.setdefault(ART5, []).append(why)
        # a sanction in force with no record at all falls on everyone, whatever they do
        if everyone:
            if sanction:
                findings.append(Finding(
                    f"everyone/{m.name}", "everyone", ART5, "indicator",
                    f"{m.name} applies to everyone, with no act at all: detriment that"
                    " no behaviour of theirs brings", (
                        "a subject with no record at all (the score's base, on no list by"
                        " a record)", measure_words,
                        "everyone is treated so, whatever they do: the treatment is"
                        " unrelated to any behaviour"),
                    t, None, m.name, pm.list, {"context": pm.context,
                                               "severity": pm.severity}))
            continue
        # cross-context detriment
        for name in fed[m.index]:
            a = by_act[name]
            how = here.get(name)
            if a.context is None or pm.context is None:
                continue  # reported as missing facts
            if a.context != pm.context:
                level: Level = "indicator" if sanction else "review"
                what = "detriment" if sanction else "a privilege withheld from others"
                h = reaches_of[how[1]].hits[m.index] if how else None
                acts_txt = (_acts_words(how[0], h.exact if h else True,
                                        reaches_of[how[1]].tried) + " alone"
                            if how else "with other records")
                findings.append(Finding(
                    f"cross_context/{m.name}/{name}", "cross_context", ART5, level,
                    f"{name} ({_ctx(a.context)}) brings {m.name} ({_ctx(pm.context)}):"
                    f" {what} in an unrelated context, {acts_txt}",
                    path(a, how), t, name, m.name, pm.list,
                    {"behaviour_context": a.context, "measure_context": pm.context,
                     "acts": how[0] if how else None,
                     "exact": h.exact if h else None, "window_days": plan.window}))
        if not sanction:
            continue
        # disproportion: the least grave behaviour that brings it alone
        sev = _rank(SEVERITIES, pm.severity)
        if least_name is not None and la is not None and hit is not None:
            grav = _rank(GRAVITIES, la.gravity)
            if sev is not None and grav is not None and sev - grav >= 2:
                k, kind = here[least_name]
                n = _acts_words(k, hit.exact)
                words = n.replace(" act", f" {la.gravity} act", 1)
                findings.append(Finding(
                    f"disproportion/{m.name}", "disproportion", ART5, "indicator",
                    f"{words} ({least_name}) within {_days(plan.window)}"
                    f" bring{'s' if k == 1 else ''} {m.name} ({pm.severity})",
                    path(la, here[least_name]), t, least_name, m.name,
                    pm.list, {"gravity": la.gravity, "severity": pm.severity, "acts": k,
                              "exact": hit.exact, "window_days": plan.window,
                              "kind": plan.kinds[kind].name,
                              "as_grave": {n: here[n][0] for n in here
                                           if by_act[n].gravity == la.gravity}}))
        # third parties: children
        if m.reaches == "children" and fed[m.index]:
            src = least_name or fed[m.index][0]
            findings.append(Finding(
                f"third_parties/{m.name}", "third_parties", ART5, "indicator",
                f"{m.name} falls on the children of the subjects it applies to, who did"
                " nothing themselves", (*path(by_act[src], here.get(src)),
                                        "the children are treated by their guardian's record,"
                                        " not by anything they did"),
                t, src, m.name, pm.list))
        # automated decisions with significant effects
        auto = [a for a in acts if a.automated and a.unreviewed and a.name in fed[m.index]]
        if sev is not None and sev >= SEVERITIES.index("significant"):
            alone_auto = [a for a in auto if a.name in here]
            if alone_auto:
                a = min(alone_auto, key=lambda x: gravity_key(x.name))
                k, kind = here[a.name]
                findings.append(Finding(
                    f"automated/{m.name}", "automated", ART22, "indicator",
                    f"{m.name} ({pm.severity}) is brought by automated records that count"
                    f" before any human review: {k:,} {a.name} record{'s' if k != 1 else ''}"
                    " alone", path(a, here[a.name]), t, a.name, m.name, pm.list,
                    {"behaviours": {x.name: here[x.name][0] for x in alone_auto}}))
            elif auto:
                kinds = [kd for a in auto for kd in a.kinds
                         if _towards(policy, plan, m.index, kd)]
                c = reach(plan, kinds, measures=[m.index]) if kinds else None
                if c is not None and m.index in c.least:
                    names = sorted({plan.kinds[kd].behaviour for kd in kinds})
                    findings.append(Finding(
                        f"automated/{m.name}", "automated", ART22, "indicator",
                        f"{m.name} ({pm.severity}) is brought by automated records that"
                        " count before any human review, together: " + ", ".join(names),
                        (f"records of {', '.join(names)} come from automated channels and"
                         " count before any human review",
                         f"together, one of each a day for {_days(c.least[m.index])}, they"
                         " bring it", measure_words), t, None, m.name, pm.list,
                        {"behaviours": names}))
                elif c is not None and (c.undetermined >> m.index) & 1:
                    unjudged.setdefault(ART22, []).append(
                        f"whether automated records bring {m.name} together is not"
                        f" determined within {c.tried:,} acts")
        elif sev is None and auto:
            unjudged.setdefault(ART22, []).append(f"facts missing: {m.name}")
            findings.append(Finding(
                f"missing_facts/{m.name}/automated", "missing_facts", ART22, "review",
                f"the audit cannot judge whether {m.name}, brought by automated records,"
                " is significant: its severity is not stated",
                (f"automated records that count before any human review ("
                 f"{', '.join(a.name for a in auto)}) bring {m.name}",
                 f"measure {m.name}: severity not stated"), t, None, m.name, pm.list,
                {"missing": [f"measure {m.name}: severity"]}))
        # opacity: records the subject cannot see
        hidden = [by_act[n] for n in fed[m.index] if not by_act[n].visible]
        for a in hidden:
            findings.append(Finding(
                f"opacity/{m.name}/{a.name}", "opacity", ART15, "indicator",
                f"{a.name} records from the {a.channel} channel, hidden from their subject,"
                f" feed {m.name}", path(a, here.get(a.name)), t, a.name, m.name, pm.list))
        # missing facts on a path
        missing = []
        if fed[m.index] or unsure[m.index]:
            if pm.context is None:
                missing.append(f"measure {m.name}: context")
            if pm.severity is None:
                missing.append(f"measure {m.name}: severity")
        for name in fed[m.index]:
            a = by_act[name]
            if a.context is None:
                missing.append(f"behaviour {name}: context (or its channel {a.channel}'s)")
            if a.gravity is None and any(plan.kinds[kd].klass == "violation"
                                         for kd in a.kinds):
                missing.append(f"behaviour {name}: gravity")
        if missing:
            unjudged.setdefault(ART5, []).append(f"facts missing: {m.name}")
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
        by_score = x.score_below is not None or x.score_at_least is not None
        # credit repair ends a trigger's listing, not one by score: a list that also
        # lists by score keeps those on it with no way out but time
        repair = any(t.repair_probability > 0 for t in x.triggers) and not by_score
        if repair or x.appeal.strip():
            continue
        longest = max([*(t.days for t in x.triggers),
                       score.window_days + (x.duration_days or 0)
                       if (x.score_below is not None or x.score_at_least is not None)
                       else 0])
        out.append(Finding(
            f"no_way_out/{x.name}", "no_way_out", REDRESS, "review",
            f"list {x.name} has no appeal path and no repair"
            + (" of a listing by score" if any(t.repair_probability > 0 for t in x.triggers)
               else "") + ": only time ends a listing"
            f" (up to {_days(longest)} from the last record)",
            (f"a subject enters {x.name} by "
             + ("score" if x.score_below is not None or x.score_at_least is not None
                else "a trigger record"),
             "no appeal path is named (appeal is empty) and no trigger has credit repair"
             if not any(t.repair_probability > 0 for t in x.triggers) else
             "no appeal path is named (appeal is empty); credit repair shortens only a"
             " trigger's listing, not a listing by score",
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
