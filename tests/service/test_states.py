"""The service's bulk state path (`Rules.states`: records as arrays, one kernel call)
against the per-subject path, and its `valid_until` against day-by-day histories."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.engine._replay import Record, subject_history
from socialcredit.scenarios import load_scenario
from socialcredit.service._rules import CountingRecord, Rules

RULES = Rules(load_scenario("reference"))
BANS = Rules(load_scenario("driving-points"))  # bans (duration_days): not cached
TODAY = date(2026, 6, 30)


def subjects_strategy(rules: Rules, stype: str):
    kinds = [k.name for k in rules.plans[stype].kinds]
    record = st.tuples(st.sampled_from(kinds), st.integers(0, 800))  # days before today
    return st.lists(st.lists(record, max_size=12), min_size=1, max_size=6)


def bulk(rules: Rules, stype: str, subjects: list[list[tuple[str, int]]]):
    index = [i for i, recs in enumerate(subjects) for _ in recs]
    kinds = [k for recs in subjects for k, _ in recs]
    days = np.array([np.datetime64(TODAY - timedelta(days=ago), "D")
                     for recs in subjects for _, ago in recs], "datetime64[D]")
    return rules.states(stype, len(subjects), np.asarray(index, np.int64), kinds, days, TODAY)


@settings(max_examples=60, deadline=None)
@given(subjects_strategy(RULES, "person"))
def test_bulk_states_equal_the_per_subject_path(subjects):
    scores, grades, lists, _ = bulk(RULES, "person", subjects)
    evs = RULES.evaluate_many("person", [
        [CountingRecord(f"r{j}", k, TODAY - timedelta(days=ago))
         for j, (k, ago) in enumerate(recs)] for recs in subjects], TODAY)
    assert scores == [e.score for e in evs]
    assert grades == [e.grade for e in evs]
    assert lists == [",".join(sorted(e.list_names)) for e in evs]


@settings(max_examples=60, deadline=None)
@given(subjects_strategy(RULES, "person"), st.sampled_from(["person", "company"]))
def test_a_state_holds_through_valid_until(subjects, stype):
    """Day by day, with no new record, the state stays as it is through valid_until."""
    rules = RULES
    kinds = {k.name for k in rules.plans[stype].kinds}
    subjects = [[(k, ago) for k, ago in recs if k in kinds] for recs in subjects]
    if stype == "company":
        subjects = [[("late_payment", ago) for _, ago in recs] for recs in subjects]
    scores, grades, lists, until = bulk(rules, stype, subjects)
    plan = rules.plans[stype]
    horizon = rules.horizon(stype)
    ahead = 400
    first = TODAY - timedelta(days=horizon - 1)
    for i, recs in enumerate(subjects):
        assert until[i] >= TODAY
        kept = [Record((TODAY - timedelta(days=ago) - first).days, k) for k, ago in recs
                if ago < horizon]
        h = subject_history(plan, kept, horizon + ahead)
        last = min((until[i] - first).days, horizon + ahead - 1)
        for t in range(horizon - 1, last + 1):
            assert int(h.score[t]) == scores[i], (t, until[i])
            assert h.grade[t] == grades[i]
            assert ",".join(sorted(h.lists[t])) == lists[i]


def test_bans_make_states_hold_for_today_only():
    _, _, _, until = bulk(BANS, "person", [[("speeding", 3)], []])
    assert until == [TODAY, TODAY]
