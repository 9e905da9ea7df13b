"""Scenario features: staged rollout, deterrence that learns, and the latest-record score."""

from __future__ import annotations

import numpy as np

from socialcredit import load_scenario, simulate, summary
from socialcredit.engine._metrics import expected_acts
from socialcredit.policy import parse_policy
from socialcredit.scenarios import list_scenarios, scenario_path


def test_four_scenarios_ship():
    assert list_scenarios() == ["driving-points", "food-hygiene", "reference", "seed"]
    for name in list_scenarios():
        assert load_scenario(name).meta.name == name


def test_rollout_records_nothing_before_a_city_joins():
    policy = load_scenario("seed")
    rows: list[dict] = []
    run = simulate(policy, population=20_000, days=300, seed=2,
                   ledger=lambda t, c: rows.append({"type": t, **c}))
    join = np.array([r.joins_day for r in policy.regions])
    person = [r for r in rows if r["type"] == "person"]
    day = np.concatenate([r["day"] for r in person])
    subj = np.concatenate([r["subject"] for r in person])
    region = run.population.person_region[subj]
    assert np.all(day >= join[region])
    late = join[region] == 270
    assert late.any()
    assert day[late].min() >= 270


def test_learning_deterrence_lowers_watched_acts():
    text = scenario_path("reference").read_text(encoding="utf-8")
    static = parse_policy(text)
    learning = parse_policy(text.replace("deterrence = 0.5", "deterrence = 0.5\nlearning = 0.2"))
    a = simulate(static, population=20_000, days=365, seed=9).types["person"]
    b = simulate(learning, population=20_000, days=365, seed=9).types["person"]
    cam = [a.plan.behaviours.index(x) for x in ("smoking_in_nonsmoking_area",
                                                 "running_red_light")]
    reg = a.plan.behaviours.index("volunteering")
    acts_a, acts_b = expected_acts(a).sum(axis=0), expected_acts(b).sum(axis=0)
    assert acts_b[cam].sum() < 0.9 * acts_a[cam].sum()
    assert acts_b[reg] == acts_a[reg]  # other behaviours untouched (common random numbers)


def test_food_hygiene_rating_is_the_latest_inspection():
    s = summary(simulate(load_scenario("food-hygiene"), population=200_000, days=1095, seed=1))
    g = s["company_grades"]
    assert abs(sum(g.values()) - 1) < 1e-12
    assert g["5"] > g["4"] > g["3"]  # most restaurants rate 5, as in the UK
    assert 0 < g["awaiting_inspection"] < 0.3  # P(no inspection in 3 years) = e^-2 ~ 0.13
