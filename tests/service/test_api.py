"""The service's API against SQLite and PostgreSQL: recording, checks, subject access,
appeals, review, the public list, audit, and bad requests."""

from __future__ import annotations

import sqlalchemy as sa

from socialcredit.service import make_engine
from socialcredit.service._db import records


def count_records(url: str) -> int:
    with make_engine(url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()


def test_record_is_idempotent_by_client_key(svc):
    r = svc.record("r1", "alice", "volunteering")
    assert r.status_code == 201, r.text
    assert r.json()["points"] == 5
    assert r.json()["policy_version"] == "reference@1"
    again = svc.record("r1", "alice", "volunteering")
    assert again.status_code == 200
    assert again.json() == r.json()
    clash = svc.record("r1", "alice", "running_red_light")
    assert clash.status_code == 409
    assert "exists with other content" in clash.json()["detail"]
    assert count_records(svc.url) == 1


def test_invalid_records_name_each_field_and_store_nothing(svc):
    r = svc.client.post("/v1/records", headers=svc.h("recorder"), json={
        "id": "x1", "subject": "alice", "kind": 7, "occurred_at": "not a date",
        "channel": "court", "confidence": 2})
    assert r.status_code == 422
    locs = {tuple(e["loc"][:2]) for e in r.json()["detail"]}
    assert {("body", "kind"), ("body", "occurred_at"), ("body", "confidence")} <= locs
    unknown = svc.record("x2", "alice", "treason", channel="court")
    assert unknown.status_code == 422
    assert "unknown kind 'treason'" in unknown.text
    wrong = svc.record("x3", "alice", "volunteering", channel="camera")
    assert "volunteering records come from channel 'registry'" in wrong.text
    future = svc.record("x4", "alice", "volunteering", on="2030-01-01")
    assert "in the future" in future.text
    batch = svc.client.post("/v1/records/batch", headers=svc.h("recorder"), json={
        "records": [{"id": "b1", "subject": "bob", "kind": "volunteering",
                     "occurred_at": "2026-06-01", "channel": "registry"},
                    {"id": "b2", "subject": "bob", "kind": "nope",
                     "occurred_at": "2026-06-01", "channel": "registry"}]})
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["loc"] == ["body", "records", 1, "kind"]
    assert count_records(svc.url) == 0


def test_malformed_json_oversized_body_and_extra_fields(svc):
    r = svc.client.post("/v1/records", headers={**svc.h("recorder"),
                                                "content-type": "application/json"},
                        content=b'{"id": "x",')
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]
    big = svc.client.post("/v1/records", headers={**svc.h("recorder"),
                                                  "content-type": "application/json"},
                          content=b'{"evidence": "' + b"x" * (5 * 2**20) + b'"}')
    assert big.status_code == 413
    extra = svc.client.post("/v1/records", headers=svc.h("recorder"), json={
        "id": "e", "subject": "alice", "kind": "volunteering", "occurred_at": "2026-06-01",
        "channel": "registry", "score": 2000})
    assert extra.status_code == 422
    assert count_records(svc.url) == 0


def test_tokens_and_roles(svc):
    svc.record("r1", "alice", "volunteering")
    assert svc.client.get("/v1/subjects/alice").status_code == 401
    bad = svc.client.get("/v1/subjects/alice", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert svc.client.get("/v1/subjects/alice", headers=svc.h("bob")).status_code == 403
    gk = svc.client.get("/v1/subjects/alice/file", headers=svc.h("flight"))
    assert gk.status_code == 403
    assert "cannot do this" in gk.json()["detail"]
    rec = svc.client.post("/v1/records", headers=svc.h("flight"), json={})
    assert rec.status_code == 403
    other = svc.client.post("/v1/checks", headers=svc.h("flight"),
                            json={"subject": "alice", "service": "luxury_hotel"})
    assert other.status_code == 403
    assert svc.client.get("/v1/subjects/alice", headers=svc.h("alice")).status_code == 200


def test_checks_give_allow_or_deny_with_rule_and_basis_only(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("v1", "bob", "volunteering")
    deny = svc.client.post("/v1/checks", headers=svc.h("flight"),
                           json={"subject": "alice", "service": "flight"}).json()
    assert deny["allowed"] is False
    assert deny["measure"] == "no_flights"
    assert deny["policy_version"] == "reference@1"
    assert set(deny) == {"subject", "service", "allowed", "measure", "legal_basis",
                         "policy_version", "decision_id"}  # no score, list or record
    allow = svc.client.post("/v1/checks", headers=svc.h("flight"),
                            json={"subject": "bob", "service": "flight"}).json()
    assert allow["allowed"] is True
    many = svc.client.post("/v1/checks", headers=svc.h("flight"),
                           json=[{"subject": "alice", "service": "flight"},
                                 {"subject": "bob", "service": "flight"}]).json()
    assert [x["allowed"] for x in many["results"]] == [False, True]
    missing = svc.client.post("/v1/checks", headers=svc.h("flight"),
                              json={"subject": "nobody", "service": "flight"})
    assert missing.status_code == 200  # as a subject with no records: no existence oracle
    assert missing.json()["allowed"] is True
    rental = svc.client.post("/v1/checks", headers=svc.h("rental"),
                             json={"subject": "bob", "service": "rental_deposit_waiver"})
    assert rental.json()["allowed"] is False
    assert rental.json()["measure"] == "deposit_free_rentals"


def test_subject_sees_state_rules_and_who_looked(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("s1", "alice", "spreading_rumors", on="2026-06-20")
    svc.client.post("/v1/checks", headers=svc.h("flight"),
                    json={"subject": "alice", "service": "flight"})
    me = svc.client.get("/v1/subjects/alice", headers=svc.h("alice")).json()
    assert me["score"] == 1000 - 100 - 20
    assert me["grade"] == "B"
    assert me["lists"] == [{"name": "blacklist", "type": "black", "rule":
                            "court_judgment_default record c1 of 2026-03-01 lists for 365"
                            " days, until 2027-02-28", "until": "2027-02-28"}]
    assert me["holds_until"] == "2026-08-27"  # c1's last day in the score window
    assert {m["name"] for m in me["measures"]} == {"no_flights", "no_high_speed_rail",
                                                   "no_luxury_hotels"}
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    c1 = next(r for r in file["records"] if r["id"] == "c1")
    assert c1["points"] == -100
    assert c1["status"] == "active"
    assert c1["counts_until"] == "2026-08-27"
    whats = [(a["who"], a["what"]) for a in file["accesses"]]
    assert ("gatekeeper for flight", "check") in whats
    assert ("subject", "view_subject") in whats
    check = next(a for a in file["accesses"] if a["what"] == "check")
    assert check["decided"]["allowed"] is False
    assert check["decided"]["measure"] == "no_flights"
    assert check["decision_id"]


def test_upheld_appeal_voids_the_record_and_lifts_sanctions_at_once(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("v9", "bob", "volunteering")
    assert svc.client.post("/v1/appeals", headers=svc.h("alice"),
                           json={"record": "v9", "statement": "not mine"}).status_code == 404
    ap = svc.client.post("/v1/appeals", headers=svc.h("alice"),
                         json={"record": "c1", "statement": "I paid the debt"})
    assert ap.status_code == 201
    queue = svc.client.get("/v1/review/queue", headers=svc.h("reviewer")).json()
    assert [a["record"] for a in queue["open_appeals"]] == ["c1"]
    assert svc.client.post(f"/v1/appeals/{ap.json()['id']}/decision", headers=svc.h("alice"),
                           json={"upheld": True, "note": "x"}).status_code == 403
    d = svc.client.post(f"/v1/appeals/{ap.json()['id']}/decision", headers=svc.h("reviewer"),
                        json={"upheld": True, "note": "receipt shown"}).json()
    assert d["status"] == "upheld"
    assert d["lists"] == []
    assert d["score"] == 1000
    check = svc.client.post("/v1/checks", headers=svc.h("flight"),
                            json={"subject": "alice", "service": "flight"}).json()
    assert check["allowed"] is True
    file = svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice")).json()
    assert file["records"][0]["status"] == "voided"
    again = svc.client.post(f"/v1/appeals/{ap.json()['id']}/decision",
                            headers=svc.h("reviewer"), json={"upheld": False, "note": "x"})
    assert again.status_code == 409


def test_low_confidence_camera_records_wait_for_review(svc):
    pending = svc.record("cam1", "alice", "running_red_light", confidence=0.5).json()
    assert pending["status"] == "pending"
    sure = svc.record("cam2", "alice", "running_red_light", confidence=0.95).json()
    assert sure["status"] == "active"
    me = svc.client.get("/v1/subjects/alice", headers=svc.h("reviewer")).json()
    assert me["score"] == 990  # only the confirmed one counts
    queue = svc.client.get("/v1/review/queue", headers=svc.h("reviewer")).json()
    assert [r["id"] for r in queue["pending_records"]] == ["cam1"]
    ok = svc.client.post("/v1/records/cam1/review", headers=svc.h("reviewer"),
                         json={"confirmed": True, "note": "plate checked"})
    assert ok.json()["status"] == "active"
    me = svc.client.get("/v1/subjects/alice", headers=svc.h("alice")).json()
    assert me["score"] == 980


def test_children_inherit_spillover_from_their_guardian(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    r = svc.client.put("/v1/subjects/kid/guardian", headers=svc.h("recorder"),
                       json={"guardian": "alice"})
    assert r.status_code == 200, r.text
    kid = svc.client.get("/v1/subjects/kid", headers=svc.h("kid")).json()
    assert kid["type"] == "child"
    assert kid["score"] is None
    assert kid["measures"] == [{"name": "no_school_choice", "type": "sanction",
                                "service": "school_choice", "rule": "guardian is on blacklist",
                                "legal_basis": "none stated in the policy"}]
    check = svc.client.post("/v1/checks", headers=svc.h("school"),
                            json={"subject": "kid", "service": "school_choice"}).json()
    assert check["allowed"] is False
    svc.record("v1", "bob", "volunteering")
    svc.client.put("/v1/subjects/kid3/guardian", headers=svc.h("recorder"),
                   json={"guardian": "bob"})
    asked = [{"subject": k, "service": "school_choice"} for k in ("kid", "kid3", "kid")]
    batch = svc.client.post("/v1/checks", headers=svc.h("school"), json=asked).json()
    singles = [svc.client.post("/v1/checks", headers=svc.h("school"), json=c).json()
               for c in asked]
    # one rule path, one subject or many
    assert batch["results"] == [{k: v for k, v in x.items() if k != "decision_id"}
                                for x in singles]
    assert [x["allowed"] for x in singles] == [False, True, False]
    missing = svc.client.post("/v1/checks", headers=svc.h("school"),
                              json=[*asked, {"subject": "ghost", "service": "school_choice"}])
    assert missing.status_code == 200  # unknown reads as no records: no existence oracle
    assert missing.json()["results"][-1]["allowed"] is True
    bad = svc.client.put("/v1/subjects/kid2/guardian", headers=svc.h("recorder"),
                         json={"guardian": "nobody"})
    assert bad.status_code == 422


def test_public_list_discloses_only_what_the_policy_says(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.record("v1", "bob", "volunteering")
    for i in range(6):
        svc.record(f"lp{i}", "shop", "late_payment", on=f"2026-06-0{i + 1}")
    page = svc.client.get("/v1/public/list").json()
    assert {x["subject"] for x in page["items"]} == {"alice", "shop"}
    alice = next(x for x in page["items"] if x["subject"] == "alice")
    # the reference discloses name and reason only: no grade, no record, no other list
    assert alice == {"type": "person", "subject": "alice", "why": ["on blacklist"]}
    assert svc.client.get("/v1/public/list", params={"q": "sho"}).json()["total"] == 1
    p2 = svc.client.get("/v1/public/list", params={"per_page": 1, "page": 2}).json()
    assert len(p2["items"]) == 1
    assert "explained" in svc.client.get("/v1/public/policy").json()


def test_every_access_is_audited(svc):
    svc.record("c1", "alice", "court_judgment_default", on="2026-03-01")
    svc.client.post("/v1/checks", headers={**svc.h("flight"), "X-Purpose": "flight"},
                    json={"subject": "alice", "service": "flight"})
    svc.client.get("/v1/subjects/alice/file", headers=svc.h("alice"))
    assert svc.client.get("/v1/audit", headers=svc.h("alice")).status_code == 403
    log = svc.client.get("/v1/audit", headers=svc.h("auditor"),
                         params={"subject": "alice"}).json()["items"]
    whats = [(x["role"], x["what"], x["why"]) for x in log]
    assert ("gatekeeper", "check", "flight") in whats
    assert ("subject", "view_file", None) in whats
    assert ("recorder", "record", None) in whats
    check = next(x for x in log if x["what"] == "check")
    assert check["detail"]["allowed"] is False
    assert check["whom"] == "alice"
