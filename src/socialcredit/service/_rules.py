"""The policy's rules for one subject at a time, through the simulator's kernel.

`Rules.evaluate` turns a subject's counting records into its state (score, grade,
lists) with `engine._subject.subject_state`, the same code that runs a batch in the
simulator, and adds what a person needs to read: the rule behind each listing and each
sanction or privilege, with its legal basis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from socialcredit.engine._plan import compile_policy
from socialcredit.engine._subject import Record, final_states, subject_states
from socialcredit.policy import Policy


@dataclass(frozen=True)
class CountingRecord:
    id: str
    kind: str
    on: date


@dataclass
class Evaluation:
    subject_type: str
    score: int | None
    grade: str | None
    lists: list[dict[str, Any]] = field(default_factory=list)
    measures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def list_names(self) -> set[str]:
        return {x["name"] for x in self.lists}


class Rules:
    """One policy, compiled once, answering for one subject at a time."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.plans = compile_policy(policy)
        self.version = f"{policy.meta.name}@{policy.meta.version}"
        self.kind_type: dict[str, str] = {}
        self.kind_channel: dict[str, str] = {}
        self.kind_points: dict[str, int] = {}
        for tname, plan in self.plans.items():
            for k in plan.kinds:
                self.kind_type[k.name] = tname
                self.kind_channel[k.name] = k.channel
                self.kind_points[k.name] = k.points
        self.lists = {x.name: x for x in policy.lists}
        self.services = sorted({m.service for m in policy.measures if m.service})
        self._codes = {t: {k.name: i for i, k in enumerate(plan.kinds)}
                       for t, plan in self.plans.items()}
        self._triggers = {t: [(self._codes[t][tr.kind], tr.days) for x in policy.lists
                              if x.subject == t for tr in x.triggers
                              if tr.kind in self._codes[t]] for t in self.plans}
        self._list_text: dict[str, dict[int, str]] = {}

    def window(self, subject_type: str) -> int:
        return int(self.plans[subject_type].scalars["window"])

    def horizon(self, subject_type: str) -> int:
        """Days of history that can still matter today."""
        lists = [x for x in self.policy.lists if x.subject == subject_type]
        longest = max([0, *(t.days for x in lists for t in x.triggers),
                       *(x.duration_days or 0 for x in lists)])
        return self.window(subject_type) + longest

    def needs_review(self, kind: str, confidence: float | None) -> bool:
        threshold = self.policy.channels[self.kind_channel[kind]].review_below_confidence
        return threshold is not None and (confidence is None or confidence < threshold)

    def evaluate(self, subject_type: str, recs: list[CountingRecord], today: date,
                 guardian: Evaluation | None = None) -> Evaluation:
        """The subject's state today from the records that count (active, not voided)."""
        return self.evaluate_many(subject_type, [recs], today, [guardian])[0]

    def evaluate_many(self, subject_type: str, recs: list[list[CountingRecord]],
                      today: date, guardians: list[Evaluation | None] | None = None,
                      ) -> list[Evaluation]:
        """Several subjects of one type at once, in one kernel call."""
        guardians = guardians or [None] * len(recs)
        if subject_type not in self.plans:  # children are not scored
            evs = [Evaluation(subject_type, None, None) for _ in recs]
        else:
            horizon = self.horizon(subject_type)
            first = today - timedelta(days=horizon - 1)
            kept = [[r for r in rs if first <= r.on <= today] for rs in recs]
            states = subject_states(self.plans[subject_type],
                                    [[Record((r.on - first).days, r.kind) for r in rs]
                                     for rs in kept], horizon)
            evs = []
            for st, rs in zip(states, kept, strict=True):
                ev = Evaluation(subject_type, st.score, st.grade)
                for name in sorted(st.lists, key=list(self.lists).index):
                    ev.lists.append({"name": name, "type": self.lists[name].type,
                                     "rule": self._why(name, st.score, rs, today)})
                evs.append(ev)
        for ev, g in zip(evs, guardians, strict=True):
            ev.measures = self._measures(ev, g)
        return evs

    def states(self, subject_type: str, n: int, subject: np.ndarray, kinds: list[str],
               days: np.ndarray, today: date) -> tuple[list[int], list[str], list[str],
                                                       list[date]]:
        """The states today of `n` subjects of one type from their counting records,
        given as arrays (subject index, kind name, date as datetime64[D]), in one kernel
        call with no Python object per record: score, grade and lists (names sorted,
        comma-separated) per subject, and `valid_until`, the last date on which that
        state is sure to hold without new records (see `valid_until`)."""
        plan = self.plans[subject_type]
        horizon = self.horizon(subject_type)
        first = np.datetime64(today - timedelta(days=horizon - 1), "D")
        code_of = self._codes[subject_type]
        code = np.fromiter((code_of.get(k, -1) for k in kinds), np.int64, len(kinds))
        day = (np.asarray(days, "datetime64[D]") - first).astype(np.int64)
        keep = (day >= 0) & (day < horizon) & (code >= 0)
        subject, day, code = np.asarray(subject, np.int64)[keep], day[keep], code[keep]
        final = final_states(plan, n, horizon, subject, day, code)
        names = self._list_text.setdefault(subject_type, {})
        lists = []
        for m in final["mask"].tolist():
            if m not in names:
                names[m] = ",".join(sorted(x for i, x in enumerate(plan.lists)
                                           if (m >> i) & 1))
            lists.append(names[m])
        until = self.valid_until(subject_type, n, subject, day, code, horizon - 1)
        return (final["score"].tolist(), [plan.grades[g] for g in final["grade"].tolist()],
                lists, (first + until).tolist())

    def warm_up(self, today: date) -> None:
        """Compile the kernels now (a state of one subject with one record per type),
        not in the first check that needs them."""
        for subject_type, codes in self._codes.items():
            if codes:
                self.states(subject_type, 1, np.zeros(1, np.int64), [next(iter(codes))],
                            np.array([today], "datetime64[D]"), today)

    def valid_until(self, subject_type: str, n: int, subject: np.ndarray, day: np.ndarray,
                    code: np.ndarray, today: int) -> np.ndarray:
        """Per subject, the last day (same scale as `day`) on which its state today is
        sure to hold without new records: the day before the next record leaves the
        window or ends a triggered listing; ten years on if none will. With bans
        (listings of their own length) it is today: those are not cached."""
        lists = [x for x in self.policy.lists if x.subject == subject_type]
        if any(x.duration_days for x in lists):
            return np.full(n, today, np.int64)
        never = today + 3651
        ends = np.where(day + self.window(subject_type) > today,
                        day + self.window(subject_type), never)
        for kind_code, trigger_days in self._triggers[subject_type]:
            ends = np.where((code == kind_code) & (day + trigger_days > today),
                            np.minimum(ends, day + trigger_days), ends)
        first_end = np.full(n, never, np.int64)
        np.minimum.at(first_end, subject, ends)
        return first_end - 1

    def from_state(self, subject_type: str, score: int | None, grade: str | None,
                   lists: list[str], guardian: Evaluation | None = None) -> Evaluation:
        """An Evaluation from a stored state (list rules not spelled out)."""
        ev = Evaluation(subject_type, score, grade,
                        [{"name": n, "type": self.lists[n].type, "rule": ""} for n in lists])
        ev.measures = self._measures(ev, guardian)
        return ev

    def _why(self, name: str, score: int, recs: list[CountingRecord], today: date) -> str:
        rule = self.lists[name]
        reasons = []
        if rule.score_below is not None and score < rule.score_below:
            reasons.append(f"score {score} is below {rule.score_below}")
        if rule.score_at_least is not None and score >= rule.score_at_least:
            reasons.append(f"score {score} is at least {rule.score_at_least}")
        for trig in rule.triggers:
            hits = [r for r in recs if r.kind == trig.kind
                    and r.on + timedelta(days=trig.days - 1) >= today]
            if hits:
                last = max(hits, key=lambda r: r.on)
                until = last.on + timedelta(days=trig.days - 1)
                reasons.append(f"{trig.kind} record {last.id} of {last.on.isoformat()}"
                               f" lists for {trig.days} days, until {until.isoformat()}")
        if not reasons and rule.duration_days:
            reasons.append(f"a {rule.duration_days}-day ban that began when the score"
                           " crossed the threshold")
        return "; ".join(reasons) or "listed by the policy's rules"

    def _measures(self, ev: Evaluation, guardian: Evaluation | None) -> list[dict[str, Any]]:
        out = []
        for m in self.policy.measures:
            if m.subject != ev.subject_type and not (m.reaches == "children" and guardian):
                continue
            if m.reaches == "children":
                if guardian is None:
                    continue
                holder, who = guardian, "guardian"
            else:
                if ev.subject_type != m.subject or ev.score is None:
                    continue
                holder, who = ev, "subject"
            if m.list is not None and m.list in holder.list_names:
                why = f"{who} is on {m.list}"
            elif m.grades is not None and holder.grade in m.grades:
                why = f"{who} is in grade {holder.grade}"
            else:
                continue
            out.append({"name": m.name, "type": m.type, "service": m.service, "rule": why,
                        "legal_basis": m.legal_basis or "none stated in the policy"})
        return out

    def check(self, ev: Evaluation, service: str) -> dict[str, Any]:
        """Allow or deny one service, with the rule and legal basis behind it."""
        here = [m for m in self.policy.measures if m.service == service]
        applying = {m["name"]: m for m in ev.measures if m["service"] == service}
        for m in here:
            if m.type == "sanction" and m.name in applying:
                a = applying[m.name]
                return {"allowed": False, "rule": f"sanction {m.name}: {a['rule']}",
                        "legal_basis": a["legal_basis"]}
        privileges = [m for m in here if m.type == "privilege"]
        for m in privileges:
            if m.name in applying:
                a = applying[m.name]
                return {"allowed": True, "rule": f"privilege {m.name}: {a['rule']}",
                        "legal_basis": a["legal_basis"]}
        if privileges:
            needs = " or ".join(f"{m.name} ({_rule_text(m)})" for m in privileges)
            return {"allowed": False, "rule": f"no privilege applies; it needs {needs}",
                    "legal_basis": privileges[0].legal_basis or "none stated in the policy"}
        return {"allowed": True, "rule": "no sanction of this policy applies",
                "legal_basis": "none needed"}


def _rule_text(m) -> str:  # noqa: ANN001 - a Measure
    return f"on {m.list}" if m.list else "grade " + "/".join(m.grades or [])
