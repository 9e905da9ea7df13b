"""The service's state path (`Rules.states`: records as arrays, one replay through the
kernel) against its explanations, and `valid_until` against day-by-day histories, for
every built-in scenario (bans, credit repair and the `latest` aggregate included)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.engine._replay import Record, subject_history
from socialcredit.scenarios import list_scenarios, load_scenario
from socialcredit.service._rules import RecordRows, Rules

TODAY = date(2026, 6, 30)
RULES = {name: Rules(load_scenario(name)) for name in list_scenarios()}


def _stype(rules: Rules) -> str:
    return "person" if "person" in rules.plans else "company"


def subjects_strategy(rules: Rules, stype: str, horizon: int):
    kinds = [k.name for k in rules.plans[stype].kinds]
    triggers = [k.name for i, k in enumerate(rules.plans[stype].kinds)
                if rules.plans[stype].arrays.kinds.trig[i] >= 0]
    # triggers often: they are rare in the simulator and carry bans and repair
    kind = st.sampled_from(triggers) | st.sampled_from(kinds) if triggers else (
        st.sampled_from(kinds))
    record = st.tuples(kind, st.integers(0, horizon + 60))  # days before today
    return st.lists(st.lists(record, max_size=14), min_size=1, max_size=5)


def rows(subjects: list[list[tuple[str, int]]]) -> RecordRows:
    return RecordRows(
        np.asarray([i for i, recs in enumerate(subjects) for _ in recs], np.int64),
        [k for recs in subjects for k, _ in recs],
        np.array([np.datetime64(TODAY - timedelta(days=ago), "D")
                  for recs in subjects for _, ago in recs], "datetime64[D]"),
        [f"r{j}" for recs in subjects for j in range(len(recs))])


@pytest.mark.parametrize("name", sorted(RULES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_states_equal_explanations_and_hold_through_valid_until(name, data):
    """The stored state equals the explained one, and day by day, with no new record,
    it stays as it is through valid_until (a ban, a repaired listing or an expiry is
    the next change: never earlier)."""
    rules = RULES[name]
    stype = _stype(rules)
    plan = rules.plans[stype]
    subjects = data.draw(subjects_strategy(rules, stype, plan.horizon))
    ids = [f"s{i}" for i in range(len(subjects))]
    scores, grades, lists, until = rules.states(stype, ids, rows(subjects), TODAY)
    evs = rules.explain(stype, ids, rows(subjects), TODAY)
    assert scores == [e.score for e in evs]
    assert grades == [e.grade for e in evs]
    assert lists == [",".join(sorted(e.list_names)) for e in evs]
    assert until == [e.valid_until for e in evs]
    ahead = 400
    first = TODAY - timedelta(days=plan.horizon - 1)
    for i, recs in enumerate(subjects):
        assert until[i] >= TODAY
        kept = [Record((TODAY - timedelta(days=ago) - first).days, k, id=f"r{j}")
                for j, (k, ago) in enumerate(recs) if ago < plan.horizon]
        h = subject_history(plan, kept, plan.horizon + ahead, seed=rules.seed,
                            subject_id=ids[i])
        last = min((until[i] - first).days, plan.horizon + ahead - 1)
        for t in range(plan.horizon - 1, last + 1):
            assert int(h.score[t]) == scores[i], (t, until[i])
            assert h.grade[t] == grades[i]
            assert ",".join(sorted(h.lists[t])) == lists[i], (t, until[i], recs)


def test_a_ban_holds_until_it_ends():
    """driving-points: 12 points start a 183-day ban that wipes them; the state holds
    until the ban ends (it was not cached at all before)."""
    rules = RULES["driving-points"]
    subjects = [[("mobile_phone_use", 20), ("mobile_phone_use", 10)]]
    _, _, lists, until = rules.states("person", ["s0"], rows(subjects), TODAY)
    assert lists == ["disqualified"]
    assert until == [TODAY - timedelta(days=10) + timedelta(days=182)]
