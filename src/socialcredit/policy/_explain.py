"""A policy in plain words: what is watched, what it costs, and who is punished."""

from __future__ import annotations

from socialcredit.policy._model import Behaviour, ListRule, Policy, Score

_PLURAL = {"person": "persons", "company": "companies"}


def _rate(r: float) -> str:
    """A daily probability in words."""
    if r <= 0:
        return "never"
    if r >= 1:
        return "every day"
    days = 1 / r
    if days >= 1.5:
        return f"about once every {days:,.0f} days (probability {r:.3g} a day)"
    return f"on {r:.0%} of days"


def _pts(p: int) -> str:
    return f"{p:+d} point{'s' if abs(p) != 1 else ''}"


def _n(count: float, word: str, plural: str | None = None) -> str:
    return f"{count:g} {word if count == 1 else (plural or word + 's')}"


def _behaviour(b: Behaviour, policy: Policy) -> str:
    ch = policy.channels[b.channel]
    who = "an adult" if b.subject == "person" else (
        "a " + "/".join(b.company_kinds) if b.company_kinds else "a company"
    )
    mult = (f", scaled by the subject's {b.multiplier.replace('_', ' ')} (a trait)"
            if b.multiplier else "")
    if b.outcomes is None:
        worth = f"{b.kind}, {_pts(int(b.points or 0))}"
    else:
        parts = []
        for o in b.outcomes:
            prob = "otherwise" if o.probability is None else (
                f"with probability {o.probability}" if isinstance(o.probability, str)
                else f"with probability {o.probability:g}")
            parts.append(f"{o.name} {prob} ({_pts(o.points)})")
        worth = "; ".join(parts)
    seen = f"seen by {b.channel}"
    if ch.coverage or ch.detection < 1:
        seen += f" (detected with probability {ch.detection:g}"
        seen += f" x {ch.coverage} coverage)" if ch.coverage else ")"
    return f"- {b.name}: {who} does it {_rate(b.rate)}{mult}; {worth}; {seen}."


def _score(name: str, s: Score) -> list[str]:
    last = "the day" if s.window_days == 1 else f"the last {s.window_days} days"
    how = (f"{s.base} plus the points of {last}" if s.aggregate == "sum"
           else f"the points of the newest record of {last}, else {s.base}")
    lines = [f"{name} score: {how}" + (f", kept within {list(s.clamp)}." if s.clamp else ".")]
    bands = ", ".join(f"{g.name} >= {g.min}" if g.min is not None else f"{g.name} below"
                      for g in s.grades)
    lines.append(f"  Grades: {bands}.")
    return lines


def _list(x: ListRule) -> str:
    cond = []
    if x.score_below is not None:
        cond.append(f"score below {x.score_below}")
    if x.score_at_least is not None:
        cond.append(f"score at least {x.score_at_least}")
    for t in x.triggers:
        rep = ""
        if t.repair_after_days:
            rep = (f" (credit repair: after {_n(t.repair_after_days, 'day')} with probability"
                   f" {t.repair_probability:g})")
        cond.append(f"a {t.kind} record, for {_n(t.days, 'day')} whatever the score{rep}")
    text = f"- {x.name} ({x.type}list of {_PLURAL[x.subject]}): " + " or ".join(cond)
    if x.excludes:
        text += f", unless on {', '.join(x.excludes)}"
    if x.duration_days:
        text += f"; entering starts a {x.duration_days}-day ban"
        if x.clear_points:
            text += " and wipes the points"
    return text + "."


def explain(policy: Policy) -> str:
    """The policy in plain words, section by section (what `socialcredit explain` prints)."""
    m = policy.meta
    out = [f"{m.title or m.name} (policy {m.name!r}, version {m.version})"]
    if m.description:
        out += ["", m.description]
    pop = policy.population
    out += ["", "WHO IS WATCHED",
            (f"Synthetic persons ({pop.child_share:.0%} children, each linked to a guardian)"
             if pop.child_share > 0 else "Synthetic persons (no children)")
            + f" and {_n(pop.companies_per_person, 'company', 'companies')} per person ("
            + ", ".join(f"{k.name} {k.share:.0%}" for k in pop.company_kinds) + ")."]
    joins = sorted({r.joins_day for r in policy.regions})
    out.append(f"{_n(len(policy.regions), 'region')}; "
               + ("all in the system from day 0." if joins == [0] else
                  f"they join the system on days {', '.join(map(str, joins))} (rollout)."))
    out += ["", "CHANNELS (statistical models of sensors and records, not real feeds)"]
    for name, ch in policy.channels.items():
        bits = [f"detection {ch.detection:g}"]
        if ch.coverage:
            bits.append(f"times regional {ch.coverage} coverage")
        if ch.misattribution:
            bits.append(f"misattributes {ch.misattribution:g} of detections to another subject"
                        " of the same region")
        if ch.false_positive:
            bits.append(f"invents a {ch.false_positive.kind} record about each subject with"
                        f" probability {ch.false_positive.rate:g} a day")
        if ch.deterrence:
            bits.append(f"deters: acts fall by {ch.deterrence:g} x coverage")
        if ch.learning:
            bits.append(f"each own detection raises perceived coverage by {ch.learning:g}")
        out.append(f"- {name}: " + "; ".join(bits) + ".")
    out += ["", "BEHAVIOURS"] + ([_behaviour(b, policy) for b in policy.behaviours]
                                 or ["None: nobody does anything the policy records."])
    out += [""]
    if policy.person_score:
        out += _score("Person", policy.person_score)
    if policy.company_score:
        out += _score("Company", policy.company_score)
    if policy.lists:
        out += ["", "LISTS"] + [_list(x) for x in policy.lists]
    if policy.measures:
        out += ["", "SANCTIONS AND PRIVILEGES"]
        for me in policy.measures:
            rule = f"on {me.list}" if me.list else f"in grade {'/'.join(me.grades or [])}"
            who = (f"children of {_PLURAL[me.subject]} {rule}" if me.reaches == "children"
                   else f"{_PLURAL[me.subject]} {rule}")
            basis = f" Legal basis: {me.legal_basis}." if me.legal_basis else ""
            out.append(f"- {me.type} {me.name}: applies to {who}.{basis}")
    if policy.companies.tax_multiplier or policy.companies.procurement_excluded_grades:
        out += ["", "COMPANIES"]
        if policy.companies.tax_multiplier:
            out.append("Tax multiplier by grade: " + ", ".join(
                f"{g} {v:g}" for g, v in policy.companies.tax_multiplier.items()) + ".")
        if policy.companies.procurement_excluded_grades:
            out.append("Excluded from public procurement: grade "
                       + "/".join(policy.companies.procurement_excluded_grades) + ".")
    if policy.disclosure:
        out += ["", "PUBLISHED"]
        for d in policy.disclosure:
            rule = f"on {d.list}" if d.list else f"in grade {'/'.join(d.grades or [])}"
            kinds = f" ({'/'.join(d.company_kinds)})" if d.company_kinds else ""
            out.append(f"- every {d.subject}{kinds} {rule}: {', '.join(d.fields)}.")
    return "\n".join(out) + "\n"
