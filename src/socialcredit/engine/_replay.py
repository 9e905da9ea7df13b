"""Replay: subjects' states from their records, through the simulator's own kernel.

The service does not simulate anybody: it knows records. A replay runs a `Job` with
`replay=True` through a backend's `score`, the call the simulator makes for every chunk:
no behaviour is sampled, every record arrives as an incoming record carrying its
identity (the key of its credit-repair draw, `engine._identity`), and the kernel reports,
besides each subject's state, the dates that explain it: when each record stops counting
and listing, when each listing ends, and the first day the state can change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from socialcredit.engine._backend import FIFO_CAPACITY, Job, get_backend
from socialcredit.engine._identity import record_identity
from socialcredit.engine._kernel import FALSE, NEVER
from socialcredit.engine._layout import (
    Accumulators,
    Behaviours,
    Final,
    Incoming,
    RecordOut,
    Regions,
    Society,
    final_arrays,
    record_out,
)
from socialcredit.engine._plan import TypePlan
from socialcredit.errors import PolicyError

MAX_RECORDS = 1 << 24  # per subject in one replay

__all__ = ["NEVER", "Record", "Replay", "SubjectHistory", "SubjectState", "replay",
           "subject_history", "subject_state", "subject_states"]


@dataclass(frozen=True)
class Replay:
    """States of n subjects on day `days - 1`, replayed from their records.

    `final`: score, grade, list masks, and (day indices, same scale as the records')
    `next_change` (the first day after `days - 1` on which the state can change without
    a new record; NEVER if none), `trig_until` and `ban_until` per list (-1: none).
    `records`: per record, in the order given: `counts_until`, `lists_until` (-1 if it
    triggers no list), `wiped` (the day a points-clearing ban wiped it, -1 if none).
    `acc`: the daily difference arrays (levels by cumulative sum), when `history`.
    """

    plan: TypePlan
    days: int
    final: Final
    records: RecordOut
    acc: Accumulators | None


def replay(plan: TypePlan, n: int, days: int, subject: np.ndarray, day: np.ndarray,
           kind: np.ndarray, *, key: np.ndarray | None = None, true: np.ndarray | None = None,
           segment: np.ndarray | None = None, seed: int = 0, history: bool = False,
           backend: str = "cpu") -> Replay:
    """Replay n subjects over days 0..days-1 from their records, given as arrays: the
    subject's index, the day in [0, days), the kind's index into `plan.kinds`, and
    optionally its identity `key` (uint64; 0 where the kind has no random rule), whether
    it is `true` (default all; false records only change the counterfactual lists) and
    each subject's `segment` (its company kind; default 0). `seed`: of the repair draws.
    Records of one subject and day apply in the order given.
    """
    subject, day, kind = (np.asarray(a, np.int64) for a in (subject, day, kind))
    m = subject.shape[0]
    if m:
        if day.min() < 0 or day.max() >= days:
            raise PolicyError(f"record days must lie in [0, {days})")
        if kind.min() < 0 or kind.max() >= len(plan.kinds):
            raise PolicyError(f"record kinds must index the {len(plan.kinds)} kinds")
        if subject.min() < 0 or subject.max() >= n:
            raise PolicyError(f"record subjects must index the {n} subjects")
    most = int(np.bincount(subject, minlength=n).max()) if m else 0
    if most >= MAX_RECORDS:
        raise PolicyError(f"at most {MAX_RECORDS - 1:,} records per subject")
    keys = np.zeros(m, np.uint64) if key is None else np.asarray(key, np.uint64)
    flags = np.zeros(m, np.int64) if true is None else np.where(np.asarray(true), 0, FALSE)
    order = np.lexsort((day, subject))
    incoming = Incoming(subject[order], day[order], kind[order], np.full(m, -1, np.int64),
                        flags[order].astype(np.int64), keys[order])
    seg = np.zeros(n, np.int8) if segment is None else np.asarray(segment, np.int8)
    society = Society(region=np.zeros(n, np.uint8), seg=seg,
                      traits=np.zeros((0, n), np.float32), n_children=np.zeros(n, np.int32),
                      pool=np.arange(n, dtype=np.int64), pool_off=np.array([0, n], np.int64))
    job = Job(_replay_plan(plan, history), society, seed, days, replay=True,
              fifo_capacity=max(FIFO_CAPACITY, 1 << most.bit_length()))
    acc = job.accumulators()
    final = final_arrays(n, len(plan.lists), True)
    out = record_out(m)
    if n:
        get_backend(backend).score(job, 0, n, incoming, acc, final, False, out)
    back = np.empty(m, np.int64)
    back[order] = np.arange(m)
    return Replay(plan, days, final, RecordOut(*(a[back] for a in out)),
                  acc if history else None)


def _replay_plan(plan: TypePlan, history: bool) -> TypePlan:
    """The plan with nothing to sample: no behaviour, no false positive, one region that
    has always been in the system (and one histogram bin unless the history is asked)."""
    a = plan.arrays
    e = np.empty(0, np.int64)
    arrays = a._replace(
        regions=Regions(np.zeros(1, np.int64), np.zeros((1, a.regions.cov.shape[1]))),
        behaviours=Behaviours(np.empty(0, np.float64), e, e, np.empty(0, np.uint64), e, e, e),
        channels=a.channels._replace(fp_rate=np.zeros_like(a.channels.fp_rate)),
        score=a.score._replace(n_bins=a.score.n_bins if history else 1))
    return dataclasses.replace(plan, behaviours=[], arrays=arrays)


# ------------------------------------------------------------------ one subject at a time
@dataclass(frozen=True)
class Record:
    day: int
    kind: str
    true: bool = True
    id: str | None = None


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


def _arrays(plan: TypePlan, per_subject: list[list[Record]], subject_ids: list[str] | None,
            ) -> tuple[np.ndarray, ...]:
    names = plan.kind_index()
    subject, day, kind, key, true = [], [], [], [], []
    for s, recs in enumerate(per_subject):
        sid = subject_ids[s] if subject_ids else f"s{s}"
        for j, r in enumerate(recs):
            k = names.get(r.kind)
            if k is None:
                raise PolicyError(f"unknown record kind {r.kind!r}; this policy's"
                                  f" {plan.type_name} kinds are {list(names)}")
            subject.append(s)
            day.append(r.day)
            kind.append(k)
            key.append(record_identity(sid, r.id or f"r{j}"))
            true.append(r.true)
    return (np.asarray(subject, np.int64), np.asarray(day, np.int64),
            np.asarray(kind, np.int64), np.asarray(key, np.uint64), np.asarray(true, bool))


def subject_states(plan: TypePlan, per_subject: list[list[Record]], days: int,
                   seed: int = 0) -> list[SubjectState]:
    """Several subjects' states on day `days - 1` in one replay (records without an id
    are named r0, r1, ... in the order given)."""
    subject, day, kind, key, true = _arrays(plan, per_subject, None)
    f = replay(plan, len(per_subject), days, subject, day, kind, key=key, true=true,
               seed=seed).final
    return [SubjectState(score=int(f.score[i]), grade=plan.grades[int(f.grade[i])],
                         lists=frozenset(plan.list_names(f.mask[i])),
                         lists_without_false=frozenset(plan.list_names(f.tmask[i])))
            for i in range(len(per_subject))]


def subject_state(plan: TypePlan, records: list[Record], days: int,
                  seed: int = 0) -> SubjectState:
    """One subject's score, grade and lists on day `days - 1`, from its records."""
    return subject_states(plan, [records], days, seed)[0]


def subject_history(plan: TypePlan, records: list[Record], days: int, seed: int = 0,
                    subject_id: str = "s0") -> SubjectHistory:
    """Score one subject from its records over `days` days with the kernel's rules
    (records without an id are named r0, r1, ...: their repair draws use these names).

    >>> from socialcredit.engine import compile_policy
    >>> from socialcredit.scenarios import load_scenario
    >>> plan = compile_policy(load_scenario("reference"))["person"]
    >>> h = subject_history(plan, [Record(0, "court_judgment_default")], 2)
    >>> int(h.score[0]), sorted(h.lists[0])
    (900, ['blacklist'])
    """
    subject, day, kind, key, true = _arrays(plan, [records], [subject_id])
    acc = replay(plan, 1, days, subject, day, kind, key=key, true=true, seed=seed,
                 history=True).acc
    assert acc is not None  # noqa: S101 - asked for
    score = np.argmax(np.cumsum(acc.hist, axis=0), axis=1) + plan.hist_lo
    grade_idx = np.argmax(np.cumsum(acc.grade[:, 0, :], axis=0), axis=1)
    on = np.cumsum(acc.list[:, 0, :], axis=0) > 0
    wrong = np.cumsum(acc.wrong[:, 0, :], axis=0) > 0
    lists = [frozenset(n for li, n in enumerate(plan.lists) if on[t, li]) for t in range(days)]
    true_lists = [frozenset(n for li, n in enumerate(plan.lists) if on[t, li] and not
                            wrong[t, li]) for t in range(days)]
    return SubjectHistory(score=score, grade=[plan.grades[g] for g in grade_idx], lists=lists,
                          lists_without_false=true_lists)
