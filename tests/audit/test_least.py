"""The least acts that bring a measure, held against a brute-force search: every
placement of acts of one kind on the first days of a horizon, each day's state read from
the rule engine until nothing the acts did counts any more, the smallest placement under
which the measure applies on some day (the day of an act or a later one)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from socialcredit.audit import at_rest, least_acts
from socialcredit.audit._least import _tail
from socialcredit.engine import applying, compile_policy, replay
from socialcredit.errors import PolicyError
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


def _brute(plan, kind: int, acts: int = H) -> dict[int, int]:
    """measure -> the fewest acts, over every subset of the first `acts` days, that make
    it apply on some day: of the acts or any later one until nothing they did counts
    (measures that apply with no record left out)."""
    subsets = [s for r in range(1, acts + 1) for s in itertools.combinations(range(acts), r)]
    days = acts + _tail(plan)
    rest = at_rest(plan)
    subject = np.asarray([i for i, s in enumerate(subsets) for _ in s], np.int64)
    day = np.asarray([d for s in subsets for d in s], np.int64)
    best: dict[int, int] = {}
    for t in range(days):
        keep = day <= t
        f = replay(plan, len(subsets), t + 1, subject[keep], day[keep],
                   np.full(int(keep.sum()), kind, np.int64)).final
        bits = np.asarray(applying(plan.consequences, f.grade.astype(np.int64),
                                   f.mask.astype(np.int64)), np.int64)
        for i, s in enumerate(subsets):
            for m in range(len(plan.measures)):
                if (bits[i] >> m) & 1 and not (rest >> m) & 1:
                    best[m] = min(best.get(m, acts + 1), len(s))
    return best


def _agrees(plan, kind: int, acts: int = H) -> None:
    r = least_acts(plan, kind)
    brute = _brute(plan, kind, acts)
    short = {m: k for m, k in r.least.items() if k <= acts}
    assert short == brute, (plan.kinds[kind].name, r.least, brute)
    assert not r.undetermined


@pytest.mark.parametrize("case", sorted(CASES))
def test_least_acts_agrees_with_brute_force(case):
    plan = compile_policy(policy_from_dict(CASES[case]))["person"]
    for kind in range(len(plan.kinds)):
        _agrees(plan, kind)


def test_the_cases_cover_found_and_unreachable():
    found = unreachable = 0
    for data in CASES.values():
        plan = compile_policy(policy_from_dict(data))["person"]
        r = least_acts(plan, 0)
        found += len(r.least)
        unreachable += len(plan.measures) - len(r.least)
    assert found >= 8
    assert unreachable >= 2


def test_a_measure_that_comes_after_the_last_act():
    # one act lists on fined for 30 days and drops the score to 900 for a year; watch
    # (below 950) excludes fined: it applies from day 30, after the last act
    plan = compile_policy(policy_from_dict(_policy(
        {"base": 1000, "window_days": 365, "grades": [{"name": "ok", "min": 900},
                                                      {"name": "low"}]},
        [{"name": "fined", "triggers": [{"kind": "act", "days": 30}]},
         {"name": "watch", "score_below": 950, "excludes": ["fined"]}],
        [_m("fine", list="fined"), _m("no_jobs", list="watch")], points=-100)))["person"]
    r = least_acts(plan, 0)
    assert r.least == {0: 1, 1: 1}
    h = r.hits[1]
    assert (h.acts, h.after, h.score, h.lists) == (1, 30, 900, ("watch",))


def test_a_points_clearing_ban_needs_more_acts_than_the_window():
    # +3 a day, a 4-day window: 2 acts ban (and wipe the points) for 10 days; revoked at
    # 9 needs 3 more acts during the ban: 5 acts, more than the window holds
    plan = compile_policy(policy_from_dict(_policy(
        {"base": 0, "window_days": 4, "grades": [{"name": "top", "min": 6},
                                                 {"name": "rest"}]},
        [{"name": "banned", "score_at_least": 6, "duration_days": 10, "clear_points": True},
         {"name": "revoked", "score_at_least": 9}],
        [_m("ban", list="banned"), _m("revoke", list="revoked")], points=3)))["person"]
    r = least_acts(plan, 0)
    assert r.least == {0: 2, 1: 5}
    assert r.tried >= r.bound > plan.window
    _agrees(plan, 0)


def test_a_search_cut_short_says_so():
    # 1 point a day off 100, listed below 80: 21 acts; a budget of records that replays
    # too few counts gives an upper bound, and "not determined", never "none"
    data = _policy({"base": 100, "window_days": 60, "grades": GRADES},
                   [{"name": "black", "score_below": 80},
                    {"name": "never", "score_at_least": 200}],
                   [_m("m", list="black"), _m("n", list="never")], points=-1)
    plan = compile_policy(policy_from_dict(data))["person"]
    full = least_acts(plan, 0)
    assert full.least == {0: 21}
    assert full.hits[0].exact
    assert not full.undetermined
    short = least_acts(plan, 0, max_records=80)
    assert short.least == {0: 21}
    assert not short.hits[0].exact
    assert short.tried < short.bound
    assert short.undetermined == 1 << 1   # "n": not ruled out, not "none"


# the reviewer's generator of small policies: windows, clamps, latest, grade bands,
# score and trigger lists with repair, bans with points clearing, excluding lists
def _random_policy(rng: random.Random) -> dict:
    base = rng.choice([0, 10, 20])
    pts = rng.choice([-7, -5, -3, -2, -1, 1, 2, 3, 5])
    score = {"base": base, "window_days": rng.randint(1, 6),
             "aggregate": rng.choice(["sum", "sum", "sum", "latest"]),
             "grades": [{"name": "g_hi", "min": base + 4}, {"name": "g_mid", "min": base - 3},
                        {"name": "g_lo", "min": base - 8}, {"name": "g_bot"}]}
    if rng.random() < 0.3:
        score["clamp"] = [base - rng.randint(0, 9), base + rng.randint(0, 9)]
    lists = []
    for i in range(rng.randint(1, 3)):
        x: dict = {"name": f"l{i}"}
        r = rng.random()
        if r < 0.4:
            x["score_below"] = base + rng.choice([-9, -6, -4, -2, 2, 4, 6, 9])
        elif r < 0.8:
            x["score_at_least"] = base + rng.choice([-9, -6, -4, -2, 2, 4, 6, 9])
        if r >= 0.8 or rng.random() < 0.3:
            d = rng.randint(1, 5)
            t: dict = {"kind": "act", "days": d}
            if rng.random() < 0.5:
                t["repair_after_days"] = rng.randint(1, d)
                t["repair_probability"] = rng.choice([0.3, 1.0])
            x["triggers"] = [t]
        if ("score_below" in x or "score_at_least" in x) and rng.random() < 0.5:
            x["duration_days"] = rng.randint(1, 5)
            if rng.random() < 0.6:
                x["clear_points"] = True
        if i > 0 and rng.random() < 0.4:
            x["excludes"] = [f"l{rng.randint(0, i - 1)}"]
        lists.append(x)
    measures = [_m(f"m_l{i}", list=x["name"]) for i, x in enumerate(lists)]
    measures += [_m(f"m_g{j}", grades=g) for j, g in enumerate(
        [["g_hi"], ["g_mid"], ["g_lo"], ["g_bot"], ["g_lo", "g_bot"]])]
    return _policy(score, lists, measures, points=pts)


# seeds 75, 100, 261 and 517 failed before: measures after the last act, a ban cycling
# with no record
@pytest.mark.parametrize("seed", [75, 100, 261, 517, 542, 547, *range(1, 9)])
def test_random_small_policies_agree_with_brute_force(seed):
    rng = random.Random(seed)
    for _ in range(50):  # the first valid policy this seed draws (most are valid)
        try:
            pol = policy_from_dict(_random_policy(rng))
            break
        except PolicyError:
            continue
    else:
        pytest.fail(f"seed {seed} drew no valid policy in 50 tries")
    _agrees(compile_policy(pol)["person"], 0, acts=6)


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
    jobs = next(m.index for m in plan.measures if m.name == "jobs_closed")
    assert phone.hits[jobs].score == 590
    assert "blacklist" in phone.hits[jobs].lists
