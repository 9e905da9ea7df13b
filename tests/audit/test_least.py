"""The least acts that bring a measure, held against a brute-force search: every
placement of acts of one kind on the days of a short horizon, each day's state read
from the rule engine, the smallest placement under which the measure applies on some
day."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from socialcredit.audit import least_acts
from socialcredit.engine import applying, compile_policy, replay
from socialcredit.policy import policy_from_dict

H = 7  # days of the brute-force horizon: every subset of them (128 placements)


def _policy(score: dict, lists: list, measures: list, points: int = -3,
            extra_kinds: list | None = None) -> dict:
    behaviours = [{"name": "act", "kind": "violation" if points < 0 else "merit",
                   "rate": 0.1, "points": points, "channel": "c"}]
    for name, pts in extra_kinds or []:
        behaviours.append({"name": name, "kind": "violation", "rate": 0.1, "points": pts,
                           "channel": "c"})
    return {"meta": {"name": "small"}, "regions": [{"name": "r"}], "channels": {"c": {}},
            "behaviours": behaviours, "person_score": score, "lists": lists,
            "measures": measures}


GRADES = [{"name": "high", "min": 8}, {"name": "mid", "min": 5}, {"name": "low"}]


def _m(name: str, **rule) -> dict:
    return {"name": name, "type": "sanction", "service": name, **rule}


CASES = {
    "sum below a threshold": _policy(
        {"base": 10, "window_days": 3, "grades": GRADES},
        [{"name": "black", "score_below": 5}], [_m("m", list="black")]),
    "a clamp that keeps it out of reach": _policy(
        {"base": 10, "window_days": 4, "clamp": [6, 20], "grades": GRADES},
        [{"name": "black", "score_below": 5}], [_m("m", list="black")]),
    "a grade band in the middle": _policy(
        {"base": 10, "window_days": 4, "grades": GRADES}, [],
        [_m("mid_only", grades=["mid"]), _m("low_only", grades=["low"])], points=-2),
    "a window too short to gather the points": _policy(
        {"base": 10, "window_days": 2, "grades": GRADES},
        [{"name": "black", "score_below": 3}], [_m("m", list="black")]),
    "an excluding list makes the band non-monotone": _policy(
        {"base": 10, "window_days": 4, "grades": GRADES},
        [{"name": "shield", "type": "red", "score_below": 2},
         {"name": "black", "score_below": 6, "excludes": ["shield"]}],
        [_m("m", list="black"), _m("s", list="shield")]),
    "a totting-up ban that wipes the points": _policy(
        {"base": 0, "window_days": 4, "grades": [{"name": "top", "min": 6},
                                                 {"name": "rest"}]},
        [{"name": "banned", "score_at_least": 6, "duration_days": 2, "clear_points": True}],
        [_m("ban", list="banned")], points=3),
    "a trigger with certain repair": _policy(
        {"base": 10, "window_days": 3, "grades": GRADES},
        [{"name": "court", "triggers": [{"kind": "act", "days": 5, "repair_after_days": 1,
                                         "repair_probability": 1.0}]}],
        [_m("m", list="court")]),
    "the latest record only": _policy(
        {"base": 10, "window_days": 3, "aggregate": "latest", "grades": GRADES},
        [{"name": "black", "score_below": 5}], [_m("m", list="black")]),
    "another kind of record is not needed": _policy(
        {"base": 10, "window_days": 4, "grades": GRADES},
        [{"name": "black", "score_below": 4}], [_m("m", list="black")],
        extra_kinds=[("worse", -7)]),
}


def _brute(plan, kind: int) -> dict[int, int]:
    """measure -> the fewest acts, over every subset of H days, that make it apply on
    some day of the horizon."""
    subsets = [s for r in range(H + 1) for s in itertools.combinations(range(H), r)]
    best: dict[int, int] = {}
    for t in range(H):
        subject, day = [], []
        for i, s in enumerate(subsets):
            for d in s:
                if d <= t:
                    subject.append(i)
                    day.append(d)
        subject_a = np.asarray(subject, np.int64)
        f = replay(plan, len(subsets), t + 1, subject_a, np.asarray(day, np.int64),
                   np.full(subject_a.size, kind, np.int64)).final
        bits = np.asarray(applying(plan.consequences, f.grade.astype(np.int64),
                                   f.mask.astype(np.int64)), np.int64)
        for i, s in enumerate(subsets):
            for m in range(len(plan.measures)):
                if (bits[i] >> m) & 1 and len(s) > 0:
                    best[m] = min(best.get(m, H + 1), len(s))
    return best


@pytest.mark.parametrize("case", sorted(CASES))
def test_least_acts_agrees_with_brute_force(case):
    plan = compile_policy(policy_from_dict(CASES[case]))["person"]
    for kind in range(len(plan.kinds)):
        r = least_acts(plan, kind)
        brute = _brute(plan, kind)
        assert r.least == brute, (case, plan.kinds[kind].name, r.least, brute)


def test_the_cases_cover_found_and_unreachable():
    found = unreachable = 0
    for data in CASES.values():
        plan = compile_policy(policy_from_dict(data))["person"]
        r = least_acts(plan, 0)
        found += len(r.least)
        unreachable += len(plan.measures) - len(r.least)
    assert found >= 8
    assert unreachable >= 2


def test_seed_phone_and_smoking():
    from socialcredit.scenarios import load_scenario

    plan = compile_policy(load_scenario("seed"))["person"]
    ki = plan.kind_index()
    names = {m.index: m.name for m in plan.measures}
    phone = least_acts(plan, ki["unlicensed_phone_use"])
    smoking = least_acts(plan, ki["smoking_in_nonsmoking_area"])
    assert {names[m] for m, k in phone.least.items() if k == 41} >= {
        "no_flights_score", "jobs_closed", "online_purchases_blocked", "no_good_schools",
        "children_no_school_choice_score"}
    assert {names[m]: k for m, k in smoking.least.items()}["no_flights_score"] == 81
    # 1000 - 41 x 10 = 590, below 600; 40 acts leave 600
    assert phone.score[41] == 590
    assert "blacklist" in phone.lists[41]
