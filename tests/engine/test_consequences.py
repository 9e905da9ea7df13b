"""What a state brings, compiled into the plan: the one decision function against an
oracle written from the policy's words, and the simulator's consequence metrics against
the final states they must add up to."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit import daily_metrics, details, simulate, summary
from socialcredit.engine import compile_policy
from socialcredit.engine._decide import applying, decide, disclosed
from socialcredit.policy import parse_policy
from socialcredit.scenarios import list_scenarios, load_scenario, scenario_path

POLICIES = {name: load_scenario(name) for name in list_scenarios()}


def _oracle(policy, tname: str, grade: str, lists: set[str], service: str, child: bool):
    """The decision in the policy's own words: a sanction of the service that applies
    denies (the first listed); else a privilege that applies allows; else a service that
    privileges grant (to anybody) is denied; else allowed. A child is reached only by
    measures that reach children, held by its guardian's state; an adult only by the
    others."""
    service_measures = [m for m in policy.measures if m.subject == tname
                        and m.service == service]
    here = [m for m in service_measures if (m.reaches == "children") == child]

    def holds(m) -> bool:  # noqa: ANN001
        return (m.list in lists) if m.list else (grade in m.grades)

    for m in here:
        if m.type == "sanction" and holds(m):
            return False, m.name
    for m in here:
        if m.type == "privilege" and holds(m):
            return True, m.name
    if any(m.type == "privilege" for m in service_measures):
        return False, None
    return True, None


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_decide_equals_the_policy_in_words(name, data):
    policy = POLICIES[name]
    for tname, plan in compile_policy(policy).items():
        grade = data.draw(st.sampled_from(plan.grades))
        lists = set(data.draw(st.lists(st.sampled_from(plan.lists), unique=True))
                    if plan.lists else [])
        mask = sum(1 << plan.lists.index(x) for x in lists)
        bits = applying(plan.consequences, plan.grades.index(grade), mask)
        for k, service in enumerate(plan.services):
            for child in (False, True):
                allowed, m = decide(plan.consequences, k, 0 if child else bits,
                                    bits if child else 0)
                want = _oracle(policy, tname, grade, lists, service, child)
                got = (bool(allowed), plan.measures[m].name if m >= 0 else None)
                assert got == want, (service, child, grade, lists)


def _with_measure(extra: str) -> str:
    return scenario_path("reference").read_text(encoding="utf-8") + extra


def test_a_grade_based_sanction_reaches_children_in_the_simulator():
    """A grade-based measure with reaches = "children" counts the children of the
    guardians in that grade (the simulator counted 0 of them before)."""
    policy = parse_policy(_with_measure('''
[[measures]]
name = "children_of_low_grades"
type = "sanction"
service = "school_choice"
grades = ["C", "D"]
reaches = "children"
'''))
    run = simulate(policy, population=20_000, days=365, seed=5)
    person, pop = run.types["person"], run.population
    low = np.isin(person.final.grade, [person.plan.grades.index(g) for g in ("C", "D")])
    children_of_low = int(low[pop.guardian[pop.is_child & (pop.guardian >= 0)]].sum())
    assert children_of_low > 50
    assert int(daily_metrics(run)["in_force_children_of_low_grades"][-1]) == children_of_low
    blacklisted = (person.final.mask & 1).astype(bool)
    either = int((low | blacklisted)[pop.guardian[pop.is_child & (pop.guardian >= 0)]].sum())
    share = summary(run)["children_restricted"]
    assert share == pytest.approx(either / int(pop.is_child.sum()), abs=0)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_published_counts_each_subject_once(name):
    """A subject published by two rules (seed: court debtors who are also blacklisted)
    is one entry of the public list (it was counted once per rule before)."""
    policy = POLICIES[name]
    run = simulate(policy, population=30_000 if name != "food-hygiene" else 200_000,
                   days=365, seed=2)
    cols = daily_metrics(run)
    for tname, tr in run.types.items():
        if not tr.plan.disclosures:
            continue
        seg = (run.population.company_kind if tname == "company"
               else np.zeros(tr.n_subjects, np.int8)).astype(np.int64)
        sim = tr.final.grade >= 0
        bits = disclosed(tr.plan.consequences, seg[sim], tr.final.grade[sim].astype(np.int64),
                         tr.final.mask[sim].astype(np.int64))
        plural = {"person": "persons", "company": "companies"}[tname]
        assert int(cols[f"published_{plural}"][-1]) == int((bits != 0).sum())
        assert details(run)["published"][tname] == int((bits != 0).sum())
        if name == "seed" and tname == "person":
            assert int((bits == 3).sum()) > 0  # on both disclosed lists: counted once


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_measures_in_force_and_denials_add_up_to_the_final_states(name):
    """In force and denied, as the kernel counts them at change points, equal what the
    decision function says of each subject's final state."""
    policy = POLICIES[name]
    run = simulate(policy, population=20_000 if name != "food-hygiene" else 200_000,
                   days=300, seed=9)
    cols = daily_metrics(run)
    for tname, tr in run.types.items():
        cons, plan = tr.plan.consequences, tr.plan
        sim = tr.final.grade >= 0
        grade = tr.final.grade[sim].astype(np.int64)
        bits = applying(cons, grade, tr.final.mask[sim].astype(np.int64))
        kids = run.population.n_children[sim] if tname == "person" else np.zeros(grade.shape)
        for m in plan.measures:
            on = (bits >> m.index) & 1
            want = int(on @ kids) if m.reaches == "children" else int(on.sum())
            assert int(cols[f"in_force_{m.name}"][-1]) == want, m.name
        plural = {"person": "persons", "company": "companies"}[tname]
        for k, service in enumerate(plan.services):
            denied = int((~decide(cons, k, bits, bits * 0)[0]).sum())
            assert int(cols[f"denied_{plural}_{service}"][-1]) == denied, service
        if tname == "company" and policy.companies.tax_multiplier:
            tax = np.array([policy.companies.tax_multiplier.get(g, 1.0) for g in plan.grades])
            assert summary(run)["mean_tax_multiplier"] == pytest.approx(tax[grade].mean())
