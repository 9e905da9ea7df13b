"""Parity: one rule implementation, two front ends.

For every built-in scenario, on SQLite and PostgreSQL: simulate a society, ingest the
run (its subjects and its ledger) into the service, and hold the service to the
simulator for every subject: the state (score, grade, lists), the dates that explain it
(each listing's end, the day the state is sure to hold until), every service's check
decision (children through their guardians), and the public list. The counts also
equal the simulator's own daily metrics (denied per service, published), which the
kernel computes from its change points, not from the final states.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from socialcredit import simulate
from socialcredit.engine._decide import applying, decide, disclosed
from socialcredit.engine._identity import sim_subject_id
from socialcredit.engine._kernel import NEVER
from socialcredit.engine._plan import compile_policy
from socialcredit.ledger import LedgerWriter
from socialcredit.scenarios import load_scenario
from socialcredit.service import create_app, create_token, ingest_ledger, make_engine
from socialcredit.service._rules import NO_CHANGE_DAYS, Rules

START = date(2025, 1, 1)
SEED = 7
# benchmarks/bench_parity.py runs the same test larger: persons x SOCIALCREDIT_PARITY_SCALE
SCALE = int(os.environ.get("SOCIALCREDIT_PARITY_SCALE", "1"))
SIZES = {  # persons, days: a few thousand subjects each, some of them listed
    "reference": (2_000 * SCALE, 365),
    "seed": (2_000 * SCALE, 365),
    "driving-points": (2_000 * SCALE, 1_095),
    "food-hygiene": (150_000 * SCALE, 730),  # 1,500 restaurants (persons are not scored)
}


# `seed` runs as 3 blocks of its society: guardians, misattribution and the ledger's ids
# within blocks, and the service still agrees subject by subject
BLOCKS = {"seed": 3}


def _policy(name: str):
    p = load_scenario(name)
    update = {"run": p.run.model_copy(update={"seed": SEED})}
    if name in BLOCKS:
        block = -(-SIZES[name][0] // BLOCKS[name])
        update["population"] = p.population.model_copy(update={"block": block})
    return p.model_copy(update=update)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SIZES))
def test_service_equals_simulator_for_every_subject(name, db_url, tmp_path):
    policy = _policy(name)
    persons, days = SIZES[name]
    plans = compile_policy(policy)
    writer = LedgerWriter(tmp_path, plans, policy)
    run = simulate(policy, population=persons, days=days, ledger=writer,
                   society=writer.society, dates=True)
    writer.close()
    assert run.seed == SEED
    assert run.blocks == BLOCKS.get(name, 1)
    rules = Rules(policy)
    assert ingest_ledger(tmp_path / "ledger", db_url, rules, START) == run.records
    assert ingest_ledger(tmp_path / "ledger", db_url, rules, START) == run.records
    last = START + timedelta(days=days - 1)
    client = TestClient(create_app(policy, db_url, today=lambda: last))
    engine = make_engine(db_url)
    def own(sid: str) -> dict:
        """The subject's own token: the one role that reads any subject's state."""
        return {"Authorization": f"Bearer {create_token(engine, 'subject', subject=sid)}"}

    def day(d: int) -> str:
        return (START + timedelta(days=int(d))).isoformat()

    expected_checks: dict[str, dict[str, bool]] = {s: {} for s in rules.services}
    expected_public: set[str] = set()
    compared = listed = 0
    for tname, tr in run.types.items():
        plan, cons, fin = tr.plan, tr.plan.consequences, tr.final
        scored = np.flatnonzero(tr.final.grade >= 0)
        grade = fin.grade.astype(np.int64)
        mask = fin.mask.astype(np.int64)
        bits = applying(cons, np.maximum(grade, 0), mask)
        seg = (run.population.company_kind if tname == "company"
               else np.zeros(len(grade), np.int8)).astype(np.int64)
        pub = disclosed(cons, seg, np.maximum(grade, 0), mask)
        for i in scored:
            sid = sim_subject_id(tname, int(i))
            got = client.get(f"/v1/subjects/{sid}", headers=own(sid)).json()
            lists = plan.list_names(mask[i])
            assert got["score"] == int(fin.score[i]), (sid, got)
            assert got["grade"] == plan.grades[grade[i]], sid
            assert [x["name"] for x in got["lists"]] == lists, sid
            for x in got["lists"]:
                li = plan.lists.index(x["name"])
                end = max(fin.trig_until[i, li], fin.ban_until[i, li])
                assert x["until"] == (day(end) if end >= days - 1 else None), (sid, x)
            nxt = int(fin.next_change[i])
            holds = days - 1 + NO_CHANGE_DAYS if nxt >= NEVER else min(
                nxt - 1, days - 1 + NO_CHANGE_DAYS)
            assert got["holds_until"] == day(holds), (sid, got["holds_until"], nxt)
            assert sorted(m["name"] for m in got["measures"]) == sorted(
                m.name for m in plan.measure_list(bits[i]) if m.reaches == "self"), sid
            for k, service in enumerate(plan.services):
                expected_checks[service][sid] = bool(decide(cons, k, int(bits[i]), 0)[0])
            if pub[i]:
                expected_public.add(sid)
            compared += 1
            listed += bool(lists) or bool(pub[i])
        if tname == "person":
            for c in np.flatnonzero(run.population.is_child):
                g = int(run.population.guardian[c])
                if g < 0:
                    continue
                sid = sim_subject_id("person", int(c))
                got = client.get(f"/v1/subjects/{sid}", headers=own(sid)).json()
                assert got["type"] == "child"
                assert got["guardian"] == sim_subject_id("person", g)
                assert sorted(m["name"] for m in got["measures"]) == sorted(
                    m.name for m in plan.measure_list(bits[g]) if m.reaches == "children")
                for k, service in enumerate(plan.services):
                    expected_checks[service][sid] = bool(decide(cons, k, 0, int(bits[g]))[0])
    assert compared > 1000
    assert listed > 10, "the comparison should cover listed or published subjects"

    # every service's decision, for everybody it can be asked about, in batches
    for service, want in expected_checks.items():
        gate = {"Authorization": f"Bearer {create_token(engine, 'gatekeeper', service)}"}
        ids = sorted(want)
        got: dict[str, bool] = {}
        for k in range(0, len(ids), 10_000):
            r = client.post("/v1/checks", headers=gate,
                            json=[{"subject": s, "service": service} for s in ids[k:k + 10_000]])
            assert r.status_code == 200, r.text
            got.update((x["subject"], x["allowed"]) for x in r.json()["results"])
        assert got == want, service
        # ... and the simulator's own daily metric agrees with the decisions
        for tname, tr in run.types.items():
            if service in tr.plan.services:
                sv = tr.plan.services.index(service)
                adults = [s for s in ids if s.startswith(sim_subject_id(tname, 0)[0])]
                denied = sum(not want[s] for s in adults)
                assert denied == int(tr.acc.denied[:, sv].sum() + tr.acc.child_denied[:, sv].sum())

    # the public list: exactly who the simulator publishes, and as many
    items, page = [], 1
    while True:
        r = client.get("/v1/public/list", params={"page": page, "per_page": 500}).json()
        items += r["items"]
        if page * 500 >= r["total"]:
            break
        page += 1
    assert all("subject" in x for x in items)  # every built-in rule publishes the name
    assert {x["subject"] for x in items} == expected_public
    assert len(items) == len(expected_public)
    published = sum(int(tr.acc.published.sum()) for tr in run.types.values())
    assert len(items) == published
    for x in items:
        if "listed_until" in x:
            sid = x["subject"]
            tname = "person" if sid.startswith("p") else "company"
            tr, i = run.types[tname], int(sid[1:])
            for name, until in x["listed_until"].items():
                li = tr.plan.lists.index(name)
                end = max(tr.final.trig_until[i, li], tr.final.ban_until[i, li])
                assert until == (day(end) if end >= days - 1 else None)
