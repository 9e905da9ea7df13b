"""The README's role table is true, cell by cell: every route of the OpenAPI document,
asked with every role, no token and a bad token, is allowed exactly where the table
says (and never answers with a server error), and every refusal is audited."""

from __future__ import annotations

import re
from itertools import count
from pathlib import Path

import sqlalchemy as sa

from socialcredit.service import create_token, make_engine
from socialcredit.service._db import audit, tokens
from tests.service.conftest import Service, reference_policy

README = Path(__file__).resolve().parents[2] / "README.md"
COLUMNS = ("no token", "bad token", "recorder", "gatekeeper", "subject", "reviewer",
           "auditor", "admin")


def readme_table() -> dict[tuple[str, str], dict[str, bool]]:
    """(method, path) -> {column: allowed}, from the README's table."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(GET|POST|PUT|DELETE) (/v1/[^`]*)` \|(.*)\|$", line)
        if m:
            cells = [c.strip() for c in m.group(3).split("|")]
            assert len(cells) == len(COLUMNS), line
            rows[(m.group(1), m.group(2))] = {c: v != "—" for c, v in zip(COLUMNS, cells,
                                                                          strict=True)}
    return rows


def test_every_route_allows_exactly_the_roles_in_the_readme(db_url):
    svc = Service(db_url, reference_policy(review_below=0.9))
    engine = make_engine(db_url)
    assert svc.record("c1", "alice", "court_judgment_default", on="2026-03-01").status_code == 201
    for rid in ("cam1", "cam2", "cam3"):  # waiting for review: alice is under review
        svc.record(rid, "alice", "running_red_light", confidence=0.5)
    assert svc.client.post("/v1/appeals", headers=svc.h("alice"),
                           json={"record": "c1", "statement": "paid"}).status_code == 201
    tokens_of = {"recorder": svc.tokens["recorder"], "gatekeeper": svc.tokens["flight"],
                 "subject": svc.tokens["alice"], "reviewer": svc.tokens["reviewer"],
                 "auditor": svc.tokens["auditor"],
                 "admin": create_token(engine, "admin")}
    for _ in range(3):  # tokens for the admin's DELETE to revoke
        create_token(engine, "auditor", label="spare")
    with engine.connect() as conn:
        spare_ids = iter(list(conn.execute(sa.select(tokens.c.id).where(
            tokens.c.label == "spare")).scalars()))
    n = count()

    def request(method: str, path: str) -> tuple[str, dict | None]:
        k = next(n)
        url = path.replace("{subject}", "alice").replace("{appeal_id}", "1").replace(
            "{audit_id}", "1")
        if path == "/v1/subjects/{subject}/guardian":
            return f"/v1/subjects/kid{k}/guardian", {"guardian": "alice"}
        if path == "/v1/records/{record_id}/review":
            return url.replace("{record_id}", "cam3"), {"confirmed": True}
        if "{token_id}" in path:
            return url.replace("{token_id}", str(next(spare_ids, 999))), None
        bodies = {
            "/v1/records": {"id": f"r{k}", "subject": "bob", "kind": "volunteering",
                            "occurred_at": "2026-06-01", "channel": "registry"},
            "/v1/records/batch": {"records": [{"id": f"b{k}", "subject": "bob",
                                               "kind": "volunteering",
                                               "occurred_at": "2026-06-01",
                                               "channel": "registry"}]},
            "/v1/checks": {"subject": "alice", "service": "flight"},
            "/v1/appeals": {"record": "cam3", "statement": "not me", "key": f"k{k}"},
            "/v1/appeals/{appeal_id}/decision": {"upheld": False, "note": "checked"},
            "/v1/tokens": {"role": "auditor", "label": "matrix"},
        }
        return url, bodies.get(path) if method != "GET" else None

    table = readme_table()
    operations = [(m.upper(), p) for p, ops in svc.app.openapi()["paths"].items() for m in ops]
    assert sorted(operations) == sorted(table), "the README's table names every route"
    refused = 0
    for method, path in operations:
        for column in COLUMNS:
            headers = {}
            if column == "bad token":
                headers = {"Authorization": "Bearer sc_nope_0000"}
            elif column != "no token":
                headers = {"Authorization": f"Bearer {tokens_of[column]}"}
            url, body = request(method, path)
            r = svc.client.request(method, url, headers=headers, json=body)
            cell = f"{method} {path} as {column}: {r.status_code} {r.text[:200]}"
            assert r.status_code < 500, cell
            if table[(method, path)][column]:
                assert r.status_code not in (401, 403), cell
            else:
                want = 401 if column in ("no token", "bad token") else 403
                assert r.status_code == want, cell
                refused += 1
    with engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(audit)
                              .where(audit.c.action == "refused")).scalar()
    assert logged == refused  # every refusal is in the audit log
