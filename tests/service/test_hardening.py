"""Hardening of the service's inputs and least privilege, on SQLite and PostgreSQL: what
once was a PostgreSQL 500 is a clear 4xx, values are taken only in their strict types,
appeals are keyed, single, final, paginated and rate-limited, and every role learns no
more than it needs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.policy import parse_policy
from socialcredit.scenarios import scenario_path
from socialcredit.service import create_app, make_engine
from socialcredit.service._db import appeals, records, subjects
from tests.service.conftest import TODAY, Service, reference_policy

BIG = 2**62


def _rows(url: str, table: sa.Table, *where) -> list:
    with make_engine(url).connect() as conn:
        return conn.execute(sa.select(table).where(*where)).all()


def _client_error(r) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


def _appeal(svc: Service, who: str, record: str, statement: str = "not me", **extra):
    return svc.client.post("/v1/appeals", headers=svc.h(who),
                           json={"record": record, "statement": statement, **extra})


def _batch(svc: Service, items: list[tuple[str, str, str, str]]):
    """Records (id, subject, kind, day) in one batch."""
    channels = {"court_judgment_default": "court", "volunteering": "registry",
                "blood_donation": "registry", "running_red_light": "camera",
                "late_debt_payment": "financial", "late_payment": "financial",
                "spreading_rumors": "online"}
    r = svc.client.post("/v1/records/batch", headers=svc.h("recorder"), json={"records": [
        {"id": rid, "subject": s, "kind": k, "occurred_at": on, "channel": channels[k]}
        for rid, s, k, on in items]})
    assert r.status_code == 200, r.text
    return r


# ------------------------------------------------------------------ 1. no more 500s
def test_former_postgresql_500s_are_clear_4xx(svc):
    """NUL characters, ids longer than their columns and ids beyond PostgreSQL's integer
    once reached the database (500 there); each is a 4xx before it, on both databases,
    and nothing is stored."""
    nul = "a\u0000b"
    assert svc.record("c1", "alice", "court_judgment_default", on="2026-03-01").status_code == 201
    pending = svc.record("cam1", "alice", "running_red_light", confidence=0.5)
    assert pending.json()["status"] == "pending"
    # NUL in text bodies
    ev = svc.record("n1", "alice", "volunteering", evidence=nul)
    assert ev.status_code == 422, ev.text
    assert ev.json()["detail"][0]["loc"] == ["body", "evidence"]
    assert _rows(svc.url, records, records.c.id == "n1") == []
    st = _appeal(svc, "alice", "c1", statement=nul)
    assert st.status_code == 422, st.text
    assert _rows(svc.url, appeals) == []
    ap = _appeal(svc, "alice", "c1")
    assert ap.status_code == 201, ap.text
    note = svc.client.post(f"/v1/appeals/{ap.json()['id']}/decision",
                           headers=svc.h("reviewer"), json={"upheld": True, "note": nul})
    assert note.status_code == 422, note.text
    assert _rows(svc.url, appeals)[0].status == "open"
    rnote = svc.client.post("/v1/records/cam1/review", headers=svc.h("reviewer"),
                            json={"confirmed": True, "note": nul})
    assert rnote.status_code == 422, rnote.text
    assert _rows(svc.url, records, records.c.id == "cam1")[0].status == "pending"
    # NUL in paths and in the public search, with any token or none
    for path, who in (("/v1/subjects/a%00b", "alice"), ("/v1/subjects/a%00b", "reviewer"),
                      ("/v1/subjects/a%00b/file", "alice"),
                      ("/v1/subjects/a%00b/export", "alice")):
        _client_error(svc.client.get(path, headers=svc.h(who)))
        assert svc.client.get(path).status_code == 401
        assert svc.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert svc.client.get(path, headers=svc.h("flight")).status_code == 403
    _client_error(svc.client.post("/v1/records/a%00b/review", headers=svc.h("reviewer"),
                                  json={"confirmed": True}))
    _client_error(svc.client.put("/v1/subjects/a%00b/guardian", headers=svc.h("recorder"),
                                 json={"guardian": "alice"}))
    for body in ({"subject": nul, "service": "flight"}, {"subject": "x" * 65, "service": "flight"},
                 [{"subject": "alice", "service": "fl\u0000ight"}]):
        r = svc.client.post("/v1/checks", headers=svc.h("flight"), json=body)
        assert r.status_code == 422, r.text
    for body in ({"record": nul, "statement": "x"}, {"record": "c1", "statement": "x", "key": nul},
                 {"record": "r" * 129, "statement": "x"}):
        r = svc.client.post("/v1/appeals", headers=svc.h("alice"), json=body)
        assert r.status_code == 422, r.text
    q = svc.client.get("/v1/public/list", params={"q": nul})
    assert q.status_code == 422, q.text
    # ids over 64 characters: the guardian route (path and body), the audit filter
    long = "x" * 65
    for child, guardian in ((long, "alice"), ("kid", long)):
        g = svc.client.put(f"/v1/subjects/{child}/guardian", headers=svc.h("recorder"),
                           json={"guardian": guardian})
        assert g.status_code == 422, g.text
    assert _rows(svc.url, subjects, subjects.c.id.in_(["kid", long])) == []
    flt = svc.client.get("/v1/audit", headers=svc.h("auditor"), params={"subject": long})
    assert flt.status_code == 422, flt.text
    # a refusal naming such a subject is audited without it (401 and 403, not 500)
    for path in (f"/v1/subjects/{long}", f"/v1/subjects/{long}/file"):
        assert svc.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert svc.client.get(path, headers=svc.h("auditor")).status_code == 403
    # ids beyond the database's integers
    big = svc.client.post(f"/v1/appeals/{BIG}/decision", headers=svc.h("reviewer"),
                          json={"upheld": True, "note": "x"})
    assert big.status_code == 422, big.text
    for aid in (0, -1, 2**31):
        r = svc.client.post(f"/v1/appeals/{aid}/decision", headers=svc.h("reviewer"),
                            json={"upheld": True, "note": "x"})
        assert r.status_code == 422, (aid, r.text)
    batch = svc.client.get(f"/v1/audit/{BIG}/subjects", headers=svc.h("auditor"))
    assert batch.status_code == 422, batch.text
    assert svc.client.delete(f"/v1/tokens/{BIG}").status_code in (401, 422)
    # the service still answers, and the audit log still verifies
    ok = svc.client.get("/v1/audit/verify", headers=svc.h("auditor")).json()
    assert ok["problem"] is None


# ------------------------------------------------------------------ 2. strict types
def test_times_are_strict_iso_8601_and_counted_on_their_utc_date(svc):
    def post(rid: str, when):
        return svc.client.post("/v1/records", headers=svc.h("recorder"), json={
            "id": rid, "subject": "alice", "kind": "volunteering", "occurred_at": when,
            "channel": "registry"})

    bad = {"number": 20261120, "epoch": "1764201600", "too_old": "0001-01-01",
           "naive": "2026-06-01T10:00:00", "future_in_utc": "2026-06-30T23:30:00-05:00",
           "future_date": "2026-07-01", "not_a_day": "2026-02-30", "float": 1.5e9,
           "bool": True, "words": "yesterday"}
    for name, when in bad.items():
        r = post(f"bad-{name.replace('_', '-')}", when)
        assert r.status_code == 422, (name, r.text)
        assert any(e["loc"][:2] == ["body", "occurred_at"] for e in r.json()["detail"]), name
    assert _rows(svc.url, records) == []
    # 23:30 at -05:00 is 04:30 UTC the next day: the record counts on that day
    ok = post("late", "2026-06-01T23:30:00-05:00")
    assert ok.status_code == 201, ok.text
    assert ok.json()["occurred_at"] == "2026-06-02"
    assert _rows(svc.url, records)[0].occurred_on.isoformat() == "2026-06-02"
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    assert file["records"][0]["occurred_at"] == "2026-06-02"
    # the same time in UTC is the same record (its day is the same): a safe retry
    same = post("late", "2026-06-02T04:30:00Z")
    assert same.status_code == 200, same.text
    # the earliest day allowed, and today late in the day at an eastern offset
    assert post("oldest", "1900-01-01").status_code == 201
    assert post("east", "2026-06-30T23:30:00+08:00").status_code == 201


def test_booleans_numbers_and_ids_are_taken_in_their_own_types(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("cam1", "alice", "running_red_light", confidence=0.5)
    ap = _appeal(svc, "alice", "c1").json()["id"]
    for upheld in ("yes", 1, "true", None, 0):
        r = svc.client.post(f"/v1/appeals/{ap}/decision", headers=svc.h("reviewer"),
                            json={"upheld": upheld, "note": "x"})
        assert r.status_code == 422, (upheld, r.text)
    a = _rows(svc.url, appeals)[0]
    assert (a.status, a.decided_at, a.note) == ("open", None, None)
    for confirmed in ("true", 1, "yes"):
        r = svc.client.post("/v1/records/cam1/review", headers=svc.h("reviewer"),
                            json={"confirmed": confirmed})
        assert r.status_code == 422, (confirmed, r.text)
    assert _rows(svc.url, records, records.c.id == "cam1")[0].status == "pending"
    for conf in ("0.5", True, "1", [0.5]):
        r = svc.record("cam2", "alice", "running_red_light", confidence=conf)
        assert r.status_code == 422, (conf, r.text)
        assert r.json()["detail"][0]["loc"][:2] == ["body", "confidence"]
    assert _rows(svc.url, records, records.c.id == "cam2") == []
    assert svc.record("cam2", "alice", "running_red_light", confidence=1).status_code == 201
    # child ids on the guardian route follow the id rules, in the path and in the body
    for child in ("bad!id", "a%20b", "-lead", "x" * 65):
        r = svc.client.put(f"/v1/subjects/{child}/guardian", headers=svc.h("recorder"),
                           json={"guardian": "alice"})
        assert r.status_code == 422, (child, r.text)
    for guardian in ("bad id", "", "x" * 65, 7):
        r = svc.client.put("/v1/subjects/kid/guardian", headers=svc.h("recorder"),
                           json={"guardian": guardian})
        assert r.status_code == 422, (guardian, r.text)
    assert _rows(svc.url, subjects, subjects.c.id != "alice") == []
    ok = svc.client.put("/v1/subjects/kid.1_a:b-c/guardian", headers=svc.h("recorder"),
                        json={"guardian": "alice"})
    assert ok.status_code == 200, ok.text


# ------------------------------------------------------------------ 3. appeals
def test_appeal_keys_single_open_appeals_and_final_decisions(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("r1", "alice", "spreading_rumors", on="2026-06-01")
    first = _appeal(svc, "alice", "c1", "I paid", key="k-1")
    assert first.status_code == 201, first.text
    again = _appeal(svc, "alice", "c1", "I paid", key="k-1")
    assert again.status_code in (200, 201), again.text
    assert again.json()["retry"] is True
    assert again.json()["id"] == first.json()["id"]
    assert "retry" not in first.json()
    assert len(_rows(svc.url, appeals)) == 1
    # the same key for other content, another open appeal on the record
    assert _appeal(svc, "alice", "c1", "I paid twice", key="k-1").status_code == 409
    assert _appeal(svc, "alice", "r1", "I paid", key="k-1").status_code == 409
    assert _appeal(svc, "alice", "c1", "another").status_code == 409
    assert _appeal(svc, "alice", "c1", "another", key="k-2").status_code == 409
    assert len(_rows(svc.url, appeals)) == 1
    # another subject's same key is its own
    svc.record("v1", "bob", "volunteering")
    assert _appeal(svc, "bob", "v1", "I paid", key="k-1").status_code == 201
    # a decision is final; the record may then be appealed again
    aid = first.json()["id"]
    d = svc.client.post(f"/v1/appeals/{aid}/decision", headers=svc.h("reviewer"),
                        json={"upheld": False, "note": "the judgment stands"})
    assert d.status_code == 200, d.text
    assert d.json()["status"] == "rejected"
    for upheld in (True, False):
        again = svc.client.post(f"/v1/appeals/{aid}/decision", headers=svc.h("reviewer"),
                                json={"upheld": upheld, "note": "changed my mind"})
        assert again.status_code == 409, again.text
    assert _rows(svc.url, appeals, appeals.c.id == aid)[0].note == "the judgment stands"
    second = _appeal(svc, "alice", "c1", "new evidence", key="k-3")
    assert second.status_code == 201, second.text
    assert second.json()["id"] != aid
    # the retry of the first still answers with the first, decided
    assert _appeal(svc, "alice", "c1", "I paid", key="k-1").json()["status"] == "rejected"
    up = svc.client.post(f"/v1/appeals/{second.json()['id']}/decision",
                         headers=svc.h("reviewer"), json={"upheld": True, "note": "receipt"})
    assert up.json()["status"] == "upheld"
    # a voided record is not appealed again
    assert _appeal(svc, "alice", "c1", "once more").status_code == 409
    # the subject's file lists its appeals with their outcome and note
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    assert [(a["id"], a["record"], a["status"], a["note"]) for a in file["appeals"]] == [
        (aid, "c1", "rejected", "the judgment stands"),
        (second.json()["id"], "c1", "upheld", "receipt")]
    assert all(a["decided_at"] for a in file["appeals"])
    assert "bob" not in json.dumps(file["appeals"])


def test_the_review_queue_is_paginated_and_one_subject_hides_nobody(svc):
    """Many open appeals of one subject (20 today, the most in 24 hours, and 130 older),
    then another subject's: every appeal is reachable a page at a time; the 21st appeal
    in 24 hours is refused with Retry-After."""
    _batch(svc, [(f"m{i:03d}", "many", "spreading_rumors", "2026-06-01") for i in range(151)])
    _batch(svc, [("o1", "other", "spreading_rumors", "2026-06-01")])
    # 130 appeals opened two days ago (not counted by the daily limit)
    old = datetime.now(UTC) - timedelta(days=2)
    with make_engine(svc.url).begin() as conn:
        conn.execute(appeals.insert(), [
            {"record_id": f"m{i:03d}", "subject_id": "many", "statement": "old",
             "status": "open", "opened_at": old + timedelta(seconds=i),
             "policy_version": "reference@1"} for i in range(130)])
    for i in range(130, 150):
        r = _appeal(svc, "many", f"m{i:03d}")
        assert r.status_code == 201, (i, r.text)
    limited = _appeal(svc, "many", "m150")
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["retry-after"]) > 0
    assert _rows(svc.url, appeals, appeals.c.record_id == "m150") == []
    # the limit is the subject's own
    mine = _appeal(svc, "other", "o1", "mine")
    assert mine.status_code == 201, mine.text
    # pages: at most 100 a page; totals; the other subject's appeal is on the second
    assert svc.client.get("/v1/review/queue", headers=svc.h("reviewer"),
                          params={"per_page": 101}).status_code == 422
    assert svc.client.get("/v1/review/queue", headers=svc.h("reviewer"),
                          params={"page": 0}).status_code == 422
    seen = []
    for page in (1, 2, 3):
        q = svc.client.get("/v1/review/queue", headers=svc.h("reviewer"),
                           params={"page": page, "per_page": 100}).json()
        assert q["appeals_total"] == 151
        assert q["pending_total"] == 0
        assert (q["page"], q["per_page"]) == (page, 100)
        assert len(q["open_appeals"]) == [100, 51, 0][page - 1]
        seen += q["open_appeals"]
    assert len({a["id"] for a in seen}) == 151
    assert [a["subject"] for a in seen].count("other") == 1
    assert seen[-1]["subject"] == "other"
    default = svc.client.get("/v1/review/queue", headers=svc.h("reviewer")).json()
    assert len(default["open_appeals"]) <= 100


# ------------------------------------------------------------------ 4. least privilege
def _same_but_ids(a, b, sa_: str, sb: str) -> None:
    """Two answers byte-identical apart from their subject ids and decision ids."""
    def strip(r, subject: str) -> bytes:
        body = r.json()
        ids = [body["decision_id"]] if "decision_id" in body else []
        out = r.content
        for x in ids:
            out = out.replace(x.encode(), b"<decision>")
        return out.replace(f'"{subject}"'.encode(), b'"<subject>"')

    assert a.status_code == b.status_code == 200
    assert strip(a, sa_) == strip(b, sb)


def _check(svc: Service, gate: str, service: str, subject: str | list[str]):
    body = ({"subject": subject, "service": service} if isinstance(subject, str)
            else [{"subject": s, "service": service} for s in subject])
    return svc.client.post("/v1/checks", headers=svc.h(gate), json=body)


def test_gatekeepers_learn_the_decision_and_nothing_else(db_url):
    """A rental gatekeeper cannot tell grade AAA from AA when the decision is the same;
    a flight denial names the measure, not the list; a child's denial says nothing of
    its guardian; an unknown subject reads as one without records."""
    text = scenario_path("reference").read_text(encoding="utf-8")
    assert "score_at_least = 1050" in text
    # the redlist from 1030: AA and AAA both have deposit-free rentals
    svc = Service(db_url, parse_policy(text.replace("score_at_least = 1050",
                                                    "score_at_least = 1030")))
    items = [(f"b{i}", "top-subject-1", "blood_donation", f"2026-06-{i + 1:02d}")
             for i in range(5)]  # 1075: AAA
    items += [(f"v{i}", "mid-subject-2", "volunteering", f"2026-06-{i + 1:02d}")
              for i in range(7)]  # 1035: AA
    items += [("c1", "debtor-3", "court_judgment_default", "2026-03-01")]
    _batch(svc, items)
    grades = {s: svc.client.get(f"/v1/subjects/{s}", headers=svc.h(s)).json()["grade"]
              for s in ("top-subject-1", "mid-subject-2")}
    assert grades == {"top-subject-1": "AAA", "mid-subject-2": "AA"}
    top = _check(svc, "rental", "rental_deposit_waiver", "top-subject-1")
    mid = _check(svc, "rental", "rental_deposit_waiver", "mid-subject-2")
    assert top.json()["allowed"] is mid.json()["allowed"] is True
    _same_but_ids(top, mid, "top-subject-1", "mid-subject-2")
    for answer in (top, mid):
        assert not {"AAA", "AA", "1075", "1035", "redlist", "score", "grade"} & set(
            answer.text.replace('"', " ").replace(",", " ").split())
    # a court debtor's flight denial: the measure, never the list or the record
    for answer in (_check(svc, "flight", "flight", "debtor-3").json(),
                   _check(svc, "flight", "flight", ["debtor-3"]).json()["results"][0]):
        assert answer["allowed"] is False
        assert answer["measure"] == "no_flights"
        dumped = json.dumps({k: v for k, v in answer.items() if k != "decision_id"}).lower()
        for word in ("blacklist", "court", "c1", "judgment", "score", "grade", "list\""):
            assert word not in dumped, word
    # a child's denial says nothing of the guardian's list or the guardian
    g = svc.client.put("/v1/subjects/kid-4/guardian", headers=svc.h("recorder"),
                       json={"guardian": "debtor-3"})
    assert g.status_code == 200, g.text
    kid = _check(svc, "school", "school_choice", "kid-4")
    assert kid.json()["allowed"] is False
    assert kid.json()["measure"] == "no_school_choice"
    for word in ("blacklist", "debtor", "guardian", "court", "child"):
        assert word not in kid.text.lower(), word
    assert set(kid.json()) == {"subject", "service", "allowed", "measure", "legal_basis",
                               "policy_version", "decision_id"}


def test_an_unknown_subject_reads_as_one_without_records(db_url):
    svc = Service(db_url, reference_policy(review_below=0.9))
    with make_engine(svc.url).begin() as conn:  # a subject row without any record
        conn.execute(subjects.insert().values(id="bare-subject", type="person",
                                              created_at=datetime.now(UTC)))
    svc.record("c1", "voided-subject", "court_judgment_default", on="2026-03-01")
    ap = _appeal(svc, "voided-subject", "c1").json()["id"]
    assert svc.client.post(f"/v1/appeals/{ap}/decision", headers=svc.h("reviewer"),
                           json={"upheld": True, "note": "wrong person"}).status_code == 200
    svc.record("cam1", "pending-subject", "running_red_light", confidence=0.5)
    known = ("bare-subject", "voided-subject", "pending-subject")
    for gate, service in (("flight", "flight"), ("rental", "rental_deposit_waiver"),
                          ("school", "school_choice")):
        ghost = _check(svc, gate, service, "ghost-subject")
        for s in known:
            _same_but_ids(ghost, _check(svc, gate, service, s), "ghost-subject", s)
        many = _check(svc, gate, service, ["ghost-subject", *known])
        assert many.status_code == 200
        results = many.json()["results"]
        assert [r["subject"] for r in results] == ["ghost-subject", *known]
        assert len({json.dumps({k: v for k, v in r.items() if k != "subject"})
                    for r in results}) == 1
    # and to a subject's own token, an unknown id reads as a file without records
    mine = svc.client.get("/v1/subjects/ghost-subject", headers=svc.h("ghost-subject"))
    bare = svc.client.get("/v1/subjects/bare-subject", headers=svc.h("bare-subject"))
    assert mine.status_code == bare.status_code == 200
    assert mine.json()["lists"] == bare.json()["lists"] == []
    assert mine.json()["measures"] == bare.json()["measures"]


def test_reviewers_see_subjects_under_review_only_and_auditors_no_files(svc):
    svc.record("v1", "alice", "volunteering")
    svc.record("c1", "bob", "court_judgment_default", on="2026-03-01")
    paths = ("/v1/subjects/{}", "/v1/subjects/{}/file")
    for p in paths:
        for s in ("alice", "bob", "ghost"):
            assert svc.client.get(p.format(s), headers=svc.h("reviewer")).status_code == 403
    svc.record("cam1", "alice", "running_red_light", confidence=0.5)  # pending
    ap = _appeal(svc, "bob", "c1").json()["id"]
    for p in paths:
        assert svc.client.get(p.format("alice"), headers=svc.h("reviewer")).status_code == 200
        assert svc.client.get(p.format("bob"), headers=svc.h("reviewer")).status_code == 200
        assert svc.client.get(p.format("ghost"), headers=svc.h("reviewer")).status_code == 403
    # once reviewed and decided, out of sight again
    svc.client.post("/v1/records/cam1/review", headers=svc.h("reviewer"),
                    json={"confirmed": False, "note": "blurred"})
    svc.client.post(f"/v1/appeals/{ap}/decision", headers=svc.h("reviewer"),
                    json={"upheld": False, "note": "stands"})
    for p in paths:
        for s in ("alice", "bob"):
            assert svc.client.get(p.format(s), headers=svc.h("reviewer")).status_code == 403
    # the export is the subject's own; auditors and gatekeepers read no file at all
    assert svc.client.get("/v1/subjects/alice/export",
                          headers=svc.h("reviewer")).status_code == 403
    for who in ("auditor", "flight", "recorder"):
        for p in (*paths, "/v1/subjects/{}/export"):
            assert svc.client.get(p.format("alice"), headers=svc.h(who)).status_code == 403
    assert svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).status_code == 200
    assert svc.client.get("/v1/subjects/alice/file", headers=svc.h("bob")).status_code == 403


DISCLOSE = scenario_path("reference").read_text(encoding="utf-8").replace(
    '''[[disclosure]]
subject = "person"
list = "blacklist"

[[disclosure]]
subject = "company"
grades = ["D"]
''', '''[[disclosure]]
subject = "person"
list = "blacklist"
fields = ["name", "listed_until", "evidence"]

[[disclosure]]
subject = "company"
grades = ["D"]
company_kinds = ["restaurant"]
fields = ["name", "grade", "record_date"]
''')


def test_the_public_list_shows_the_named_fields_a_page_at_a_time_from_stored_states(
        db_url, monkeypatch):
    from socialcredit.service import _store
    from socialcredit.service.routes import public

    assert "listed_until" in DISCLOSE
    policy = parse_policy(DISCLOSE)
    svc = Service(db_url, policy)
    n = 3000
    items = [(f"p{i}", f"person-{i:05d}", "volunteering", "2026-06-01") for i in range(n)]
    items += [(f"c{i}", f"debtor-{i}", "court_judgment_default", "2026-03-01")
              for i in range(3)]
    _batch(svc, items)
    svc.record("e1", "debtor-0", "court_judgment_default", on="2026-04-01",
               evidence="case 12/2026")
    for i in range(6):
        svc.client.post("/v1/records", headers=svc.h("recorder"), json={
            "id": f"s{i}", "subject": "shop", "kind": "late_payment", "channel": "financial",
            "occurred_at": f"2026-06-0{i + 1}", "subject_kind": "restaurant"})
        svc.client.post("/v1/records", headers=svc.h("recorder"), json={
            "id": f"w{i}", "subject": "works", "kind": "late_payment", "channel": "financial",
            "occurred_at": f"2026-06-0{i + 1}", "subject_kind": "firm"})
    expected = [
        {"type": "person", "subject": "debtor-0", "listed_until": {"blacklist": "2027-03-31"},
         "evidence": ["case 12/2026"]},
        {"type": "person", "subject": "debtor-1", "listed_until": {"blacklist": "2027-02-28"},
         "evidence": []},
        {"type": "person", "subject": "debtor-2", "listed_until": {"blacklist": "2027-02-28"},
         "evidence": []},
        {"type": "company", "subject": "shop", "grade": "D", "record_date": "2026-06-06"}]

    sizes, evaluated = [], []
    entries, recompute = public.public_entries, _store.recompute
    monkeypatch.setattr(public, "public_entries",
                        lambda ctx, hits, today: sizes.append(len(hits))
                        or entries(ctx, hits, today))
    monkeypatch.setattr(_store, "recompute",
                        lambda ctx, ids: evaluated.append(len(ids)) or recompute(ctx, ids))
    rules = svc.app.state.rules
    explain = rules.explain
    explained: list[str] = []
    monkeypatch.setattr(rules, "explain", lambda stype, ids, *a, **k: explained.extend(ids)
                        or explain(stype, ids, *a, **k))
    whole = svc.client.get("/v1/public/list", params={"per_page": 500}).json()
    assert whole["items"] == expected
    assert whole["total"] == 4
    # the list read the published states only: none of the 3000 others was evaluated
    assert sizes == [4]
    assert sum(evaluated) == 0
    assert sorted(explained) == ["debtor-0", "debtor-1", "debtor-2", "shop"]
    pages = [svc.client.get("/v1/public/list", params={"per_page": 3, "page": p}).json()
             for p in (1, 2, 3)]
    assert [p["items"] for p in pages] == [expected[:3], expected[3:], []]
    assert all(p["total"] == 4 for p in pages)
    assert sizes[1:] == [3, 1, 0]
    assert svc.client.get("/v1/public/list", params={"q": "debtor-1"}).json()["items"] == [
        expected[1]]
    assert svc.client.get("/v1/public/list", params={"q": "person"}).json()["total"] == 0
    assert svc.client.get("/v1/public/list", params={"per_page": 501}).status_code == 422
    assert sum(evaluated) == 0
    # without stored states (deleted), a service started on the database computes them
    with make_engine(svc.url).begin() as conn:
        conn.execute(sa.text("DELETE FROM subject_states"))
    day = [TODAY]
    later = TestClient(create_app(policy, svc.url, today=lambda: day[0]))
    again = later.get("/v1/public/list", params={"per_page": 500}).json()
    assert again["items"] == expected
    assert sum(evaluated) == n + 3 + 2
    with make_engine(svc.url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM subject_states")).scalar() == n + 5
    assert later.get("/v1/public/list", params={"per_page": 500}).json() == again
    assert sum(evaluated) == n + 5
    # and a running service, on its next day (the states it reads hold through a day)
    with make_engine(svc.url).begin() as conn:
        conn.execute(sa.text("DELETE FROM subject_states"))
    day[0] = TODAY + timedelta(days=1)
    nextday = later.get("/v1/public/list", params={"per_page": 500}).json()
    assert nextday["items"] == expected


def test_anonymous_requests_are_rate_limited_per_client(db_url):
    svc = Service(db_url, reference_policy())
    svc.record("v1", "alice", "volunteering")
    app = create_app(reference_policy(), db_url, today=lambda: TODAY,
                     anonymous_rate=(1.0, 3.0))
    client = TestClient(app)
    # warmed up (with a token, outside the limit), so that four requests take well
    # under the second that refills one
    assert client.get("/v1/public/list", headers=svc.h("alice")).status_code == 200
    answers = [client.get(p) for p in ("/v1/health", "/v1/health", "/v1/health",
                                        "/v1/public/list")]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[3].status_code == 429, answers[3].text
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].headers["x-content-type-options"] == "nosniff"
    # every anonymous route shares the bucket; token holders are not limited by it
    assert client.get("/v1/public/policy").status_code == 429
    for _ in range(10):
        r = client.get("/v1/subjects/alice", headers=svc.h("alice"))
        assert r.status_code == 200, r.text
        c = client.post("/v1/checks", headers=svc.h("flight"),
                        json={"subject": "alice", "service": "flight"})
        assert c.status_code == 200, c.text


def test_a_made_up_token_does_not_lift_the_anonymous_limit(db_url):
    """A made-up Authorization header does not skip the anonymous limit: only a token
    this process has verified does (else a client without a token would be unlimited,
    and each of its 401s would write an audit row)."""
    svc = Service(db_url, reference_policy())
    client = TestClient(create_app(reference_policy(), db_url, today=lambda: TODAY,
                                   anonymous_rate=(1.0, 3.0)))
    assert client.get("/v1/subjects/alice", headers=svc.h("alice")).status_code == 200
    codes = [client.get("/v1/public/list",
                        headers={"Authorization": f"Bearer made-up-{i}"}).status_code
             for i in range(6)]
    refused = [client.get("/v1/subjects/alice", headers={"Authorization": "Bearer nope"})
               .status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200]
    assert set(codes[3:]) == set(refused) == {429}
    # a real token (known to this process) is not limited
    assert client.get("/v1/subjects/alice", headers=svc.h("alice")).status_code == 200


# ---------------------------------------------------------------- from the cold review
def test_identical_records_sent_at_once_are_stored_once_without_errors(db_url):
    """A retry racing its original (the same id and content at the same moment, from
    two service instances): every answer is 200 or 201, one record is stored."""
    import threading

    svc = Service(db_url, reference_policy())
    other = TestClient(create_app(reference_policy(), db_url, today=lambda: TODAY))
    clients = [svc.client, other, svc.client, other]
    for c in clients:  # build each app's routes before the race
        c.get("/v1/health")
    for trial in range(6):
        body = {"id": f"race-{trial}", "subject": f"racer{trial % 2}", "kind": "volunteering",
                "occurred_at": "2026-06-01", "channel": "registry"}
        gate, codes = threading.Barrier(len(clients)), []

        def post(c, body=body, gate=gate, codes=codes):
            gate.wait()
            codes.append(c.post("/v1/records", json=body, headers=svc.h("recorder")).status_code)

        threads = [threading.Thread(target=post, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [200, 200, 200, 201], codes
        assert len(_rows(db_url, records, records.c.id == f"race-{trial}")) == 1


def test_inputs_the_cold_review_found_are_clear_errors(db_url):
    svc = Service(db_url, reference_policy())
    empty = svc.client.post("/v1/checks", headers=svc.h("flight"), json=[])
    assert empty.status_code == 422, empty.text
    for at in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        r = svc.record("ovf", "alice", "volunteering", on=at)
        assert r.status_code == 422, (at, r.text)
    # a gatekeeper declares its own service as its purpose, not another's
    r = svc.client.post("/v1/checks", headers={**svc.h("flight"), "X-Purpose": "research"},
                        json={"subject": "alice", "service": "flight"})
    assert r.status_code == 422, r.text


def test_refusals_inside_routes_are_audited_and_shown_to_the_subject(db_url):
    """Refusals about another subject's data (a subject reading another's file, a
    reviewer reading a subject not under review, a gatekeeper asking for another
    service) leave audit rows, and the subject sees them in its file."""
    svc = Service(db_url, reference_policy())
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    assert svc.client.get("/v1/subjects/alice/file", headers=svc.h("bob")).status_code == 403
    assert svc.client.get("/v1/subjects/alice", headers=svc.h("reviewer")).status_code == 403
    other = svc.client.post("/v1/checks", headers=svc.h("flight"),
                            json={"subject": "alice", "service": "high_speed_rail"})
    assert other.status_code == 403
    log = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                         params={"action": "refused"}).json()["items"]
    assert {(x["role"], x["whom"]) for x in log} >= {("subject", "alice"),
                                                     ("reviewer", "alice"),
                                                     ("gatekeeper", None)}
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    refused = [a["who"] for a in file["accesses"] if a["what"] == "refused"]
    assert "subject" in refused
    assert "reviewer" in refused


def test_token_expiry_keeps_its_offset_and_takes_strict_times(db_url):
    """An expiry given with an offset is the same instant on SQLite (which keeps no
    offset) as on PostgreSQL; the API takes an ISO 8601 time, not a number."""
    from socialcredit.service import create_token

    svc = Service(db_url, reference_policy())
    engine = make_engine(db_url)
    west = datetime.now(UTC).astimezone(timezone(timedelta(hours=-5)))
    token = create_token(engine, "auditor", expires_at=west + timedelta(minutes=10))
    ok = svc.client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, ok.text
    east = datetime.now(UTC).astimezone(timezone(timedelta(hours=8)))
    gone = create_token(engine, "auditor", expires_at=east + timedelta(seconds=1))
    time.sleep(1.5)
    late = svc.client.get("/v1/audit", headers={"Authorization": f"Bearer {gone}"})
    assert late.status_code == 401, late.text
    admin = {"Authorization": f"Bearer {create_token(engine, 'admin')}"}
    for bad in (1900000000, "1900000000", "2030-01-01T00:00:00"):
        r = svc.client.post("/v1/tokens", headers=admin,
                            json={"role": "auditor", "expires_at": bad})
        assert r.status_code == 422, (bad, r.text)
