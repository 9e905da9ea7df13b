"""Tokens and the audit log, on SQLite and PostgreSQL: expiry, revocation seen at once by
every process, admins who manage tokens and nothing else; refusals, views and checks in
the audit log with their decision ids and policy version, shown to subjects by role;
the hash chain that shows tampering; and a backup that restores to the same service."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.errors import SocialCreditError
from socialcredit.service import create_app, create_token, make_engine
from socialcredit.service._db import audit, audit_subjects, dispose_engines, tokens
from socialcredit.service._tokens import hash_token, revoke_token
from tests.service.conftest import PG_ADMIN, TODAY, Service, reference_policy

VERSION = "reference@1"


def _token_id(url: str, token: str) -> int:
    with make_engine(url).connect() as conn:
        return conn.execute(sa.select(tokens.c.id).where(
            tokens.c.token_hash == hash_token(token))).scalar_one()


def _audit_rows(url: str, *where) -> list:
    with make_engine(url).connect() as conn:
        return conn.execute(sa.select(audit).where(*where).order_by(audit.c.id)).all()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _admin(svc: Service) -> dict[str, str]:
    if "admin" not in svc.tokens:
        svc.tokens["admin"] = create_token(make_engine(svc.url), "admin", label="ops")
    return _bearer(svc.tokens["admin"])


# ------------------------------------------------------------------ 1. tokens
def test_expired_tokens_are_refused_even_when_held_in_memory(svc):
    engine = make_engine(svc.url)
    old = create_token(engine, "recorder", label="old")
    with engine.begin() as conn:
        conn.execute(tokens.update().where(tokens.c.token_hash == hash_token(old))
                     .values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    r = svc.client.get("/v1/review/queue", headers=_bearer(old))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    # a token used (and so held in memory) while valid is refused once it expires
    ends = datetime.now(UTC) + timedelta(seconds=1)
    soon = create_token(engine, "reviewer", expires_at=ends)
    assert svc.client.get("/v1/review/queue", headers=_bearer(soon)).status_code == 200
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.05)
    late = svc.client.get("/v1/review/queue", headers=_bearer(soon))
    assert late.status_code == 401
    assert "expired" in late.json()["detail"]
    refused = _audit_rows(svc.url, audit.c.action == "refused")
    assert [json.loads(x.detail)["status"] for x in refused] == [401, 401]
    assert all("expired" in x.reason for x in refused)


def test_a_revocation_takes_effect_at_once_in_every_process(svc):
    policy = reference_policy(review_below=0.9)
    other = TestClient(create_app(policy, svc.url, today=lambda: TODAY))
    svc.record("v1", "alice", "volunteering")
    engine = make_engine(svc.url)
    alice, gate = svc.tokens["alice"], create_token(engine, "gatekeeper", service="flight")
    check = {"subject": "alice", "service": "flight"}
    # both processes have used (and hold) both tokens
    for client in (svc.client, other):
        assert client.get("/v1/subjects/alice", headers=_bearer(alice)).status_code == 200
        assert client.post("/v1/checks", headers=_bearer(gate), json=check).status_code == 200
    # revoked through the API of one process: refused by the other at its next request
    tid = _token_id(svc.url, alice)
    done = svc.client.delete(f"/v1/tokens/{tid}", headers=_admin(svc))
    assert done.status_code == 200, done.text
    assert done.json() == {"revoked": tid}
    for client in (other, svc.client):
        r = client.get("/v1/subjects/alice", headers=_bearer(alice))
        assert r.status_code == 401, r.text
    assert svc.client.delete(f"/v1/tokens/{tid}", headers=_admin(svc)).status_code == 404
    assert svc.client.delete("/v1/tokens/999999", headers=_admin(svc)).status_code == 404
    # revoked from outside any process (the CLI's function)
    gid = _token_id(svc.url, gate)
    assert revoke_token(engine, gid) is True
    assert revoke_token(engine, gid) is False
    for client in (other, svc.client):
        assert client.post("/v1/checks", headers=_bearer(gate), json=check).status_code == 401
    # other tokens still work in both
    for client in (other, svc.client):
        assert client.get("/v1/subjects/bob", headers=svc.h("bob")).status_code == 200
    rows = _audit_rows(svc.url, audit.c.action == "token_revoke")
    assert [(json.loads(x.detail)["token"], x.actor) for x in rows] == [
        (tid, f"token:{_token_id(svc.url, svc.tokens['admin'])}"), (gid, "cli")]


def test_admins_manage_tokens_and_nothing_else(svc):
    admin = _admin(svc)
    listed = svc.client.get("/v1/tokens", headers=admin)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == len(svc.tokens)
    assert all(set(x) == {"id", "role", "service", "subject", "label", "created_at",
                          "expires_at", "revoked_at"} for x in items)
    assert {(x["role"], x["service"], x["subject"]) for x in items} >= {
        ("gatekeeper", "flight", None), ("subject", None, "alice"), ("admin", None, None)}
    for secret in svc.tokens.values():
        assert secret not in listed.text
        assert hash_token(secret) not in listed.text
    assert "token_hash" not in listed.text
    made = svc.client.post("/v1/tokens", headers=admin, json={
        "role": "gatekeeper", "service": "flight", "label": "airport 3",
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()})
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    assert svc.client.post("/v1/checks", headers=_bearer(secret), json={
        "subject": "alice", "service": "flight"}).status_code == 200
    relisted = svc.client.get("/v1/tokens", headers=admin)
    assert secret not in relisted.text
    assert hash_token(secret) not in relisted.text
    assert relisted.json()["items"][-1]["label"] == "airport 3"
    # the other roles get 403 on every token route
    for who in ("recorder", "flight", "reviewer", "auditor", "alice"):
        h = svc.h(who)
        assert svc.client.get("/v1/tokens", headers=h).status_code == 403, who
        assert svc.client.post("/v1/tokens", headers=h,
                               json={"role": "admin"}).status_code == 403, who
        assert svc.client.delete("/v1/tokens/1", headers=h).status_code == 403, who
    assert svc.client.get("/v1/tokens").status_code == 401
    # an admin token does nothing but tokens
    record = {"id": "r1", "subject": "alice", "kind": "volunteering",
              "occurred_at": "2026-06-01", "channel": "registry"}
    calls = [("post", "/v1/records", record), ("post", "/v1/records/batch", {"records": [record]}),
             ("post", "/v1/checks", {"subject": "alice", "service": "flight"}),
             ("get", "/v1/subjects/alice", None), ("get", "/v1/subjects/alice/file", None),
             ("get", "/v1/subjects/alice/export", None),
             ("put", "/v1/subjects/kid/guardian", {"guardian": "alice"}),
             ("get", "/v1/audit", None), ("get", "/v1/audit/verify", None),
             ("get", "/v1/audit/1/subjects", None), ("get", "/v1/review/queue", None),
             ("post", "/v1/appeals", {"record": "r1", "statement": "x"}),
             ("post", "/v1/appeals/1/decision", {"upheld": True, "note": "x"}),
             ("post", "/v1/records/r1/review", {"confirmed": True})]
    for method, path, body in calls:
        kw = {"json": body} if body is not None else {}
        r = svc.client.request(method.upper(), path, headers=admin, **kw)
        assert r.status_code == 403, (path, r.status_code, r.text)
    with make_engine(svc.url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM records")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM subjects")).scalar() == 0


def test_token_creation_refuses_what_it_cannot_bind(svc):
    engine = make_engine(svc.url)
    services = list(svc.app.state.rules.services)
    before = len(_audit_rows(svc.url, audit.c.action == "token_create"))
    bad = [
        dict(role="gatekeeper", service="spaceflight", services=services),
        dict(role="subject", subject="a b"),
        dict(role="subject", subject="x" * 65),
        dict(role="subject", subject="-lead"),
        dict(role="subject", subject="a\x00b"),
        dict(role="recorder", label="line\nbreak"),
        dict(role="recorder", label="nul\x00"),
        dict(role="recorder", label="esc\x1b[31m"),
        dict(role="recorder", expires_at=datetime.now(UTC) - timedelta(seconds=1)),
        dict(role="recorder", expires_at=datetime(2020, 1, 1)),
        dict(role="superuser"),
        dict(role="gatekeeper"),
        dict(role="recorder", subject="alice"),
    ]
    for kw in bad:
        with pytest.raises(SocialCreditError):
            create_token(engine, **kw)
    # the API refuses them too (422), and stores nothing
    admin = _admin(svc)
    after_admin = len(_audit_rows(svc.url, audit.c.action == "token_create"))
    assert after_admin == before + 1
    for body in ({"role": "gatekeeper", "service": "spaceflight"},
                 {"role": "subject", "subject": "a b"},
                 {"role": "subject", "subject": "x" * 65},
                 {"role": "recorder", "label": "line\nbreak"},
                 {"role": "recorder", "expires_at": "2020-01-01T00:00:00Z"},
                 {"role": "recorder", "expires_at": "2030-01-01T00:00:00"},
                 {"role": "root"}):
        r = svc.client.post("/v1/tokens", headers=admin, json=body)
        assert r.status_code == 422, (body, r.text)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tokens)).scalar() == len(
            svc.tokens)
    # what is created, through the API or not, is audited (never with the secret)
    ok = create_token(engine, "gatekeeper", service="flight", services=services, label="gate 9",
                      policy_version=VERSION)
    made = svc.client.post("/v1/tokens", headers=admin, json={"role": "auditor"}).json()
    rows = _audit_rows(svc.url, audit.c.action == "token_create")
    assert len(rows) == after_admin + 2
    last = [json.loads(x.detail) for x in rows[-2:]]
    assert [(d["role"], d["service"], d["label"]) for d in last] == [
        ("gatekeeper", "flight", "gate 9"), ("auditor", None, None)]
    assert last[0]["token"] == _token_id(svc.url, ok)
    assert last[1]["token"] == _token_id(svc.url, made["token"])
    assert rows[-1].actor == f"token:{_token_id(svc.url, svc.tokens['admin'])}"
    assert [x.policy_version for x in rows[-2:]] == [VERSION, VERSION]
    for x in rows:
        assert ok not in (x.detail or "")
        assert made["token"] not in (x.detail or "")
        assert hash_token(ok) not in (x.detail or "")


# ------------------------------------------------------------------ 2. audit
def test_refusals_are_audited_with_the_subject_they_named(svc):
    svc.record("v1", "alice", "volunteering")
    assert svc.client.get("/v1/subjects/alice",
                          headers=_bearer("sc_rec_forged")).status_code == 401
    assert svc.client.get("/v1/subjects/alice/file", headers=svc.h("flight")).status_code == 403
    assert svc.client.get("/v1/subjects/alice/file").status_code == 401
    assert svc.client.get("/v1/audit", headers=svc.h("recorder")).status_code == 403
    rows = _audit_rows(svc.url, audit.c.action == "refused")
    seen = [(x.actor, x.role, x.subject_id, json.loads(x.detail)["status"],
             json.loads(x.detail)["path"]) for x in rows]
    flight = f"token:{_token_id(svc.url, svc.tokens['flight'])}"
    recorder = f"token:{_token_id(svc.url, svc.tokens['recorder'])}"
    assert seen == [("invalid-token", "unknown", "alice", 401, "/v1/subjects/alice"),
                    (flight, "gatekeeper", "alice", 403, "/v1/subjects/alice/file"),
                    ("anonymous", "public", "alice", 401, "/v1/subjects/alice/file"),
                    (recorder, "recorder", None, 403, "/v1/audit")]
    assert all(x.reason and x.policy_version == VERSION for x in rows)
    # the subject sees who was refused access to its file
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    refused = [a for a in file["accesses"] if a["what"] == "refused"]
    assert [a["who"] for a in refused] == ["unknown", "gatekeeper for flight", "public"]


def test_views_and_checks_are_audited_and_shown_to_subjects_by_role(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("cam1", "bob", "running_red_light", confidence=0.5)
    svc.record("v1", "carol", "volunteering")
    assert svc.client.post("/v1/appeals", headers=svc.h("alice"),
                           json={"record": "c1", "statement": "paid"}).status_code == 201
    q = svc.client.get("/v1/review/queue", headers={**svc.h("reviewer"), "X-Purpose": "review"})
    assert q.status_code == 200
    view = _audit_rows(svc.url, audit.c.action == "view_queue")[-1]
    assert json.loads(view.detail)["subjects"] == ["alice", "bob"]
    assert view.reason == "review"
    # a child's checks are in its guardian's file
    svc.client.put("/v1/subjects/kid/guardian", headers=svc.h("recorder"),
                   json={"guardian": "alice"})
    one = svc.client.post("/v1/checks", headers={**svc.h("flight"), "X-Purpose": "flight"},
                          json={"subject": "alice", "service": "flight"}).json()
    many = svc.client.post("/v1/checks", headers=svc.h("flight"), json=[
        {"subject": s, "service": "flight"} for s in ("carol", "alice", "ghost")]).json()
    kid = svc.client.post("/v1/checks", headers=svc.h("school"),
                          json={"subject": "kid", "service": "school_choice"}).json()
    assert (one["allowed"], many["results"][1]["allowed"], kid["allowed"]) == (False, False, False)
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice"))
    assert "token:" not in file.text
    checks = [a for a in file.json()["accesses"] if a["what"] == "check"]
    assert [(a["who"], a["about"], a["decision_id"]) for a in checks] == [
        ("gatekeeper for flight", "alice", one["decision_id"]),
        ("gatekeeper for flight", "alice", many["decision_id"]),
        ("gatekeeper for school_choice", "kid", kid["decision_id"])]
    assert checks[0]["decided"] == {"service": "flight", "allowed": False,
                                    "measure": "no_flights", "legal_basis": one["legal_basis"]}
    assert checks[1]["decided"] == checks[0]["decided"]
    assert checks[2]["decided"]["measure"] == "no_school_choice"
    assert checks[0]["why"] == "flight"
    assert file.json()["children"] == ["kid"]
    # carol's file shows the batch, not alice's check
    carol = svc.client.get("/v1/subjects/carol/file", headers=svc.h("carol")).json()
    assert [(a["about"], a["decision_id"], a["decided"]["allowed"])
            for a in carol["accesses"] if a["what"] == "check"] == [
        ("carol", many["decision_id"], True)]
    # the audit rows: the decision id of each answer, the policy version on every row
    single = _audit_rows(svc.url, audit.c.action == "check")
    assert [(x.subject_id, x.decision_id) for x in single] == [
        ("alice", one["decision_id"]), ("kid", kid["decision_id"])]
    batch = _audit_rows(svc.url, audit.c.action == "check_batch")
    assert [x.decision_id for x in batch] == [many["decision_id"]]
    subjects = svc.client.get(f"/v1/audit/{batch[0].id}/subjects", headers=svc.h("auditor"))
    assert [(x["subject"], x["allowed"]) for x in subjects.json()["items"]] == [
        ("carol", True), ("alice", False), ("ghost", True)]
    log = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                         params={"subject": "alice", "action": "check"}).json()["items"]
    assert [(x["what"], x["whom"], x["decision_id"]) for x in log] == [
        ("check", "alice", many["decision_id"]), ("check", "alice", one["decision_id"])]
    assert all(x["policy_version"] == VERSION for x in log)
    only = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                          params={"subject": "alice", "action": "check_batch"}).json()["items"]
    assert [(x["what"], x["decision_id"], x["detail"]["batch"]) for x in only] == [
        ("check", many["decision_id"], batch[0].id)]
    everything = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                                params={"action": "check"}).json()["items"]
    assert [x["decision_id"] for x in everything] == [kid["decision_id"], one["decision_id"]]
    # every row written by the service, tokens included, carries the policy version
    svc.client.post("/v1/tokens", headers=_admin(svc), json={"role": "auditor"})
    tid = svc.client.get("/v1/tokens", headers=_admin(svc)).json()["items"][-1]["id"]
    svc.client.delete(f"/v1/tokens/{tid}", headers=_admin(svc))
    svc.client.get("/v1/audit/verify", headers=svc.h("auditor"))
    rows = _audit_rows(svc.url, audit.c.actor != "cli")
    assert {x.action for x in rows} >= {"record", "check", "check_batch", "appeal",
                                        "view_queue", "view_file", "guardian_link",
                                        "token_create", "token_revoke", "view_audit",
                                        "verify_audit"}
    assert [x.id for x in rows if x.policy_version != VERSION] == []


def test_x_purpose_must_be_declared(svc):
    svc.record("v1", "alice", "volunteering")
    check = {"subject": "alice", "service": "flight"}
    for purpose in ("flight", "enforcement", " flight "):
        r = svc.client.post("/v1/checks", headers={**svc.h("flight"), "X-Purpose": purpose},
                            json=check)
        assert r.status_code == 200, (purpose, r.text)
    # a gatekeeper's purpose is its own service (or enforcement), not another declared one
    for purpose in ("research", "high_speed_rail"):
        r = svc.client.post("/v1/checks", headers={**svc.h("flight"), "X-Purpose": purpose},
                            json=check)
        assert r.status_code == 422, (purpose, r.text)
    for purpose in ("x" * 65, "marketing", "flight2", "", "curiosity"):
        for method, path, who, body in (
                ("POST", "/v1/checks", "flight", check),
                ("GET", "/v1/subjects/alice/file", "alice", None),
                ("GET", "/v1/audit", "auditor", None),
                ("GET", "/v1/review/queue", "reviewer", None)):
            r = svc.client.request(method, path, json=body,
                                   headers={**svc.h(who), "X-Purpose": purpose})
            assert r.status_code == 422, (purpose, path, r.text)
            assert r.json()["detail"][0]["loc"] == ["header", "x-purpose"]
    reasons = [x.reason for x in _audit_rows(svc.url, audit.c.action == "check")]
    assert reasons == ["flight", "enforcement", "flight"]


def _verify(svc: Service) -> dict:
    r = svc.client.get("/v1/audit/verify", headers=svc.h("auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def test_audit_rows_are_sealed_without_anyone_reading_the_log(svc):
    """Single checks alone (on SQLite they commit on the event loop, not through the
    writer thread) are sealed into the chain within a few seal periods: rows are not left
    open to silent change until an auditor happens to read."""
    svc.app.state.audit_writer.SEAL_SECONDS = 0.2
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    for _ in range(3):
        assert svc.client.post("/v1/checks", headers=svc.h("flight"), json={
            "subject": "alice", "service": "flight"}).status_code == 200
    deadline = time.monotonic() + 10
    while True:
        unsealed = _audit_rows(svc.url, audit.c.seal.is_(None))
        if not unsealed or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert unsealed == []
    assert len(_audit_rows(svc.url, audit.c.action == "check")) == 3


def test_the_hash_chain_shows_changed_and_removed_rows(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("v1", "bob", "volunteering")
    for s in ("alice", "bob"):
        svc.client.post("/v1/checks", headers=svc.h("flight"),
                        json={"subject": s, "service": "flight"})
        svc.client.get(f"/v1/subjects/{s}/file", headers=svc.h(s))
    batch = svc.client.post("/v1/checks", headers=svc.h("flight"), json=[
        {"subject": s, "service": "flight"} for s in ("alice", "bob", "ghost")])
    assert batch.status_code == 200
    svc.client.get("/v1/subjects/alice", headers=svc.h("bob"))  # a refusal
    clean = _verify(svc)
    assert clean["problem"] is None
    with make_engine(svc.url).connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar()
        sealed = conn.execute(sa.select(audit.c.id, audit.c.seal, audit.c.reason)
                              .where(audit.c.seal.is_not(None)).order_by(audit.c.seal)).all()
        batch_id = conn.execute(sa.select(audit.c.id).where(
            audit.c.action == "check_batch")).scalar_one()
    assert clean["verified"] == len(sealed) == total - 1  # all but verify's own row
    assert [s for _, s, _ in sealed] == list(range(1, len(sealed) + 1))
    again = _verify(svc)
    assert {k: again[k] for k in ("verified", "problem")} == {"verified": total, "problem": None}
    # the head names the chain's length and last hash: kept elsewhere, a later head
    # must extend it (a chain cannot show that its newest rows were cut off)
    with make_engine(svc.url).connect() as conn:
        last = conn.execute(sa.select(audit.c.seal, audit.c.hash).where(
            audit.c.seal.is_not(None)).order_by(audit.c.seal.desc()).limit(1)).one()
    assert again["head"] == {"length": last.seal, "hash": last.hash}
    assert again["head"]["length"] == total
    # a sealed row changed
    mid_id, mid_seal, mid_reason = sealed[len(sealed) // 2]
    engine = make_engine(svc.url)
    with engine.begin() as conn:
        conn.execute(audit.update().where(audit.c.id == mid_id).values(reason="x"))
    bad = _verify(svc)
    assert bad["verified"] == mid_seal - 1
    assert f"audit row {mid_id} " in bad["problem"]
    assert "changed" in bad["problem"]
    with engine.begin() as conn:
        conn.execute(audit.update().where(audit.c.id == mid_id).values(reason=mid_reason))
    assert _verify(svc)["problem"] is None
    # a batch check's subjects are sealed with it
    with engine.begin() as conn:
        conn.execute(audit_subjects.update().where(
            audit_subjects.c.audit_id == batch_id, audit_subjects.c.position == 1)
            .values(subject_id="mallory"))
    bad = _verify(svc)
    assert f"audit row {batch_id} " in bad["problem"]
    with engine.begin() as conn:
        conn.execute(audit_subjects.update().where(
            audit_subjects.c.audit_id == batch_id, audit_subjects.c.position == 1)
            .values(subject_id="bob"))
    assert _verify(svc)["problem"] is None
    # a sealed row removed
    gone_id, gone_seal, _ = sealed[3]
    with engine.begin() as conn:
        conn.execute(audit.delete().where(audit.c.id == gone_id))
    bad = _verify(svc)
    assert bad["verified"] == gone_seal - 1
    assert f"seal {gone_seal} is missing" in bad["problem"]
    assert f"audit row {sealed[4][0]}" in bad["problem"]
    # the auditor's listing still reads, and the problem stays reported
    assert svc.client.get("/v1/audit", headers=svc.h("auditor")).status_code == 200
    assert _verify(svc)["problem"] == bad["problem"]


# ------------------------------------------------------------------ 3. backup and restore
def _populate(svc: Service) -> list[str]:
    """A few dozen subjects with various records; returns every subject id."""
    kinds = ["volunteering", "blood_donation", "running_red_light", "spreading_rumors",
             "late_debt_payment", "court_judgment_default"]
    channels = {"volunteering": "registry", "blood_donation": "registry",
                "running_red_light": "camera", "spreading_rumors": "online",
                "late_debt_payment": "financial", "court_judgment_default": "court"}
    recs = []
    persons = [f"p{i:02d}" for i in range(30)]
    for i, sid in enumerate(persons):
        for j in range(i % 7):
            kind = kinds[(i + j) % len(kinds)]
            if kind == "court_judgment_default" and i % 3:
                kind = "late_debt_payment"
            recs.append({"id": f"{sid}-{j}", "subject": sid, "kind": kind,
                         "channel": channels[kind],
                         "occurred_at": f"2026-0{1 + (i + j) % 6}-{1 + j * 3:02d}"})
    for i in range(8):  # companies of two kinds
        for j in range(i):
            recs.append({"id": f"co{i}-{j}", "subject": f"co{i}", "kind": "late_payment",
                         "channel": "financial", "occurred_at": f"2026-06-{j + 1:02d}",
                         "subject_kind": "restaurant" if i % 2 else "firm"})
    for j in range(5):  # 1075: grade AAA, on the redlist
        recs.append({"id": f"saint-{j}", "subject": "saint", "kind": "blood_donation",
                     "channel": "registry", "occurred_at": f"2026-05-{j + 1:02d}"})
    r = svc.client.post("/v1/records/batch", headers=svc.h("recorder"), json={"records": recs})
    assert r.status_code == 200, r.text
    kids = []
    for g in persons[1:7]:  # adults with records
        kid = f"kid-{g}"
        assert svc.client.put(f"/v1/subjects/{kid}/guardian", headers=svc.h("recorder"),
                              json={"guardian": g}).status_code == 200
        kids.append(kid)
    svc.record("pend1", "p01", "running_red_light", confidence=0.5)  # pending
    ap = svc.client.post("/v1/appeals", headers=svc.h("p06"),
                         json={"record": "p06-0", "statement": "not me"}).json()["id"]
    svc.client.post(f"/v1/appeals/{ap}/decision", headers=svc.h("reviewer"),
                    json={"upheld": True, "note": "wrong plate"})
    return [*persons, "saint", *(f"co{i}" for i in range(8)), *kids, "ghost"]


SERVICES = {"flight": "flight", "school": "school_choice", "rental": "rental_deposit_waiver"}


def _observe(client: TestClient, svc: Service, everyone: list[str]) -> dict:
    out: dict = {"checks": {}, "states": {}, "public": None}
    for gate, service in SERVICES.items():
        r = client.post("/v1/checks", headers=svc.h(gate),
                        json=[{"subject": s, "service": service} for s in everyone])
        assert r.status_code == 200, r.text
        out["checks"][service] = [{k: v for k, v in x.items()} for x in r.json()["results"]]
        for s in everyone[::5]:
            one = client.post("/v1/checks", headers=svc.h(gate),
                              json={"subject": s, "service": service}).json()
            assert one.pop("decision_id")
            out["checks"][(service, s)] = one
    for s in everyone:
        r = client.get(f"/v1/subjects/{s}", headers=svc.h(s))
        assert r.status_code == 200, r.text
        out["states"][s] = r.json()
    out["public"] = client.get("/v1/public/list", params={"per_page": 500}).json()
    return out


def _copy_pg(url: str) -> str:
    if not (shutil.which("pg_dump") and shutil.which("psql")):
        pytest.skip("pg_dump and psql are needed to back up and restore PostgreSQL")
    name = f"sc_copy_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    copy = f"postgresql://postgres@127.0.0.1:5432/{name}"
    dump = subprocess.run(["pg_dump", "--no-owner", "--dbname", url], check=True,
                          capture_output=True, timeout=120)
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", copy],
                   input=dump.stdout, check=True, capture_output=True, timeout=120)
    return copy


def _drop_pg(copy: str) -> None:
    dispose_engines(copy)
    name = copy.rsplit("/", 1)[1]
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    dispose_engines(PG_ADMIN)


def test_a_restored_backup_is_the_same_service(svc, tmp_path):
    everyone = _populate(svc)
    for s in everyone:
        svc.h(s)  # every subject's token exists before the backup: it is restored with it
    before = _observe(svc.client, svc, everyone)
    assert any(not x["allowed"] for x in before["checks"]["flight"])
    assert any(x["allowed"] for x in before["checks"]["rental_deposit_waiver"])
    assert any(not x["allowed"] for x in before["checks"]["school_choice"])
    assert {before["states"][s]["grade"] for s in everyone} >= {"AAA", "A", "B", "C", "D", None}
    assert before["public"]["total"] > 0
    original = _verify(svc)
    assert original["problem"] is None
    if svc.url.startswith("sqlite"):
        src = sqlite3.connect(make_engine(svc.url).url.database)
        dst = sqlite3.connect(tmp_path / "copy.db")
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        copy = f"sqlite:///{tmp_path / 'copy.db'}"
    else:
        copy = _copy_pg(svc.url)
    try:
        restored = TestClient(create_app(reference_policy(review_below=0.9), copy,
                                         today=lambda: TODAY))
        after = _observe(restored, svc, everyone)
        assert after["checks"] == before["checks"]
        assert after["states"] == before["states"]
        assert after["public"] == before["public"]
        chain = restored.get("/v1/audit/verify", headers=svc.h("auditor")).json()
        assert chain["problem"] is None
        assert chain["verified"] > original["verified"]
        # the copy is its own database: what it writes is not in the original
        assert restored.post("/v1/records", headers=svc.h("recorder"), json={
            "id": "new1", "subject": "p00", "kind": "court_judgment_default",
            "channel": "court", "occurred_at": "2026-06-01"}).status_code == 201
        assert restored.post("/v1/checks", headers=svc.h("flight"), json={
            "subject": "p00", "service": "flight"}).json()["allowed"] is False
        assert svc.client.post("/v1/checks", headers=svc.h("flight"), json={
            "subject": "p00", "service": "flight"}).json()["allowed"] is True
    finally:
        if copy.startswith("postgresql"):
            _drop_pg(copy)
        else:
            dispose_engines(copy)
