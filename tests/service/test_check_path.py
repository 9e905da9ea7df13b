"""The check path: per-process state caches kept coherent by the change log, and audit
rows committed (in group commits) before a check is answered."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from socialcredit.service import create_app, create_token, make_engine
from socialcredit.service._changes import log_changes
from socialcredit.service._db import (
    audit,
    audit_subjects,
    dispose_engines,
    metadata,
    state_changes,
    state_changes_floor,
    subject_states,
)

from .conftest import TODAY, Service, reference_policy
from .test_reliability import free_port, start_server, stop


def allowed(client, token: str, subject: str, service: str = "flight") -> bool:
    r = client.post("/v1/checks", headers={"Authorization": f"Bearer {token}"},
                    json={"subject": subject, "service": service})
    assert r.status_code == 200, r.text
    return r.json()["allowed"]


def test_writes_in_one_process_reach_checks_in_another_at_once(db_url):
    """Two service instances on one database, as two worker processes would be: each
    answers from its own cache, yet sees the other's writes on the next check."""
    a = Service(db_url, reference_policy())
    b = TestClient(create_app(reference_policy(), db_url, today=lambda: TODAY))
    gate, school = a.tokens["flight"], a.tokens["school"]
    a.record("v1", "alice", "volunteering")
    a.record("v2", "bob", "volunteering")
    b.put("/v1/subjects/kid/guardian", headers=a.h("recorder"), json={"guardian": "bob"})
    assert allowed(a.client, gate, "alice")
    assert allowed(a.client, school, "kid", "school_choice")
    assert len(a.app.state.cache.states) == 2  # alice's and bob's states are cached in a

    b.post("/v1/records", headers=a.h("recorder"), json={
        "id": "c1", "subject": "alice", "kind": "court_judgment_default",
        "occurred_at": "2026-03-01", "channel": "court"})
    assert not allowed(a.client, gate, "alice")  # b's record, seen by a at once

    b.post("/v1/records", headers=a.h("recorder"), json={
        "id": "c2", "subject": "bob", "kind": "court_judgment_default",
        "occurred_at": "2026-03-01", "channel": "court"})
    assert not allowed(a.client, school, "kid", "school_choice")  # through the guardian

    appeal = b.post("/v1/appeals", headers=a.h("alice"),
                    json={"record": "c1", "statement": "paid"}).json()
    b.post(f"/v1/appeals/{appeal['id']}/decision", headers=a.h("reviewer"),
           json={"upheld": True, "note": "receipt"})
    assert allowed(a.client, gate, "alice")  # the upheld appeal lifts the sanction in a

    b.put("/v1/subjects/kid/guardian", headers=a.h("recorder"), json={"guardian": "alice"})
    assert allowed(a.client, school, "kid", "school_choice")  # a new guardian


def test_a_change_outside_the_log_is_not_seen_until_the_log_names_it(db_url):
    """The cache is real (a write that bypasses the log is invisible to checks), and
    a '*' entry, as `ingest` writes, drops every cached state."""
    svc = Service(db_url, reference_policy())
    svc.record("v1", "alice", "volunteering")
    gate = svc.tokens["flight"]
    assert allowed(svc.client, gate, "alice")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(subject_states.update().where(subject_states.c.subject_id == "alice")
                     .values(lists="blacklist"))
    assert allowed(svc.client, gate, "alice")
    with engine.begin() as conn:
        log_changes(conn, None)
        # '*' outranks the entries before it, which go: the log does not grow forever
        log = conn.execute(sa.select(state_changes.c.subject_id)
                           .order_by(state_changes.c.seq)).scalars().all()
        assert log == ["alice", "*"]  # the entry before it stays, for its number
    assert not allowed(svc.client, gate, "alice")


def test_concurrent_checks_are_each_audited(db_url):
    svc = Service(db_url, reference_policy())
    for i in range(20):
        svc.record(f"v{i}", f"s{i}", "volunteering")
    token = svc.tokens["flight"]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=svc.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers={"Authorization": f"Bearer {token}"}) as c:
            singles = [c.post("/v1/checks", json={"subject": f"s{i % 20}",
                                                  "service": "flight"}) for i in range(200)]
            batch = c.post("/v1/checks", json=[{"subject": f"s{i}", "service": "flight"}
                                               for i in range(20)])
            return await asyncio.gather(*singles, batch)

    # a thread of its own: the browser tests' Playwright keeps a loop in this one
    with ThreadPoolExecutor(1) as pool:
        responses = pool.submit(lambda: asyncio.run(run())).result(timeout=120)
    assert [r.status_code for r in responses] == [200] * 201
    with make_engine(db_url).connect() as conn:
        rows = conn.execute(sa.select(audit.c.subject_id, audit.c.role, audit.c.detail)
                            .where(audit.c.action == "check")).all()
        batches = conn.execute(sa.select(audit.c.id).where(audit.c.action == "check_batch")
                               ).scalars().all()
        in_batch = conn.execute(sa.select(sa.func.count()).select_from(audit_subjects)
                                ).scalar()
    assert len(rows) == 200  # one row per single check
    assert {r.subject_id for r in rows} == {f"s{i}" for i in range(20)}
    assert all(r.role == "gatekeeper" and '"allowed": true' in r.detail for r in rows)
    assert len(batches) == 1
    assert in_batch == 20

    # the auditor sees the batch both ways: by subject, and as a whole
    by_subject = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                                params={"subject": "s3", "action": "check_batch"}).json()
    assert [x["what"] for x in by_subject["items"]] == ["check"]
    assert by_subject["items"][0]["detail"]["allowed"] is True
    assert by_subject["items"][0]["detail"]["batch"] == batches[0]
    whole = svc.client.get(f"/v1/audit/{batches[0]}/subjects", headers=svc.h("auditor"),
                           params={"per_page": 7, "page": 2}).json()
    assert [x["subject"] for x in whole["items"]] == [f"s{i}" for i in range(7, 14)]
    assert svc.client.get("/v1/audit/999999/subjects",
                          headers=svc.h("auditor")).status_code == 404
    # and the subject sees who looked, batch included
    svc.tokens["s3"] = create_token(make_engine(db_url), "subject", subject="s3")
    file = svc.client.get("/v1/subjects/s3/file", headers=svc.h("s3")).json()
    assert [a["what"] for a in file["accesses"]].count("check") == 11


def test_no_answer_without_an_audit_row(db_url):
    svc = Service(db_url, reference_policy())
    svc.record("v1", "alice", "volunteering")
    writer_sql = type(svc.app.state.audit_writer).INSERT
    svc.app.state.audit_writer.INSERT = writer_sql.replace("audit", "no_such_table")
    client = TestClient(svc.app, raise_server_exceptions=False)
    r = client.post("/v1/checks", headers=svc.h("flight"),
                    json={"subject": "alice", "service": "flight"})
    assert r.status_code == 500
    assert "allowed" not in r.text


@pytest.mark.slow
def test_two_server_processes_share_one_database(db_url):
    """Real processes: a record through one server changes the other's next answer."""
    ports = free_port(), free_port()
    procs = [start_server(db_url, p) for p in ports]
    try:
        engine = make_engine(db_url)
        rec = {"Authorization": f"Bearer {create_token(engine, 'recorder')}"}
        gate = create_token(engine, "gatekeeper", service="flight")
        one, two = (httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports)
        one.post("/v1/records", headers=rec, json={
            "id": "v1", "subject": "alice", "kind": "volunteering",
            "occurred_at": "2026-06-01", "channel": "registry"})
        assert allowed(two, gate, "alice")
        one.post("/v1/records", headers=rec, json={
            "id": "c1", "subject": "alice", "kind": "court_judgment_default",
            "occurred_at": "2026-03-01", "channel": "court"})
        assert not allowed(two, gate, "alice")
        one.close()
        two.close()
    finally:
        for p in procs:
            stop(p)


def test_migrations_build_exactly_the_tables_the_code_uses(db_url):
    with make_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_states_expire_with_the_date(tmp_path):
    """A cached state holds only through its valid_until: a record leaving the window
    is seen the day after, with no write at all."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    from socialcredit.service import upgrade

    upgrade(url)
    day = {"today": date(2026, 6, 30)}
    app = create_app(reference_policy(), url, today=lambda: day["today"])
    client = TestClient(app)
    engine = make_engine(url)
    rec = {"Authorization": f"Bearer {create_token(engine, 'recorder')}"}
    gate = create_token(engine, "gatekeeper", service="flight")
    r = client.post("/v1/records", headers=rec, json={
        "id": "c1", "subject": "alice", "kind": "court_judgment_default",
        "occurred_at": "2025-07-01", "channel": "court"})
    assert r.status_code == 201, r.text
    assert not allowed(client, gate, "alice")  # listed for 365 days: through 2026-06-30
    day["today"] = date(2026, 7, 1)
    assert allowed(client, gate, "alice")


def test_checks_wait_for_a_write_lock_held_elsewhere(tmp_path):
    """SQLite: while another connection holds the write lock, a check's audit row is
    committed by the writer thread once the lock is free; the check waits for it."""
    import sqlite3
    import threading

    url = f"sqlite:///{tmp_path / 'l.db'}"
    from socialcredit.service import upgrade

    upgrade(url)
    svc = Service(url, reference_policy())
    svc.record("v1", "alice", "volunteering")
    gate = svc.tokens["flight"]
    assert allowed(svc.client, gate, "alice")  # the inline path works
    blocker = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    answers = []
    asking = threading.Thread(target=lambda: answers.append(allowed(svc.client, gate, "alice")))
    asking.start()
    asking.join(timeout=0.5)
    assert asking.is_alive()
    assert answers == []
    blocker.execute("COMMIT")
    asking.join(timeout=30)
    assert answers == [True]
    with make_engine(url).connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(audit)
                         .where(audit.c.action == "check")).scalar()
    assert n == 2
    blocker.close()


def test_a_batch_records_each_subjects_own_decision(db_url):
    """A batch mixing services, allowed and denied subjects, a child and a repeated
    subject: the answer, the batch's audit listing and each subject's file agree."""
    svc = Service(db_url, reference_policy())
    svc.record("v1", "bob", "volunteering")
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.client.put("/v1/subjects/kid/guardian", headers=svc.h("recorder"),
                   json={"guardian": "alice"})
    asked = [("alice", "flight"), ("bob", "flight"), ("kid", "flight"), ("alice", "flight"),
             ("ghost", "flight")]
    one = [svc.client.post("/v1/checks", headers=svc.h("flight"),
                           json={"subject": s, "service": c}).json() for s, c in asked]
    r = svc.client.post("/v1/checks", headers=svc.h("flight"),
                        json=[{"subject": s, "service": c} for s, c in asked])
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert [(x["subject"], x["service"]) for x in got] == asked
    keys = ("allowed", "measure", "legal_basis")
    assert [{k: x[k] for k in keys} for x in got] == [{k: x[k] for k in keys} for x in one]
    assert [x["allowed"] for x in got] == [False, True, True, False, True]
    assert set(got[0]) == {"subject", "service", "allowed", "measure", "legal_basis",
                           "policy_version"}
    with make_engine(db_url).connect() as conn:
        batch = conn.execute(sa.select(audit.c.id).where(audit.c.action == "check_batch")
                             ).scalar_one()
    listed = svc.client.get(f"/v1/audit/{batch}/subjects", headers=svc.h("auditor")).json()
    assert [{k: x[k] for k in ("subject", "service", "allowed", "measure")} for x in
            listed["items"]] == [{k: x[k] for k in ("subject", "service", "allowed",
                                                     "measure")} for x in got]
    for subject, expect in (("alice", [False, False]), ("kid", [True]), ("bob", [True])):
        items = svc.client.get("/v1/audit", headers=svc.h("auditor"), params={
            "subject": subject, "action": "check_batch"}).json()["items"]
        # a subject asked twice in one batch reads as one check of that batch
        assert [x["detail"]["allowed"] for x in items] == expect[:1], subject
        assert all(x["detail"]["batch"] == batch for x in items)


def test_migration_0006_moves_batch_decisions_and_back(db_url):
    """Batches audited before 0006 (a decision per subject row) keep their decisions
    through the upgrade, and the downgrade gives them back."""
    from socialcredit.service._db import downgrade, upgrade

    engine = make_engine(db_url)
    downgrade(db_url, "0005")
    with engine.begin() as conn:
        detail = ('{"services": ["flight"], "checks": 3, "decisions": ['
                  '{"service": "flight", "allowed": true, "rule": null, "legal_basis": null},'
                  ' {"service": "flight", "allowed": false, "rule": "r", "legal_basis": "b"}]}')
        conn.execute(sa.text(
            "INSERT INTO audit (id, at, actor, role, action, subject_id, detail, reason)"
            " VALUES (100000, :at, 'token:1', 'gatekeeper', 'check_batch', NULL, :d, 'x')"),
            {"at": _stamp(db_url), "d": detail})
        conn.execute(sa.text(
            "INSERT INTO audit_subjects (audit_id, subject_id, position, decision)"
            " VALUES (100000, 'a', 0, 1), (100000, 'b', 1, 0), (100000, 'a', 2, 1)"))
    upgrade(db_url)
    svc = Service(db_url, reference_policy())
    listed = svc.client.get("/v1/audit/100000/subjects", headers=svc.h("auditor")).json()
    assert [(x["subject"], x["allowed"]) for x in listed["items"]] == [
        ("a", False), ("b", True), ("a", False)]
    dispose_engines(db_url)
    downgrade(db_url, "0005")
    with make_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT subject_id, position, decision FROM audit_subjects"
                                    " ORDER BY position")).all()
    assert [tuple(r) for r in rows] == [("a", 0, 1), ("b", 1, 0), ("a", 2, 1)]
    upgrade(db_url)


def _stamp(url: str):
    from datetime import UTC, datetime

    from socialcredit.service._db import driver_timestamp

    return driver_timestamp(make_engine(url).dialect.name, datetime(2026, 6, 30, tzinfo=UTC))


def test_the_change_log_is_pruned_and_a_process_behind_it_drops_everything(db_url,
                                                                          monkeypatch):
    """Writes keep the log to about its last KEEP entries. A process that had not read
    the pruned entries cannot know what they named: it drops every cached state, so
    it still sees the change."""
    from socialcredit.service import _changes

    monkeypatch.setattr(_changes, "KEEP", 6)
    monkeypatch.setattr(_changes, "PRUNE_EVERY", 3)
    a = Service(db_url, reference_policy())
    b = TestClient(create_app(reference_policy(), db_url, today=lambda: TODAY))
    gate = a.tokens["flight"]
    a.record("v1", "alice", "volunteering")
    assert allowed(a.client, gate, "alice")  # cached in a
    b.post("/v1/records", headers=a.h("recorder"), json={
        "id": "c1", "subject": "alice", "kind": "court_judgment_default",
        "occurred_at": "2026-03-01", "channel": "court"})
    for i in range(12):  # other subjects' writes push alice's entry out of the log
        b.post("/v1/records", headers=a.h("recorder"), json={
            "id": f"v{i + 2}", "subject": f"s{i}", "kind": "volunteering",
            "occurred_at": "2026-06-01", "channel": "registry"})
    with make_engine(db_url).connect() as conn:
        log = conn.execute(sa.select(state_changes.c.subject_id)).scalars().all()
        floor = conn.execute(sa.select(state_changes_floor.c.seq)).scalar_one()
    assert "alice" not in log
    assert len(log) <= 6 + 3
    assert floor > 0
    assert a.app.state.cache.last_seq < floor  # a has not looked since
    assert not allowed(a.client, gate, "alice")  # yet it sees the change
    assert len(a.app.state.cache.states) == 1  # having dropped everything it held
