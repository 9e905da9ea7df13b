"""Compile a validated policy into the plan the backends run (one plan per subject type).

A plan is everything about one subject type: the rules from acts to lists
(`PlanArrays`), what a state brings (`Consequences`: measures, disclosure, company
terms), and the names that turn indices back into words. Nothing outside this module
reads the policy's measures, disclosure rules or company terms to decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcredit.engine._layout import (
    Behaviours,
    Channels,
    Consequences,
    Kinds,
    ListRules,
    Outcomes,
    PlanArrays,
    Regions,
    ScoreRule,
)
from socialcredit.policy import Policy
from socialcredit.policy._model import Measure, Score
from socialcredit.population import COMPANY, PERSON
from socialcredit.rng import hash_name

BIG = 1 << 62
HIST_HALF_WIDTH = 2000  # score histogram spans base +- this when the policy sets no clamp


@dataclass(frozen=True)
class KindInfo:
    name: str
    behaviour: str
    points: int
    klass: str
    channel: str


@dataclass(frozen=True)
class MeasureInfo:
    """A measure of this subject type, in words (bit `index` of a measure mask)."""

    index: int
    name: str
    type: str                # sanction | privilege
    service: str | None
    reaches: str             # self | children
    rule: str                # "on <list>" or "in grade A/B"
    legal_basis: str


@dataclass(frozen=True)
class DisclosureInfo:
    """A disclosure rule of this subject type (bit `index` of a disclosure mask)."""

    index: int
    rule: str                # "on <list>" or "in grade D"
    lists: tuple[str, ...]
    grades: tuple[str, ...]
    company_kinds: tuple[str, ...] | None
    fields: tuple[str, ...]


@dataclass(frozen=True)
class TypePlan:
    """One subject type, compiled: arrays for the backends, names for people."""

    subject_type: int
    type_name: str
    segments: list[str]
    behaviours: list[str]
    kinds: list[KindInfo]
    grades: list[str]
    lists: list[str]
    list_types: list[str]
    channels: list[str]
    measures: list[MeasureInfo]
    services: list[str]
    disclosures: list[DisclosureInfo]
    arrays: PlanArrays
    consequences: Consequences
    horizon: int

    @property
    def hist_lo(self) -> int:
        return self.arrays.score.hist_lo

    @property
    def n_bins(self) -> int:
        return self.arrays.score.n_bins

    @property
    def window(self) -> int:
        return self.arrays.score.window

    @property
    def n_regions(self) -> int:
        return int(self.arrays.regions.cov.shape[0])

    @property
    def misattributes(self) -> bool:
        """True if some behaviour of this type can be recorded against another subject."""
        a = self.arrays
        return bool(len(self.behaviours)) and bool(
            np.any(a.channels.mis[a.behaviours.chan] > 0))

    @property
    def spills(self) -> bool:
        """True if some measure of this type reaches the children of its holders."""
        return self.consequences.children != 0

    def kind_index(self) -> dict[str, int]:
        return {k.name: i for i, k in enumerate(self.kinds)}

    def list_names(self, mask: int) -> list[str]:
        """The lists of a list mask, in policy order."""
        return [n for i, n in enumerate(self.lists) if (int(mask) >> i) & 1]

    def measure_list(self, bits: int) -> list[MeasureInfo]:
        """The measures of a measure mask, in policy order."""
        return [m for m in self.measures if (int(bits) >> m.index) & 1]


def compile_policy(policy: Policy) -> dict[str, TypePlan]:
    """Compile both subject types that the policy scores: {'person': ..., 'company': ...}."""
    plans: dict[str, TypePlan] = {}
    for type_name, code, score in (
        ("person", PERSON, policy.person_score),
        ("company", COMPANY, policy.company_score),
    ):
        if score is not None:
            plans[type_name] = _compile_type(policy, type_name, code, score)
    return plans


def horizon(policy: Policy, type_name: str) -> int:
    """Days of history that can matter for a state today.

    A record counts for `window_days`; a trigger lists for its `days`. A ban (a list
    with `duration_days`) running today began at most `duration_days` ago, when the
    score of the window before it crossed the threshold, so its evidence reaches back a
    window further. (A chain of back-to-back bans older than that is not followed.)"""
    score = policy.person_score if type_name == "person" else policy.company_score
    assert score is not None  # noqa: S101 - only scored types have a plan
    lists = [x for x in policy.lists if x.subject == type_name]
    longest = max([0, *(t.days for x in lists for t in x.triggers),
                   *((x.duration_days or 0) + score.window_days for x in lists
                     if x.duration_days)])
    return score.window_days + longest


def _compile_type(policy: Policy, type_name: str, code: int, score: Score) -> TypePlan:
    pop = policy.population
    traits = list(pop.person_traits if type_name == "person" else pop.company_traits)
    segments = ["adult"] if type_name == "person" else [k.name for k in pop.company_kinds]
    channels = list(policy.channels)
    cov_names = sorted({c.coverage for c in policy.channels.values() if c.coverage})
    behaviours = [b for b in policy.behaviours if b.subject == type_name]

    kinds: list[KindInfo] = []
    b_rate, b_mult, b_chan, b_stream, b_os, b_oe, b_segmask = ([] for _ in range(7))
    o_kind, o_prob, o_trait, o_compl = ([] for _ in range(4))
    for b in behaviours:
        b_rate.append(b.rate)
        b_mult.append(traits.index(b.multiplier) if b.multiplier else -1)
        b_chan.append(channels.index(b.channel))
        b_stream.append(hash_name(f"behaviour:{b.name}"))
        b_os.append(len(o_kind))
        for name, points, klass, prob in b.record_kinds():
            o_kind.append(len(kinds))
            kinds.append(KindInfo(name, b.name, points, klass, b.channel))
            if isinstance(prob, str):
                o_trait.append(traits.index(prob.removeprefix("1-")))
                o_compl.append(prob.startswith("1-"))
                o_prob.append(0.0)
            else:
                o_trait.append(-1)
                o_compl.append(False)
                o_prob.append(1.0 if prob is None else float(prob))
        b_oe.append(len(o_kind))
        allowed = b.company_kinds if b.company_kinds is not None else segments
        b_segmask.append(sum(1 << segments.index(s) for s in allowed))
    kind_index = {k.name: i for i, k in enumerate(kinds)}

    lists = [x for x in policy.lists if x.subject == type_name]
    list_names = [x.name for x in lists]
    k_trig = np.full(len(kinds), -1, np.int64)
    k_tdays = np.zeros(len(kinds), np.int64)
    k_rafter = np.zeros(len(kinds), np.int64)
    k_rprob = np.zeros(len(kinds), np.float64)
    for li, x in enumerate(lists):
        for trig in x.triggers:
            k = kind_index[trig.kind]
            k_trig[k] = li
            k_tdays[k] = trig.days
            k_rafter[k] = trig.repair_after_days or trig.days
            k_rprob[k] = trig.repair_probability
    names = [k.name.encode() for k in kinds]
    k_name = np.frombuffer(b"".join(names), np.uint8).copy()
    k_name_off = np.concatenate([[0], np.cumsum([len(n) for n in names])]).astype(np.int64)

    c_fp_kind, c_fp_rate = [], []
    for ch in policy.channels.values():
        fp = ch.false_positive
        if fp is not None and fp.kind in kind_index:
            c_fp_kind.append(kind_index[fp.kind])
            c_fp_rate.append(fp.rate)
        else:
            c_fp_kind.append(-1)
            c_fp_rate.append(0.0)

    # the score histogram (exact daily quantiles) spans the clamp, or base +- 2,000: at
    # most 4,001 bins, so its memory stays days x 16 KB; scores beyond it count in the
    # edge bins
    hist_lo, hist_hi = score.base - HIST_HALF_WIDTH, score.base + HIST_HALF_WIDTH
    if score.clamp is not None:
        lo, hi = score.clamp
        if hi - lo <= 2 * HIST_HALF_WIDTH:
            hist_lo, hist_hi = lo, hi
        else:
            hist_lo = min(max(lo, hist_lo), hi - 2 * HIST_HALF_WIDTH)
            hist_hi = hist_lo + 2 * HIST_HALF_WIDTH
    cov = np.array(
        [[r.coverage[n] for n in cov_names] for r in policy.regions], dtype=np.float64
    ).reshape(len(policy.regions), len(cov_names))
    clamp_lo, clamp_hi = score.clamp if score.clamp is not None else (-BIG, BIG)

    def f64(x: list) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def i64(x: list) -> np.ndarray:
        return np.asarray(x, dtype=np.int64)

    below = i64([x.score_below if x.score_below is not None else -BIG for x in lists])
    atleast = i64([x.score_at_least if x.score_at_least is not None else BIG for x in lists])
    arrays = PlanArrays(
        subject_type=code,
        regions=Regions(join_day=i64([r.joins_day for r in policy.regions]), cov=cov),
        behaviours=Behaviours(
            rate=f64(b_rate), mult=i64(b_mult), chan=i64(b_chan),
            stream=np.asarray(b_stream, dtype=np.uint64), os=i64(b_os), oe=i64(b_oe),
            segmask=i64(b_segmask)),
        outcomes=Outcomes(kind=i64(o_kind), prob=f64(o_prob), trait=i64(o_trait),
                          compl=np.asarray(o_compl, dtype=np.bool_)),
        kinds=Kinds(points=i64([k.points for k in kinds]), trig=k_trig, tdays=k_tdays,
                    rafter=k_rafter, rprob=k_rprob, name=k_name, name_off=k_name_off,
                    prefix=ord("p" if type_name == "person" else "c")),
        channels=Channels(
            det=f64([c.detection for c in policy.channels.values()]),
            cov=i64([cov_names.index(c.coverage) if c.coverage else -1
                     for c in policy.channels.values()]),
            mis=f64([c.misattribution for c in policy.channels.values()]),
            deter=f64([c.deterrence for c in policy.channels.values()]),
            learn=f64([c.learning for c in policy.channels.values()]),
            fp_rate=f64(c_fp_rate), fp_kind=i64(c_fp_kind),
            fp_stream=np.asarray([hash_name(f"false_positive:{n}") for n in channels],
                                 dtype=np.uint64)),
        score=ScoreRule(base=score.base, window=score.window_days,
                        agg=0 if score.aggregate == "sum" else 1, clamp_lo=clamp_lo,
                        clamp_hi=clamp_hi, grade_min=i64([g.min for g in score.grades[:-1]]),
                        hist_lo=hist_lo, n_bins=hist_hi - hist_lo + 1),
        lists=ListRules(
            below=below, atleast=atleast,
            excl=i64([sum(1 << list_names.index(e) for e in x.excludes) for x in lists]),
            dur=i64([x.duration_days or 0 for x in lists]),
            clear=np.asarray([x.clear_points for x in lists], dtype=np.bool_),
            thresholds=np.sort(np.concatenate([below, atleast]))),
    )
    grades = score.grade_names()
    measures, services, consequences = _consequences(policy, type_name, grades, list_names,
                                                     segments)
    disclosures = [
        DisclosureInfo(i, _rule_text(d.list, d.grades), (d.list,) if d.list else (),
                       tuple(d.grades or ()),
                       tuple(d.company_kinds) if d.company_kinds is not None else None,
                       tuple(d.fields))
        for i, d in enumerate(x for x in policy.disclosure if x.subject == type_name)
    ]
    return TypePlan(
        subject_type=code, type_name=type_name, segments=segments,
        behaviours=[b.name for b in behaviours], kinds=kinds, grades=grades,
        lists=list_names, list_types=[x.type for x in lists], channels=channels,
        measures=measures, services=services, disclosures=disclosures, arrays=arrays,
        consequences=consequences, horizon=horizon(policy, type_name),
    )


def _rule_text(list_name: str | None, grades: list[str] | None) -> str:
    return f"on {list_name}" if list_name else "in grade " + "/".join(grades or [])


def _consequences(policy: Policy, type_name: str, grades: list[str], lists: list[str],
                  segments: list[str]) -> tuple[list[MeasureInfo], list[str], Consequences]:
    """Measures, disclosure and company terms of one type, as bit masks and arrays."""
    own: list[Measure] = [m for m in policy.measures if m.subject == type_name]
    infos = [MeasureInfo(i, m.name, m.type, m.service, m.reaches, _rule_text(m.list, m.grades),
                         m.legal_basis) for i, m in enumerate(own)]
    services = sorted({m.service for m in own if m.service})
    g_bits = np.zeros(len(grades), np.int64)
    l_bits = np.zeros(len(lists), np.int64)
    sv_sanctions = np.zeros(len(services), np.int64)
    sv_privileges = np.zeros(len(services), np.int64)
    children = child_sanctions = 0
    for i, m in enumerate(own):
        bit = np.int64(1) << np.int64(i)
        if m.list is not None:
            l_bits[lists.index(m.list)] |= bit
        for g in m.grades or []:
            g_bits[grades.index(g)] |= bit
        if m.reaches == "children":
            children |= int(bit)
            if m.type == "sanction":
                child_sanctions |= int(bit)
        if m.service:
            target = sv_sanctions if m.type == "sanction" else sv_privileges
            target[services.index(m.service)] |= bit
    rules = [d for d in policy.disclosure if d.subject == type_name]
    d_grades = np.array([sum(1 << grades.index(g) for g in d.grades or []) for d in rules],
                        np.int64)
    d_lists = np.array([1 << lists.index(d.list) if d.list else 0 for d in rules], np.int64)
    d_segs = np.array([sum(1 << segments.index(k) for k in (d.company_kinds or segments))
                       for d in rules], np.int64)
    tax = np.ones(len(grades), np.float64)
    excluded = np.zeros(len(grades), np.bool_)
    if type_name == "company":
        for g, v in policy.companies.tax_multiplier.items():
            tax[grades.index(g)] = v
        for g in policy.companies.procurement_excluded_grades:
            excluded[grades.index(g)] = True
    cons = Consequences(
        g_bits=g_bits, l_bits=l_bits, children=children, child_sanctions=child_sanctions,
        m_weight_children=np.array([m.reaches == "children" for m in own], np.bool_),
        sv_sanctions=sv_sanctions, sv_privileges=sv_privileges, d_grades=d_grades,
        d_lists=d_lists, d_segs=d_segs, tax=tax, excluded=excluded)
    return infos, services, cons
