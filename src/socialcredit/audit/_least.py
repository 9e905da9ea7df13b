"""The least acts that bring a measure: computed exactly through the rule engine.

For one record kind, subject k of a replay gets k acts of that kind on the k last days
(one a day, as the simulator draws at most one act of a behaviour per subject and day),
and its state on the day of the last act is read by the one decision function
(`engine.applying`). The first k whose state makes a measure apply is the least number
of such acts that brings it: windows, clamps, grades, list thresholds, excluding lists,
bans, points-clearing and credit repair are the kernel's own, never re-written here.

Why the k last days and the state on the last one: a record counts from its day for
`window_days`, so acts packed on consecutive days ending today all count today, and no
other placement of k acts makes more of them count on one day. Credit repair only
shortens a listing that began, and a listing begins on the day of the act that brings
it. `tests/audit/test_least.py` holds this against a brute-force search over every
placement of acts on small policies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from socialcredit.engine import TypePlan, applying, replay

MAX_ACTS = 4096  # the most acts of one kind tried (records: MAX_ACTS^2 / 2 per kind)


@dataclass(frozen=True)
class Reach:
    """What k acts of one record kind bring: the least k per measure (bit index)."""

    kind: str
    window: int                      # the days in which the acts fall (one a day)
    tried: int                       # acts tried: 1 .. tried
    least: dict[int, int]            # measure index -> least acts that make it apply
    at_rest: int                     # measure bits that apply with no record at all
    score: dict[int, int]            # k -> score on the day of the k-th act (for k in least)
    grade: dict[int, str]            # k -> grade then
    lists: dict[int, tuple[str, ...]]  # k -> lists then


def _states(plan: TypePlan, kind: int, ks: np.ndarray, segment: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score, grade and list mask of subjects given ks[i] acts of `kind` on the ks[i]
    last days of a horizon of max(ks) days (at least 1), on its last day."""
    days = max(int(ks.max()), 1)
    subject = np.repeat(np.arange(ks.size, dtype=np.int64), ks)
    starts = np.repeat(days - ks, ks)
    offsets = np.arange(subject.size, dtype=np.int64) - np.repeat(np.cumsum(ks) - ks, ks)
    day = starts + offsets
    kinds = np.full(subject.size, kind, np.int64)
    seg = np.full(ks.size, segment, np.int8)
    f = replay(plan, int(ks.size), days, subject, day, kinds, segment=seg).final
    return f.score.astype(np.int64), f.grade.astype(np.int64), f.mask.astype(np.int64)


def least_acts(plan: TypePlan, kind: int, *, segment: int = 0,
               max_acts: int = MAX_ACTS) -> Reach:
    """For each measure of `plan`, the least number of acts of record kind `kind` (an
    index into `plan.kinds`), at most one a day, that makes it apply on its own, with
    no other record; a measure missing from `least` is not brought by this kind alone
    within `tried` acts (all the acts that can count together: the score's window, or
    `max_acts`). `segment`: the company kind of the subject (0 for persons).

    >>> from socialcredit.engine import compile_policy
    >>> from socialcredit.scenarios import load_scenario
    >>> plan = compile_policy(load_scenario("seed"))["person"]
    >>> r = least_acts(plan, plan.kind_index()["unlicensed_phone_use"])
    >>> [r.least[m.index] for m in plan.measures if m.name == "no_flights_score"]
    [41]
    """
    c = plan.consequences
    n_measures = len(plan.measures)
    tried = min(plan.window, max_acts)
    rest_s, rest_g, rest_m = _states(plan, kind, np.zeros(1, np.int64), segment)
    at_rest = int(applying(c, rest_g, rest_m)[0]) if n_measures else 0
    least: dict[int, int] = {}
    score: dict[int, int] = {}
    grade: dict[int, str] = {}
    lists: dict[int, tuple[str, ...]] = {}
    lo, size = 1, 64
    while lo <= tried and len(least) < n_measures:
        hi = min(lo + size, tried + 1)
        ks = np.arange(lo, hi, dtype=np.int64)
        s, g, mask = _states(plan, kind, ks, segment)
        bits = np.asarray(applying(c, g, mask), np.int64) if n_measures else ks * 0
        for m in range(n_measures):
            if m in least:
                continue
            hit = np.flatnonzero((bits >> m) & 1)
            if hit.size:
                i = int(hit[0])
                k = int(ks[i])
                least[m] = k
                score[k] = int(s[i])
                grade[k] = plan.grades[int(g[i])]
                lists[k] = tuple(plan.list_names(int(mask[i])))
        lo, size = hi, size * 2
    return Reach(plan.kinds[kind].name, plan.window, tried, least, at_rest, score, grade,
                 lists)


def combined_acts(plan: TypePlan, kinds: list[int], *, segment: int = 0,
                  max_acts: int = MAX_ACTS) -> int:
    """The measure bits that apply when a subject does every kind in `kinds` each day of
    a whole window (or `max_acts` days): what these kinds can bring together."""
    if not kinds or not plan.measures:
        return 0
    days = min(plan.window, max_acts)
    day = np.repeat(np.arange(days, dtype=np.int64), len(kinds))
    kind = np.tile(np.asarray(kinds, np.int64), days)
    f = replay(plan, 1, days, np.zeros(day.size, np.int64), day, kind,
               segment=np.full(1, segment, np.int8)).final
    return int(applying(plan.consequences, f.grade.astype(np.int64),
                        f.mask.astype(np.int64))[0])
