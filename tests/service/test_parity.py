"""Parity: after ingesting the ledger of a `reference` run, the service's lists equal the
simulator's for every subject (one rule implementation, two front ends)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient

from socialcredit import simulate
from socialcredit.engine._plan import compile_policy
from socialcredit.ledger import LedgerWriter
from socialcredit.service import create_app, create_token, ingest_ledger, make_engine
from socialcredit.service._ingest import subject_id
from socialcredit.service._rules import Rules
from tests.service.conftest import reference_policy

START = date(2025, 1, 1)
DAYS = 365


@pytest.mark.slow
def test_service_lists_equal_simulator_lists(db_url, tmp_path):
    policy = reference_policy()
    writer = LedgerWriter(tmp_path / "ledger.parquet", compile_policy(policy))
    run = simulate(policy, population=3000, days=DAYS, seed=12, ledger=writer)
    writer.close()
    rules = Rules(policy)
    assert ingest_ledger(tmp_path / "ledger.parquet", db_url, rules, START) == run.records
    assert ingest_ledger(tmp_path / "ledger.parquet", db_url, rules, START) == run.records
    last = START + timedelta(days=DAYS - 1)
    client = TestClient(create_app(policy, db_url, today=lambda: last))
    h = {"Authorization": f"Bearer {create_token(make_engine(db_url), 'reviewer')}"}
    compared = 0
    for tname in ("person", "company"):
        tr = run.types[tname]
        names = tr.plan.lists
        simulated = np.flatnonzero(~run.population.is_child) if tname == "person" else (
            np.arange(run.population.n_companies))
        for i in simulated:
            r = client.get(f"/v1/subjects/{subject_id(tname, int(i))}", headers=h)
            if r.status_code == 404:  # no record: the base state, which lists nobody here
                assert tr.final.mask[i] == 0
                continue
            got = {x["name"] for x in r.json()["lists"]}
            want = {n for li, n in enumerate(names) if (int(tr.final.mask[i]) >> li) & 1}
            assert got == want, (tname, i)
            assert r.json()["score"] == int(tr.final.score[i])
            assert r.json()["grade"] == tr.plan.grades[int(tr.final.grade[i])]
            compared += 1
    assert compared > 2000
    listed = int((run.types["person"].final.mask & 1).sum())
    assert listed > 50  # the comparison covers many blacklisted people
