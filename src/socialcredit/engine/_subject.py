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


def _run_many(plan: TypePlan, per_subject: list[list[Record]], days: int, history: bool):
    """Run the kernel over several subjects at once, each with its given records (no
    behaviour is sampled): the simulator's batch path, fed from outside."""
    names = {k.name: i for i, k in enumerate(plan.kinds)}
    n = len(per_subject)
    target, day, kind, flags = [], [], [], []
    for s_idx, recs in enumerate(per_subject):
        if len(recs) >= FIFO_CAPACITY:
            raise PolicyError(f"at most {FIFO_CAPACITY - 1} records per subject")
        for r in sorted(recs, key=lambda r: r.day):
            k = names.get(r.kind)
            if k is None:
                raise PolicyError(f"unknown record kind(s) [{r.kind!r}]; this policy's"
                                  f" {plan.type_name} kinds are {list(names)}")
            if not 0 <= r.day < days:
                raise PolicyError(f"record days must lie in [0, {days})")
            target.append(s_idx)
            day.append(r.day)
            kind.append(k)
            flags.append(0 if r.true else FALSE)
    return _kernel(plan, n, days, history, np.asarray(target, np.int64),
                   np.asarray(day, np.int64), np.asarray(kind, np.int64),
                   np.asarray(flags, np.int64))


def _kernel(plan: TypePlan, n: int, days: int, history: bool, target: np.ndarray,
            day: np.ndarray, kind: np.ndarray, flags: np.ndarray):
    inc = (target, day, kind, np.zeros(len(target), np.int64), flags)
    silent = _without_behaviours(plan, keep_histogram=history)
    ctx = _Context(get_backend("cpu"), silent, 0, days, np.zeros(n, np.uint8),
                   np.zeros(n, np.int8), np.zeros((0, n), np.float32),
                   np.zeros(n, np.int32), np.arange(n, dtype=np.int64),
                   np.array([0, n], np.int64))
    acc = ctx.new_accumulators()
    final = {"score": np.empty(n, np.int32), "grade": np.empty(n, np.int8),
             "mask": np.empty(n, np.uint16), "tmask": np.empty(n, np.uint16)}
    if n:
        ctx.score_chunk((0, n), inc, acc, final, False)
    return acc, final


def final_states(plan: TypePlan, n: int, days: int, subject: np.ndarray, day: np.ndarray,
                 kind: np.ndarray) -> dict[str, np.ndarray]:
    """The states of `n` subjects on day `days - 1` from their records given as arrays
    (subject index, day in [0, days), kind index into `plan.kinds`), through the same
    kernel as `subject_states`: final score, grade index and list bit mask per subject.
    The service's bulk path: no Python object per record."""
    subject, day, kind = (np.asarray(a, np.int64) for a in (subject, day, kind))
    if len(subject):
        if day.min() < 0 or day.max() >= days:
            raise PolicyError(f"record days must lie in [0, {days})")
        if kind.min() < 0 or kind.max() >= len(plan.kinds):
            raise PolicyError(f"record kinds must index the {len(plan.kinds)} kinds")
        if np.bincount(subject, minlength=n).max() >= FIFO_CAPACITY:
            raise PolicyError(f"at most {FIFO_CAPACITY - 1} records per subject")
    order = np.lexsort((day, subject))
    _, final = _kernel(plan, n, days, False, subject[order], day[order], kind[order],
                       np.zeros(len(subject), np.int64))
    return final


def subject_states(plan: TypePlan, per_subject: list[list[Record]],
                   days: int) -> list[SubjectState]:
    """Many subjects' states on day `days - 1` in one kernel call (the service's batch
    checks): the same rules, and the same code, as `subject_state` and the simulator."""
    _, final = _run_many(plan, per_subject, days, history=False)
    out = []
    for i in range(len(per_subject)):
        mask, tmask = int(final["mask"][i]), int(final["tmask"][i])
        out.append(SubjectState(
            score=int(final["score"][i]), grade=plan.grades[int(final["grade"][i])],
            lists=frozenset(n for li, n in enumerate(plan.lists) if (mask >> li) & 1),
            lists_without_false=frozenset(n for li, n in enumerate(plan.lists)
                                          if (tmask >> li) & 1)))
    return out


def subject_state(plan: TypePlan, records: list[Record], days: int) -> SubjectState:
    """One subject's score, grade and lists on day `days - 1`, from its records, through
    the simulator's own kernel (what the service asks for each subject)."""
    return subject_states(plan, [records], days)[0]


def subject_history(plan: TypePlan, records: list[Record], days: int) -> SubjectHistory:
    """Score one subject from its records over `days` days with the kernel's rules.

    >>> from socialcredit.engine import compile_policy
    >>> from socialcredit.scenarios import load_scenario
    >>> plan = compile_policy(load_scenario("reference"))["person"]
    >>> h = subject_history(plan, [Record(0, "court_judgment_default")], 2)
    >>> int(h.score[0]), sorted(h.lists[0])
    (900, ['blacklist'])
    """
    acc, _ = _run_many(plan, [records], days, history=True)
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
    # no traits are given (the traits array has no rows): nothing may read one, or the
    # kernel reads past the array (a NaN there once made acts out of a zero rate)
    a["b_mult"] = np.full_like(a["b_mult"], -1)
    a["o_trait"] = np.full_like(a["o_trait"], -1)
    scalars = dict(plan.scalars)
    if not keep_histogram:  # the final state is exact without it; one bin is cheap
        scalars["n_bins"] = 1
    return TypePlan(**{**plan.__dict__, "arrays": a, "scalars": scalars})
