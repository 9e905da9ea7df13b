"""The least acts that bring a measure: computed exactly through the rule engine.

For one record kind (or a combination of kinds, all done on each act day), subject k of
a replay does k acts on days 0 .. k-1 (one a day: the simulator draws at most one act of
a behaviour per subject and day) and is then left alone until nothing it did can change
its state any more. Its state is read on EVERY day of that horizon, through the kernel's
own daily counts of the measures in force (`engine.replay(..., history=True)`): a
measure that arrives only after the last act (an excluding list that ends sooner than
the score recovers; a points-clearing ban that ends) is found as surely as one that
applies on the day of the last act. Windows, clamps, grades, list thresholds, excluding
lists, bans, points-clearing and credit repair are the kernel's own, never re-written
here.

Why consecutive days from day 0: a record counts from its day for `window_days`, so acts
packed on consecutive days all count together, and the days before the last act are the
states of fewer acts. How many acts can matter (`acts_that_matter`): a state depends on
the records of the score's window and of the longest trigger listing of the kinds done,
and each ban (a list with a duration) can add a cycle of its duration and a window; more
acts than that bring nothing new. Every count up to that bound is examined when the
replays it needs stay within `MAX_RECORDS` records; beyond it, the one subject that acts
every day of the bound gives an upper bound (`Hit.exact` false), and a measure neither
found nor ruled out is reported as not determined (`Reach.undetermined`), never as
"none". `tests/audit/test_least.py` holds this against a brute-force search over every
placement of acts on small policies, including excluding lists and points-clearing bans.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from socialcredit.engine import TypePlan, replay

MAX_RECORDS = 1 << 24  # records replayed in one exact search (every count of acts)
FIRST_BATCH = 64       # counts of acts in the first replay; each next one doubles


@dataclass(frozen=True)
class Hit:
    """How the least acts bring one measure: `acts` acts on consecutive days, and the
    subject's state on the first day the measure applies, `after` days after the last
    act (0: on its day). `exact`: false when only an upper bound is known (every count
    up to `Reach.tried` was examined and brings it not)."""

    acts: int
    after: int
    score: int
    grade: str
    lists: tuple[str, ...]
    exact: bool = True


@dataclass(frozen=True)
class Reach:
    """What acts of one record kind (or of a combination, `kinds`) bring."""

    kind: str                        # the record kind (combinations: joined by " + ")
    window: int                      # the score's window, in days
    tried: int                       # every count of acts 1 .. tried examined, every day
    bound: int                       # more acts than this bring nothing new
    least: dict[int, int]            # measure index -> least acts that make it apply
    at_rest: int                     # measure bits that apply with no record at all
    hits: dict[int, Hit] = field(default_factory=dict)   # measure index -> how
    undetermined: int = 0            # measure bits neither found nor ruled out
    kinds: tuple[int, ...] = ()

    @property
    def determined(self) -> bool:
        """Whether every count of acts that can matter was examined."""
        return self.tried >= self.bound

    def brings(self) -> int:
        """The measure bits these acts bring (at rest excluded)."""
        return sum(1 << m for m in self.least)


def acts_that_matter(plan: TypePlan, kinds: list[int] | tuple[int, ...]) -> int:
    """How many acts a day of `kinds` can matter, one a day: the score's window, the
    longest trigger listing of these kinds, and a duration and a window for each ban."""
    a = plan.arrays
    trig = max([int(a.kinds.tdays[k]) for k in kinds if a.kinds.trig[k] >= 0] or [0])
    bans = sum(int(d) + plan.window for d in a.lists.dur if d > 0)
    return plan.window + trig + bans


def _tail(plan: TypePlan) -> int:
    """Days after the last act within which the state can still change: the records
    stop counting and listing, the bans end (and what they wiped is gone)."""
    a = plan.arrays
    trig = int(a.kinds.tdays.max()) if a.kinds.tdays.size else 0
    bans = sum(int(d) + plan.window for d in a.lists.dur if d > 0)
    return plan.window + trig + bans + 1


def _search_plan(plan: TypePlan) -> TypePlan:
    """The plan as the search replays it: a measure that reaches children counted on its
    holder (a replay has no children), and one score bin (the score is read from the
    final state instead)."""
    cons = plan.consequences._replace(
        m_weight_children=np.zeros_like(plan.consequences.m_weight_children))
    arrays = plan.arrays._replace(score=plan.arrays.score._replace(n_bins=1))
    return dataclasses.replace(plan, consequences=cons, arrays=arrays)


def _records(ks: np.ndarray, pattern: np.ndarray, starts: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subject i does every kind of `pattern` on each of days starts[i] .. + ks[i]-1."""
    p = pattern.size
    per = ks * p
    subject = np.repeat(np.arange(ks.size, dtype=np.int64), per)
    offsets = np.arange(subject.size, dtype=np.int64) - np.repeat(np.cumsum(per) - per, per)
    return subject, offsets // p + starts[subject], pattern[offsets % p]


@dataclass(frozen=True)
class _Search:
    plan: TypePlan          # as replayed (see _search_plan)
    pattern: np.ndarray     # the kinds done on each act day
    segment: int
    tail: int               # days observed after the last act
    phases: int             # first act days tried: 0 .. phases-1 (a state that cycles
    #                         with no record, under a ban that falls on everyone)

    def daily(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per day, how many of the subjects (every count in ks, from every first day)
        each measure applies to (int64[days, measures]); and the counts and first days
        of the subjects."""
        ks_all = np.repeat(ks, self.phases)
        starts = np.tile(np.arange(self.phases, dtype=np.int64), ks.size)
        subject, day, kind = _records(ks_all, self.pattern, starts)
        days = int(ks.max()) + self.phases + self.tail
        r = replay(self.plan, int(ks_all.size), days, subject, day, kind,
                   segment=np.full(ks_all.size, self.segment, np.int8), history=True)
        assert r.acc is not None  # noqa: S101 - asked for
        return np.cumsum(r.acc.measure, axis=0), ks_all, starts

    def any(self, ks: np.ndarray) -> np.ndarray:
        """bool[measures]: whether it applies to one of the subjects on some day."""
        return (self.daily(ks)[0] > 0).any(axis=0)


def _state(plan: TypePlan, k: int, pattern: np.ndarray, segment: int, start: int,
           day: int) -> tuple[int, str, tuple[str, ...]]:
    subject, days, kind = _records(np.array([k], np.int64), pattern,
                                   np.array([start], np.int64))
    f = replay(plan, 1, day + 1, subject, days, kind,
               segment=np.full(1, segment, np.int8)).final
    return (int(f.score[0]), plan.grades[int(f.grade[0])],
            tuple(plan.list_names(int(f.mask[0]))))


def _rest(plan: TypePlan, segment: int, days: int) -> tuple[int, bool]:
    """The measure bits that apply on some day to a subject with no record at all, and
    whether its state moves with no record (a ban that falls on everyone, ends and falls
    again: then what acts do depends on the day they start)."""
    r = replay(_search_plan(plan), 1, days, np.zeros(0, np.int64), np.zeros(0, np.int64),
               np.zeros(0, np.int64), segment=np.full(1, segment, np.int8), history=True)
    assert r.acc is not None  # noqa: S101 - asked for
    level = np.cumsum(r.acc.measure, axis=0)
    lists = np.cumsum(r.acc.list, axis=0)
    grade = np.cumsum(r.acc.grade, axis=0)
    bits = sum(1 << m for m in range(len(plan.measures)) if level[:, m].any())
    dur = plan.arrays.lists.dur
    banned = any(lists[:, :, li].any() for li in range(dur.size) if dur[li] > 0)
    moving = banned or bool((lists != lists[0]).any() or (grade != grade[0]).any())
    return bits, moving


def at_rest(plan: TypePlan, segment: int = 0) -> int:
    """The measure bits that apply (on some day) to a subject with no record at all."""
    if not plan.measures:
        return 0
    return _rest(plan, segment, _tail(plan))[0]


def reach(plan: TypePlan, kinds: list[int] | tuple[int, ...], *, segment: int = 0,
          measures: list[int] | None = None, max_records: int | None = None) -> Reach:
    """For each measure of `plan` (or of `measures`, indices), the least number of days
    on which a subject does every kind of `kinds` (one record of each a day, days in a
    row) that makes it apply on some day, with no other record. See the module's
    docstring."""
    n_m = len(plan.measures)
    max_records = MAX_RECORDS if max_records is None else max_records
    pattern = np.asarray(kinds, np.int64)
    name = " + ".join(plan.kinds[k].name for k in kinds)
    bound = acts_that_matter(plan, kinds)
    tail = _tail(plan)
    rest, moving = _rest(plan, segment, tail) if n_m else (0, False)
    if not n_m or not len(kinds):
        return Reach(name, plan.window, bound, bound, {}, rest, kinds=tuple(kinds))
    phases = sum(int(d) + 1 for d in plan.arrays.lists.dur if d > 0) if moving else 1
    search = _Search(_search_plan(plan), pattern, segment, tail, phases)
    wanted = [m for m in (range(n_m) if measures is None else measures)
              if not (rest >> m) & 1]
    # one subject acting every day of the bound: an upper bound for each measure (the
    # day of its first hit, or the bound when it comes only after the last act)
    level, _, _ = search.daily(np.array([bound], np.int64))
    upper: dict[int, int] = {}
    if phases == 1:
        for m in wanted:
            hit = np.flatnonzero(level[:, m] > 0)
            if hit.size:
                upper[m] = min(int(hit[0]) + 1, bound)
    # every count below the upper bound (or up to the bound), in doubling batches,
    # within the record budget
    least: dict[int, int] = {}
    need = max([upper.get(m, bound + 1) - 1 for m in wanted] or [0])
    lo, size, used, tried = 1, FIRST_BATCH, 0, 0
    while lo <= need:
        hi = min(lo + size, need + 1)
        cost = (hi - 1 + lo) * (hi - lo) // 2 * pattern.size * phases
        if used + cost > max_records:
            break
        ks = np.arange(lo, hi, dtype=np.int64)
        found = search.any(ks)
        used += cost
        for m in wanted:
            if m not in least and found[m]:
                least[m] = min(_bisect(search, ks, m),
                               upper.get(m, bound))
        tried = hi - 1
        lo, size = hi, size * 2
        if all(m in least or upper.get(m, bound + 1) <= lo for m in wanted):
            break
    # every question asked was answered: the counts not examined cannot bring more
    complete = all(m in least or upper.get(m, bound + 1) - 1 <= tried for m in wanted)
    hits: dict[int, Hit] = {}
    undetermined = 0
    for m in wanted:
        k = least.get(m)
        exact = True
        if k is None and m in upper:
            k, exact = upper[m], upper[m] - 1 <= tried
        if k is None:
            if tried + 1 < bound:  # the subject acting on every day of the bound saw it not
                undetermined |= 1 << m
            continue
        least[m] = k
        hits[m] = _hit(plan, search, k, m, exact)
    return Reach(name, plan.window, bound if complete else tried, bound,
                 dict(sorted(least.items())), rest, hits, undetermined, tuple(kinds))


def _bisect(search: _Search, ks: np.ndarray, m: int) -> int:
    """The least count in `ks` (one of which brings measure m on some day) that does."""
    while ks.size > 1:
        low = ks[:ks.size // 2]
        ks = low if search.any(low)[m] else ks[ks.size // 2:]
    return int(ks[0])


def _hit(plan: TypePlan, search: _Search, k: int, m: int, exact: bool) -> Hit:
    """The first day k acts bring measure m, and the subject's state then."""
    level, _, starts = search.daily(np.array([k], np.int64))
    del level
    best: tuple[int, int] | None = None   # (days after the last act, first act day)
    for start in starts:
        one = _Search(search.plan, search.pattern, search.segment, search.tail + int(start),
                      1)
        subject, day, kind = _records(np.array([k], np.int64), one.pattern,
                                      np.array([start], np.int64))
        r = replay(one.plan, 1, int(start) + k + one.tail, subject, day, kind,
                   segment=np.full(1, one.segment, np.int8), history=True)
        assert r.acc is not None  # noqa: S101 - asked for
        on = np.flatnonzero(np.cumsum(r.acc.measure[:, m])[int(start) + k - 1:] > 0)
        if on.size and (best is None or int(on[0]) < best[0]):
            best = (int(on[0]), int(start))
    assert best is not None  # noqa: S101 - k acts bring it
    after, start = best
    score, grade, lists = _state(plan, k, search.pattern, search.segment, start,
                                 start + k - 1 + after)
    return Hit(k, after, score, grade, lists, exact)


def least_acts(plan: TypePlan, kind: int, *, segment: int = 0,
               max_records: int | None = None) -> Reach:
    """For each measure of `plan`, the least number of acts of record kind `kind` (an
    index into `plan.kinds`), at most one a day, that makes it apply on its own, with
    no other record, on any day: that of the last act or later. A measure missing from
    `least` is not brought by this kind alone (or, if its bit is in `undetermined`, not
    within `tried` acts). `segment`: the company kind of the subject (0 for persons).

    >>> from socialcredit.engine import compile_policy
    >>> from socialcredit.scenarios import load_scenario
    >>> plan = compile_policy(load_scenario("seed"))["person"]
    >>> r = least_acts(plan, plan.kind_index()["unlicensed_phone_use"])
    >>> [r.least[m.index] for m in plan.measures if m.name == "no_flights_score"]
    [41]
    """
    return reach(plan, [kind], segment=segment, max_records=max_records)


def combined_acts(plan: TypePlan, kinds: list[int], *, segment: int = 0,
                  max_records: int | None = None) -> int:
    """The measure bits (at rest excluded) that a subject doing every kind in `kinds`
    each day, for as many days in a row as can matter, brings on some day: what these
    kinds can bring together."""
    if not kinds or not plan.measures:
        return 0
    return reach(plan, kinds, segment=segment, max_records=max_records).brings()
