"""One subject's state from its records, through the simulator's own rule code.

The service (one subject at a time) and the simulator (a batch) share the kernel: a
subject's records enter it as incoming records, and no behaviour is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcredit.engine._backend import get_backend
from socialcredit.engine._kernel import FALSE
from socialcredit.engine._plan import TypePlan
from socialcredit.engine._run import FIFO_CAPACITY, _Context
from socialcredit.errors import PolicyError


@dataclass(frozen=True)
class Record:
    day: int
    kind: str
    true: bool = True


@dataclass(frozen=True)
class SubjectHistory:
    """Daily score, grade and lists of one subject (index = day)."""

    score: np.ndarray
    grade: list[str]
    lists: list[frozenset[str]]
    lists_without_false: list[frozenset[str]]


@dataclass(frozen=True)
class SubjectState:
    """One subject's state on the last day of a horizon."""

    score: int
    grade: str
    lists: frozenset[str]
    lists_without_false: frozenset[str]


def _run_one(plan: TypePlan, records: list[Record], days: int, history: bool):
    names = [k.name for k in plan.kinds]
    bad = sorted({r.kind for r in records} - set(names))
    if bad:
        raise PolicyError(f"unknown record kind(s) {bad}; this policy's {plan.type_name}"
                          f" kinds are {names}")
    recs = sorted(records, key=lambda r: r.day)
    if any(not 0 <= r.day < days for r in recs):
        raise PolicyError(f"record days must lie in [0, {days})")
    if len(recs) >= FIFO_CAPACITY:
        raise PolicyError(f"at most {FIFO_CAPACITY - 1} records per subject")
    inc = (np.zeros(len(recs), np.int64), np.array([r.day for r in recs], np.int64),
           np.array([names.index(r.kind) for r in recs], np.int64),
           np.zeros(len(recs), np.int64),
           np.array([0 if r.true else FALSE for r in recs], np.int64))
    silent = _without_behaviours(plan, keep_histogram=history)
    ctx = _Context(get_backend("cpu"), silent, 0, days, np.zeros(1, np.uint8),
                   np.zeros(1, np.int8), np.zeros((0, 1), np.float32),
                   np.zeros(1, np.int32), np.zeros(1, np.int64), np.array([0, 1], np.int64))
    acc = ctx.new_accumulators()
    final = {"score": np.empty(1, np.int32), "grade": np.empty(1, np.int8),
             "mask": np.empty(1, np.uint16), "tmask": np.empty(1, np.uint16)}
    ctx.score_chunk((0, 1), inc, acc, final, False)
    return acc, final


def subject_state(plan: TypePlan, records: list[Record], days: int) -> SubjectState:
    """One subject's score, grade and lists on day `days - 1`, from its records, through
    the simulator's own kernel (what the service asks for each subject)."""
    _, final = _run_one(plan, records, days, history=False)
    mask, tmask = int(final["mask"][0]), int(final["tmask"][0])
    return SubjectState(
        score=int(final["score"][0]), grade=plan.grades[int(final["grade"][0])],
        lists=frozenset(n for li, n in enumerate(plan.lists) if (mask >> li) & 1),
        lists_without_false=frozenset(n for li, n in enumerate(plan.lists)
                                      if (tmask >> li) & 1),
    )


def subject_history(plan: TypePlan, records: list[Record], days: int) -> SubjectHistory:
    """Score one subject from its records over `days` days with the kernel's rules.

    >>> from socialcredit.engine import compile_policy
    >>> from socialcredit.scenarios import load_scenario
    >>> plan = compile_policy(load_scenario("reference"))["person"]
    >>> h = subject_history(plan, [Record(0, "court_judgment_default")], 2)
    >>> int(h.score[0]), sorted(h.lists[0])
    (900, ['blacklist'])
    """
    acc, _ = _run_one(plan, records, days, history=True)
    score = np.argmax(np.cumsum(acc["hist"], axis=0), axis=1) + plan.hist_lo
    grade_idx = np.argmax(np.cumsum(acc["grade"][:, 0, :], axis=0), axis=1)
    on = np.cumsum(acc["list"][:, 0, :], axis=0) > 0
    wrong = np.cumsum(acc["wrong"][:, 0, :], axis=0) > 0
    lists = [frozenset(n for li, n in enumerate(plan.lists) if on[t, li]) for t in range(days)]
    true_lists = [frozenset(n for li, n in enumerate(plan.lists) if on[t, li] and not
                            wrong[t, li]) for t in range(days)]
    return SubjectHistory(score=score, grade=[plan.grades[g] for g in grade_idx], lists=lists,
                          lists_without_false=true_lists)


def _without_behaviours(plan: TypePlan, keep_histogram: bool) -> TypePlan:
    a = dict(plan.arrays)
    a["b_rate"] = np.zeros_like(a["b_rate"])
    a["c_fp_rate"] = np.zeros_like(a["c_fp_rate"])
    scalars = dict(plan.scalars)
    if not keep_histogram:  # the final state is exact without it; one bin is cheap
        scalars["n_bins"] = 1
    return TypePlan(**{**plan.__dict__, "arrays": a, "scalars": scalars})
