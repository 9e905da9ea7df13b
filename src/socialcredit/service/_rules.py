"""The policy's rules for the service, through the simulator's own code.

Nothing here decides anything on its own. A subject's state comes from replaying its
records through the simulator's kernel (`engine._replay`), with the dates that explain
it; what the state brings (sanctions, privileges, spillover onto children, publication,
company terms) comes from the plan's one decision function (`engine._decide`). This
module turns indices and day numbers into names, dates and sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from socialcredit.engine import (
    BIG,
    NEVER,
    Replay,
    TypePlan,
    applying,
    compile_policy,
    decide,
    disclosed,
    record_identity,
    replay,
)
from socialcredit.policy import Policy

NO_CHANGE_DAYS = 3650  # a state that nothing will change is stored as holding this long


@dataclass
class Evaluation:
    """A subject's state today and what it brings, in words (a child: its guardian's
    measures that reach children; no score of its own)."""

    subject_type: str
    score: int | None
    grade: str | None
    lists: list[dict[str, Any]] = field(default_factory=list)
    measures: list[dict[str, Any]] = field(default_factory=list)
    valid_until: date | None = None
    records: dict[str, dict[str, date | None]] = field(default_factory=dict)
    mask: int = 0
    bits: int = 0

    @property
    def list_names(self) -> set[str]:
        return {x["name"] for x in self.lists}


@dataclass(frozen=True)
class RecordRows:
    """Counting records of several subjects of one type, as arrays (one row each)."""

    subject: np.ndarray        # int64: index into the subject ids
    kind: list[str]
    day: np.ndarray            # datetime64[D]
    id: list[str]

    @staticmethod
    def empty() -> RecordRows:
        return RecordRows(np.empty(0, np.int64), [], np.empty(0, "datetime64[D]"), [])


@dataclass(frozen=True)
class Replayed:
    """A replay of subjects up to `today`: day d of the replay is `first + d`."""

    plan: TypePlan
    first: np.datetime64
    days: int
    result: Replay
    kept: np.ndarray           # indices of the given records that were replayed
    days_of_kept: np.ndarray   # their days in the replay
    kinds_of_kept: np.ndarray  # their record kinds' codes in the plan

    def date(self, day: int) -> date:
        return (self.first + np.timedelta64(int(day), "D")).astype(date)

    def result_day(self, j: int) -> int:
        """The replay day of replayed record j."""
        return int(self.days_of_kept[j])

    def valid_until(self) -> list[date]:
        """Per subject, the last date its state is sure to hold without a new record."""
        nxt = self.result.final.next_change
        cap = self.days - 1 + NO_CHANGE_DAYS
        last = np.where(nxt >= NEVER, cap, np.minimum(nxt - 1, cap))
        return (self.first + last.astype("timedelta64[D]")).astype(date).tolist()


class Rules:
    """One policy, compiled once, answering for subjects of the service."""

    def __init__(self, policy: Policy, seed: int | None = None) -> None:
        self.policy = policy
        self.plans = compile_policy(policy)
        self.seed = policy.run.seed if seed is None else seed
        self.version = f"{policy.meta.name}@{policy.meta.version}"
        self.kind_type: dict[str, str] = {}
        self.kind_channel: dict[str, str] = {}
        self.kind_points: dict[str, int] = {}
        for tname, plan in self.plans.items():
            for k in plan.kinds:
                self.kind_type[k.name] = tname
                self.kind_channel[k.name] = k.channel
                self.kind_points[k.name] = k.points
        self.services = sorted({s for p in self.plans.values() for s in p.services})
        self.company_kinds = [k.name for k in policy.population.company_kinds]
        self._codes = {t: plan.kind_index() for t, plan in self.plans.items()}
        self._repairable = {t: {k.name for i, k in enumerate(p.kinds)
                                if p.arrays.kinds.rprob[i] > 0} for t, p in self.plans.items()}
        self._list_text: dict[str, dict[int, str]] = {}
        self._base: dict[str, tuple[int, str, str]] = {}
        # record kind -> the company kinds its behaviour is limited to (None: all)
        self._behaviour_kinds = {name: b.company_kinds for b in policy.behaviours
                                 for name, *_ in b.record_kinds()}

    # -------------------------------------------------------------- plain facts
    def window(self, subject_type: str) -> int:
        return self.plans[subject_type].window

    def horizon(self, subject_type: str) -> int:
        """Days of history that can matter for a state today (the plan's horizon)."""
        return self.plans[subject_type].horizon

    def needs_review(self, kind: str, confidence: float | None) -> bool:
        threshold = self.policy.channels[self.kind_channel[kind]].review_below_confidence
        return threshold is not None and (confidence is None or confidence < threshold)

    def kind_allows(self, record_kind: str, company_kind: str | None) -> bool:
        """Whether a company of `company_kind` can have records of this kind (a
        behaviour limited to some kinds of company)."""
        allowed = self._behaviour_kinds.get(record_kind)
        return allowed is None or company_kind is None or company_kind in allowed

    def segment(self, subject_type: str, company_kind: str | None) -> int | None:
        """A subject's segment in the plan (its company kind), None if unknown."""
        if subject_type != "company":
            return 0
        if company_kind is None or company_kind not in self.company_kinds:
            # unknown, or a kind an earlier policy had: only rules for every kind apply
            return 0 if len(self.company_kinds) == 1 else None
        return self.company_kinds.index(company_kind)

    # -------------------------------------------------------------- replay
    def replay(self, subject_type: str, subject_ids: list[str], recs: RecordRows, today: date,
               span: int | None = None, segments: list[int | None] | None = None,
               ) -> Replayed:
        """Replay subjects over the `span` days ending today (default: the plan's
        horizon) from their records; records outside the span are left out."""
        plan = self.plans[subject_type]
        days = span or plan.horizon
        first = np.datetime64(today - timedelta(days=days - 1), "D")
        code_of = self._codes[subject_type]
        code = np.fromiter((code_of.get(k, -1) for k in recs.kind), np.int64, len(recs.kind))
        day = (np.asarray(recs.day, "datetime64[D]") - first).astype(np.int64)
        kept = np.flatnonzero((day >= 0) & (day < days) & (code >= 0))
        subject = np.asarray(recs.subject, np.int64)[kept]
        repairable = self._repairable[subject_type]
        key = np.zeros(kept.shape[0], np.uint64)
        if repairable:
            for j, r in enumerate(kept.tolist()):
                if recs.kind[r] in repairable:
                    key[j] = record_identity(subject_ids[int(recs.subject[r])], recs.id[r])
        seg = None
        if segments is not None:
            seg = np.array([0 if s is None else s for s in segments], np.int8)
        result = replay(plan, len(subject_ids), days, subject, day[kept], code[kept], key=key,
                        segment=seg, seed=self.seed)
        return Replayed(plan, first, days, result, kept, day[kept], code[kept])

    def states(self, subject_type: str, subject_ids: list[str], recs: RecordRows,
               today: date, segments: list[int | None] | None = None,
               ) -> tuple[list[int], list[str], list[str], list[date]]:
        """The states today of subjects of one type from their counting records, in one
        kernel call with no Python object per record: score, grade, lists (names sorted,
        comma-separated) and `valid_until`, the last date the state is sure to hold
        without a new record (from the kernel's next event: a record leaving the window,
        a listing or a ban ending)."""
        rp = self.replay(subject_type, subject_ids, recs, today, segments=segments)
        f, plan = rp.result.final, rp.plan
        names = self._list_text.setdefault(subject_type, {})
        lists = []
        for m in f.mask.tolist():
            if m not in names:
                names[m] = ",".join(sorted(plan.list_names(m)))
            lists.append(names[m])
        return (f.score.tolist(), [plan.grades[g] for g in f.grade.tolist()], lists,
                rp.valid_until())

    def warm_up(self, today: date) -> None:
        """Compile the kernels now (one subject with one record per type), not in the
        first check that needs them; and the decision functions."""
        for subject_type, codes in self._codes.items():
            if codes:
                recs = RecordRows(np.zeros(1, np.int64), [next(iter(codes))],
                                  np.array([today], "datetime64[D]"), ["warm-up"])
                self.states(subject_type, ["warm-up"], recs, today)
                plan = self.plans[subject_type]
                if plan.services:
                    self.decision(subject_type, plan.grades[0], "", plan.services[0])

    # -------------------------------------------------------------- what a state brings
    def mask_of(self, subject_type: str, lists: list[str] | str) -> int:
        names = [n for n in lists.split(",") if n] if isinstance(lists, str) else lists
        plan = self.plans[subject_type]
        return sum(1 << plan.lists.index(n) for n in names)

    def measures(self, subject_type: str, grade: str | None, lists: list[str] | str,
                 child: bool = False) -> list[dict[str, Any]]:
        """The sanctions and privileges a state brings, each with its rule: for an adult
        or a company, those on itself; for a child, its guardian's that reach children
        (`subject_type`, `grade` and `lists` are then the guardian's)."""
        if subject_type not in self.plans or grade is None:
            return []
        plan = self.plans[subject_type]
        bits = int(applying(plan.consequences, plan.grades.index(grade),
                            self.mask_of(subject_type, lists)))
        out = []
        for m in plan.measure_list(bits):
            if (m.reaches == "children") != child:
                continue
            out.append({"name": m.name, "type": m.type, "service": m.service,
                        "rule": self._why_measure(m.rule, grade, child),
                        "legal_basis": m.legal_basis or "none stated in the policy"})
        return out

    @staticmethod
    def _why_measure(rule: str, grade: str, child: bool) -> str:
        who = "guardian" if child else "subject"
        return f"{who} is {rule}" if rule.startswith("on ") else f"{who} is in grade {grade}"
    def decision(self, subject_type: str, grade: str | None, lists: list[str] | str,
                 service: str, child: bool = False) -> dict[str, Any]:
        """Allow or deny `service` for a state (for a child: its guardian's state), with
        the measure and its legal basis, and nothing else (a gatekeeper learns no grade,
        list or score): the plan's decision function."""
        plan = self.plans.get(subject_type)
        if plan is None or service not in plan.services or grade is None:
            return {"allowed": True, "measure": None, "legal_basis": None}
        cons = plan.consequences
        bits = int(applying(cons, plan.grades.index(grade), self.mask_of(subject_type, lists)))
        sv = plan.services.index(service)
        allowed, measure = decide(cons, sv, 0 if child else bits, bits if child else 0)
        allowed, measure = bool(allowed), int(measure)
        if measure >= 0:
            m = plan.measures[measure]
            return {"allowed": allowed, "measure": m.name,
                    "legal_basis": m.legal_basis or "none stated in the policy"}
        privileges = [m for m in plan.measures if m.service == service and m.type == "privilege"
                      and (m.reaches == "children") == child]
        if not allowed and privileges:
            return {"allowed": False, "measure": privileges[0].name,
                    "legal_basis": privileges[0].legal_basis or "none stated in the policy"}
        return {"allowed": allowed, "measure": None, "legal_basis": None}

    def base_state(self, subject_type: str, today: date) -> tuple[int, str, str]:
        """The state of a subject of this type with no records: score, grade, lists."""
        scores, grades, lists, _ = self.states(subject_type, ["-"], RecordRows.empty(), today)
        return scores[0], grades[0], lists[0]

    def unknown_decision(self, service: str) -> dict[str, Any]:
        """The answer for a subject the service has no row for: that of a subject with
        no records, of the type the service concerns (persons first), so that the
        answer does not tell whether the subject exists."""
        for stype, plan in self.plans.items():
            if service in plan.services:
                if stype not in self._base:
                    self._base[stype] = self.base_state(stype, date(2000, 1, 1))
                _, grade, lists = self._base[stype]
                return self.decision(stype, grade, lists, service)
        return self.decision("person", None, "", service)

    def disclosure(self, subject_type: str, segment: int | None, grade: str,
                   lists: list[str] | str) -> list[Any]:
        """The disclosure rules (plan.disclosures) that publish a state; a company of
        unknown kind only by rules that cover every kind."""
        plan = self.plans[subject_type]
        if not plan.disclosures:
            return []
        bits = int(disclosed(plan.consequences, 0 if segment is None else segment,
                             plan.grades.index(grade), self.mask_of(subject_type, lists)))
        return [d for d in plan.disclosures if (bits >> d.index) & 1
                and (segment is not None or d.company_kinds is None)]

    # -------------------------------------------------------------- explanations
    def explain(self, subject_type: str, subject_ids: list[str], recs: RecordRows,
                today: date, segments: list[int | None] | None = None,
                full_history: bool = False) -> list[Evaluation]:
        """Evaluations with the rule behind each listing (and its dates), the measures,
        and per record the dates it counts and lists until. `full_history`: replay every
        given record (for a file's dates), not only the horizon."""
        plan = self.plans[subject_type]
        span = None
        if full_history and len(recs.day):
            oldest = np.asarray(recs.day, "datetime64[D]").min().astype(date)
            span = max(plan.horizon, (today - oldest).days + 1)
        rp = self.replay(subject_type, subject_ids, recs, today, span=span, segments=segments)
        f, out = rp.result.final, []
        until = rp.valid_until()
        by_subject: dict[int, list[int]] = {}
        for j, r in enumerate(rp.kept.tolist()):
            by_subject.setdefault(int(recs.subject[r]), []).append(j)
        now = rp.days - 1
        ro = rp.result.records
        trig_of = plan.arrays.kinds.trig
        for i in range(len(subject_ids)):
            score, grade, mask = int(f.score[i]), plan.grades[int(f.grade[i])], int(f.mask[i])
            ev = Evaluation(subject_type, score, grade, valid_until=until[i], mask=mask)
            mine = by_subject.get(i, [])
            for j in mine:
                r = int(rp.kept[j])
                trig = int(trig_of[rp.kinds_of_kept[j]])
                ev.records[recs.id[r]] = {
                    "kind": recs.kind[r], "occurred": rp.date(rp.result_day(j)),
                    "list": plan.lists[trig] if trig >= 0 else None,
                    "counts_until": rp.date(ro.counts_until[j]),
                    "lists_until": rp.date(ro.lists_until[j]) if ro.lists_until[j] >= 0
                    else None,
                    "wiped": rp.date(ro.wiped[j]) if ro.wiped[j] >= 0 else None}
            for li, name in enumerate(plan.lists):
                if (mask >> li) & 1:
                    end = max(int(f.trig_until[i, li]), int(f.ban_until[i, li]))
                    ev.lists.append({"name": name, "type": plan.list_types[li],
                                     "rule": self._why_list(rp, i, li, score, mine, recs, now),
                                     "until": rp.date(end).isoformat() if end >= now
                                     else None})
            ev.measures = self.measures(subject_type, grade, plan.list_names(mask))
            ev.bits = int(applying(plan.consequences, int(f.grade[i]), mask))
            out.append(ev)
        return out

    def _why_list(self, rp: Replayed, i: int, li: int, score: int, mine: list[int],
                  recs: RecordRows, now: int) -> str:
        """Why subject i is on list li today, from the replay's dates."""
        plan, f, ro = rp.plan, rp.result.final, rp.result.records
        rules = plan.arrays.lists
        reasons = []
        if rules.below[li] != -BIG and score < rules.below[li]:
            reasons.append(f"score {score} is below {rules.below[li]}")
        if rules.atleast[li] != BIG and score >= rules.atleast[li]:
            reasons.append(f"score {score} is at least {rules.atleast[li]}")
        if f.trig_until[i, li] >= now:
            kinds = plan.arrays.kinds
            hits = [j for j in mine if ro.lists_until[j] >= now
                    and kinds.trig[rp.kinds_of_kept[j]] == li]
            if hits:
                j = max(hits, key=lambda j: (ro.lists_until[j], rp.result_day(j)))
                r = int(rp.kept[j])
                k = rp.kinds_of_kept[j]
                on = rp.date(rp.result_day(j))
                end = rp.date(ro.lists_until[j])
                length = (end - on).days + 1
                repaired = " after credit repair" if length < kinds.tdays[k] else ""
                reasons.append(f"{recs.kind[r]} record {recs.id[r]} of {on.isoformat()} lists"
                               f" for {length} days{repaired}, until {end.isoformat()}")
        if f.ban_until[i, li] >= now:
            dur = int(rules.dur[li])
            end = rp.date(f.ban_until[i, li])
            start = end - timedelta(days=dur - 1)
            reasons.append(f"a {dur}-day ban from {start.isoformat()} until {end.isoformat()},"
                           " begun when the score crossed the threshold")
        return "; ".join(reasons) or "listed by the policy's rules"
