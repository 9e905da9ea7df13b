"""Compile a validated policy into the arrays the kernel runs (one plan per subject type)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from socialcredit.policy import Policy
from socialcredit.policy._model import Score
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
class TypePlan:
    """Everything the kernel needs for one subject type, as NumPy arrays."""

    subject_type: int
    type_name: str
    segments: list[str]
    behaviours: list[str]
    kinds: list[KindInfo]
    grades: list[str]
    lists: list[str]
    list_types: list[str]
    spill_lists: list[str]
    channels: list[str]
    arrays: dict[str, np.ndarray] = field(repr=False)
    scalars: dict[str, int] = field(repr=False)

    @property
    def hist_lo(self) -> int:
        return self.scalars["hist_lo"]

    @property
    def n_bins(self) -> int:
        return self.scalars["n_bins"]

    @property
    def misattributes(self) -> bool:
        """True if some behaviour of this type can be recorded against another subject."""
        c_mis = self.arrays["c_mis"]
        return bool(len(self.behaviours)) and bool(
            np.any(c_mis[self.arrays["b_chan"]] > 0)
        )


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
    spill = {m.list for m in policy.measures if m.reaches == "children" and m.list}
    spill_lists = [n for n in list_names if n in spill]

    c_fp_kind, c_fp_rate = [], []
    for ch in policy.channels.values():
        fp = ch.false_positive
        if fp is not None and fp.kind in kind_index:
            c_fp_kind.append(kind_index[fp.kind])
            c_fp_rate.append(fp.rate)
        else:
            c_fp_kind.append(-1)
            c_fp_rate.append(0.0)

    if score.clamp is not None:
        hist_lo, hist_hi = score.clamp
    else:
        hist_lo, hist_hi = score.base - HIST_HALF_WIDTH, score.base + HIST_HALF_WIDTH
    cov = np.array(
        [[r.coverage[n] for n in cov_names] for r in policy.regions], dtype=np.float64
    ).reshape(len(policy.regions), len(cov_names))

    def f64(x: list) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def i64(x: list) -> np.ndarray:
        return np.asarray(x, dtype=np.int64)

    arrays = {
        "join_day": i64([r.joins_day for r in policy.regions]),
        "cov": cov,
        "b_rate": f64(b_rate), "b_mult": i64(b_mult), "b_chan": i64(b_chan),
        "b_stream": np.asarray(b_stream, dtype=np.uint64), "b_os": i64(b_os),
        "b_oe": i64(b_oe), "b_segmask": i64(b_segmask),
        "o_kind": i64(o_kind), "o_prob": f64(o_prob), "o_trait": i64(o_trait),
        "o_compl": np.asarray(o_compl, dtype=np.bool_),
        "k_points": i64([k.points for k in kinds]), "k_trig": k_trig, "k_tdays": k_tdays,
        "k_rafter": k_rafter, "k_rprob": k_rprob,
        "c_det": f64([c.detection for c in policy.channels.values()]),
        "c_cov": i64([cov_names.index(c.coverage) if c.coverage else -1
                      for c in policy.channels.values()]),
        "c_mis": f64([c.misattribution for c in policy.channels.values()]),
        "c_deter": f64([c.deterrence for c in policy.channels.values()]),
        "c_learn": f64([c.learning for c in policy.channels.values()]),
        "c_fp_rate": f64(c_fp_rate), "c_fp_kind": i64(c_fp_kind),
        "c_fp_stream": np.asarray([hash_name(f"false_positive:{n}") for n in channels],
                                  dtype=np.uint64),
        "grade_min": i64([g.min for g in score.grades[:-1]]),
        "l_below": i64([x.score_below if x.score_below is not None else -BIG for x in lists]),
        "l_atleast": i64([x.score_at_least if x.score_at_least is not None else BIG
                          for x in lists]),
        "l_excl": i64([sum(1 << list_names.index(e) for e in x.excludes) for x in lists]),
        "l_dur": i64([x.duration_days or 0 for x in lists]),
        "l_clear": np.asarray([x.clear_points for x in lists], dtype=np.bool_),
    }
    clamp_lo, clamp_hi = score.clamp if score.clamp is not None else (-BIG, BIG)
    scalars = {
        "base": score.base, "window": score.window_days,
        "agg": 0 if score.aggregate == "sum" else 1,
        "clamp_lo": clamp_lo, "clamp_hi": clamp_hi,
        "spill_mask": sum(1 << list_names.index(n) for n in spill_lists),
        "hist_lo": hist_lo, "n_bins": hist_hi - hist_lo + 1,
    }
    return TypePlan(
        subject_type=code, type_name=type_name, segments=segments,
        behaviours=[b.name for b in behaviours], kinds=kinds, grades=score.grade_names(),
        lists=list_names, list_types=[x.type for x in lists], spill_lists=spill_lists,
        channels=channels, arrays=arrays, scalars=scalars,
    )
