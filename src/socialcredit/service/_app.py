"""The HTTP service: the same rules as the simulator, over a real database.

Authorities record, gatekeepers ask, subjects see their own file and appeal, the public
sees what the policy discloses, and every access is audited. Subject access, appeal
and audit have no switch: they are part of the service, not options of it.
"""


import gc
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Annotated, Any

import jinja2
import numpy as np
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Form, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from socialcredit import __version__
from socialcredit.policy import Policy
from socialcredit.policy._explain import explain
from socialcredit.service._audit import about, batch_subjects, entry, pack_codes
from socialcredit.service._checks import (
    AuditEntry,
    AuditWriter,
    StateCache,
    log_changes,
    results,
)
from socialcredit.service._db import (
    appeals,
    audit,
    driver_date,
    driver_sql,
    make_engine,
    records,
    subject_states,
    subjects,
    tokens,
)
from socialcredit.service._rules import Evaluation, RecordRows, Rules
from socialcredit.service._tokens import hash_token

MAX_BODY = 4 * 2**20
TOKEN_CACHE_SECONDS = 60.0
ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"


# ---------------------------------------------------------------------------- models
class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RecordIn(_In):
    id: str = Field(min_length=1, max_length=128, pattern=ID,
                    description="The client's key: sending the same id again is safe.")
    subject: str = Field(min_length=1, max_length=64, pattern=ID)
    kind: str = Field(min_length=1, max_length=64)
    occurred_at: date | datetime
    channel: str = Field(min_length=1, max_length=64)
    evidence: str | None = Field(None, max_length=10_000)
    confidence: float | None = Field(None, ge=0, le=1)
    subject_kind: str | None = Field(
        None, min_length=1, max_length=64,
        description="For a company: its kind (one of the policy's company kinds), kept from"
                    " its first record; disclosure rules and behaviours may depend on it.")

    @property
    def day(self) -> date:
        return self.occurred_at.date() if isinstance(self.occurred_at, datetime) else (
            self.occurred_at)


class RecordBatchIn(_In):
    records: list[RecordIn] = Field(min_length=1, max_length=10_000)


class GuardianIn(_In):
    guardian: str = Field(min_length=1, max_length=64, pattern=ID)


class CheckIn(TypedDict):
    """One check: may this subject use this service? (A typed dict, not a model: a batch
    of 10,000 validates in a few milliseconds.)"""

    __pydantic_config__ = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[misc]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID)]
    service: Annotated[str, StringConstraints(min_length=1, max_length=64)]


MAX_CHECKS = 10_000
ONE_CHECK = TypeAdapter(CheckIn)
MANY_CHECKS = TypeAdapter(Annotated[list[CheckIn], Field(max_length=MAX_CHECKS)])
_CHECK_SCHEMA = ONE_CHECK.json_schema()
CHECKS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [_CHECK_SCHEMA, {"type": "array", "items": _CHECK_SCHEMA,
                              "maxItems": MAX_CHECKS}]}}}}}


class AppealIn(_In):
    record: str = Field(min_length=1, max_length=128, pattern=ID)
    statement: str = Field(min_length=1, max_length=10_000)


class DecisionIn(_In):
    upheld: bool
    note: str = Field(min_length=1, max_length=10_000)


class ReviewIn(_In):
    confirmed: bool
    note: str = Field("", max_length=10_000)


# ---------------------------------------------------------------------------- actors
@dataclass(frozen=True)
class Actor:
    id: str
    role: str
    service: str | None = None
    subject: str | None = None


ANONYMOUS = Actor("anonymous", "public")


class _BodyLimit:
    """Refuse bodies over MAX_BODY with 413, before they are read into memory."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(send, self.limit)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"request body over {self.limit} bytes")
            return message

        return await self.app(scope, limited, send)


async def _too_large(send: Callable, limit: int) -> None:
    body = json.dumps({"detail": f"request body over {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------- the app
def create_app(policy: Policy, db_url: str, today: Callable[[], date] | None = None) -> FastAPI:
    """The service for `policy` over the database at `db_url` (already migrated).

    `today` gives the date the rules are evaluated at (default: the UTC date); a fixed
    one replays a simulated ledger."""
    rules = Rules(policy)
    engine = make_engine(db_url)
    clock = today or (lambda: datetime.now(UTC).date())
    app = FastAPI(title="socialcredit service", version=__version__,
                  description="The policy's rules over a real database, with subject access,"
                              " appeal and audit that cannot be switched off.",
                  openapi_url="/openapi.json")
    cache, audit_writer = StateCache(engine, rules), AuditWriter(engine)
    app.state.rules, app.state.engine = rules, engine
    app.state.cache, app.state.audit_writer = cache, audit_writer
    app.add_middleware(_BodyLimit, limit=MAX_BODY)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON: " + "; ".join(
                str(e.get("ctx", {}).get("error", e["msg"])) for e in errors)}, status_code=400)
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"],
                                         "type": e["type"]} for e in errors]},
                            status_code=422)

    # a token's role never changes; its lookup is cached briefly (a revocation, once
    # there is one, must clear this cache)
    known_tokens: dict[str, tuple[Actor, float]] = {}
    token_query = sa.select(tokens).where(tokens.c.token_hash == sa.bindparam("h"))

    def actor_of(authorization: str | None) -> Actor:
        if authorization is None:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "use 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        key = hash_token(token.strip())
        hit = known_tokens.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        with engine.connect() as conn:
            row = conn.execute(token_query, {"h": key}).first()
        if row is None:
            raise HTTPException(401, "unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        who = Actor(f"token:{row.id}", row.role, row.service, row.subject_id)
        if len(known_tokens) > 10_000:
            known_tokens.clear()
        known_tokens[key] = (who, time.monotonic() + TOKEN_CACHE_SECONDS)
        return who

    async def actor(authorization: Annotated[str | None, Header()] = None) -> Actor:
        return actor_of(authorization)  # on the event loop: no thread hop per request

    def require(*roles: str) -> Callable[[Actor], Any]:
        async def dep(who: Annotated[Actor, Depends(actor)]) -> Actor:
            if who is ANONYMOUS:
                raise HTTPException(401, f"this needs a token of role {' or '.join(roles)}",
                                    headers={"WWW-Authenticate": "Bearer"})
            if who.role not in (*roles, "admin"):
                raise HTTPException(403, f"a {who.role} token cannot do this; it needs"
                                         f" {' or '.join(roles)}")
            return who
        return dep

    def log(conn: sa.Connection, who: Actor, action: str, subject: str | None,
            detail: dict | None = None, reason: str | None = None) -> None:
        conn.execute(audit.insert().values(
            at=datetime.now(UTC), actor=who.id, role=who.role, action=action,
            subject_id=subject, detail=json.dumps(detail) if detail else None, reason=reason))

    def evaluate(conn: sa.Connection, subject: str, full_history: bool = False,
                 ) -> tuple[Any, Evaluation]:
        """One subject's row and evaluation, with the rule behind each listing.
        `full_history`: also the dates of records older than the horizon (a file)."""
        rows, evs = evaluate_all(conn, [subject], full_history)
        return rows[subject], evs[subject]

    def evaluate_many(conn: sa.Connection, ids: list[str]) -> dict[str, Evaluation]:
        """Evaluations of many subjects: one query for their records, one kernel call
        per subject type (the simulator's batch path)."""
        return evaluate_all(conn, ids)[1]

    def evaluate_all(conn: sa.Connection, ids: list[str], full_history: bool = False,
                     ) -> tuple[dict[str, Any], dict[str, Evaluation]]:
        """The subjects' rows and their evaluations (a child's: its guardian's measures
        that reach children)."""
        rows = {}
        for part in _chunks(sorted(set(ids)), 5000):
            rows.update({r.id: r for r in conn.execute(
                sa.select(subjects).where(subjects.c.id.in_(part)))})
        missing = sorted(set(ids) - set(rows))
        if missing:
            raise HTTPException(404, f"no subject {missing[0]!r}"
                                     + (f" (and {len(missing) - 1} more)" if len(missing) > 1
                                        else ""))
        guardian_ids = {r.guardian_id for r in rows.values() if r.guardian_id}
        for part in _chunks(sorted(guardian_ids - set(rows)), 5000):
            rows.update({r.id: r for r in conn.execute(
                sa.select(subjects).where(subjects.c.id.in_(part)))})
        now = clock()
        scored = [sid for sid, r in rows.items() if r.guardian_id is None]
        out: dict[str, Evaluation] = {}
        for stype in rules.plans:
            group = [sid for sid in scored if rows[sid].type == stype]
            if not group:
                continue
            since = None if full_history else now - timedelta(days=rules.horizon(stype))
            recs = _counting_rows(conn, group, since)
            segments = [rules.segment(stype, rows[sid].kind) for sid in group]
            for sid, ev in zip(group, rules.explain(stype, group, recs, now, segments,
                                                    full_history), strict=True):
                out[sid] = ev
        for sid, r in rows.items():
            if r.guardian_id is not None:
                g = out[r.guardian_id]
                out[sid] = Evaluation("child", None, None, measures=rules.measures(
                    "person", g.grade, [x["name"] for x in g.lists], child=True),
                    valid_until=g.valid_until)
        return rows, out

    def refresh(conn: sa.Connection, ids: list[str], changed: bool = True,
                ) -> dict[str, tuple]:
        """Recompute and store the states of the scored subjects among `ids` (in the
        caller's transaction, so a write and its state change land together), and
        return them as the check path's state keys. `changed`: their records changed,
        so every process must drop the states it holds (not so when a state is only
        recomputed because time moved on)."""
        now = clock()
        types: dict[str, tuple[str, str | None]] = {}
        for part in _chunks(sorted(set(ids)), 5000):
            types.update((sid, (t, k)) for sid, t, k in conn.execute(
                sa.select(subjects.c.id, subjects.c.type, subjects.c.kind).where(
                    subjects.c.id.in_(part), subjects.c.guardian_id.is_(None))).all())
        out, rows, since, today = {}, [], now.isoformat(), driver_date(conn, now)
        for stype in rules.plans:
            group = [sid for sid, (t, _) in types.items() if t == stype]
            recs = _counting_rows(conn, group, now - timedelta(days=rules.horizon(stype)))
            segments = [rules.segment(stype, types[sid][1]) for sid in group]
            for sid, score, grade, lists, until in zip(group, *rules.states(
                    stype, group, recs, now, segments), strict=True):
                rows.append((sid, score, grade, lists, today, driver_date(conn, until),
                             rules.version))
                out[sid] = (stype, score, grade, lists, since, until.isoformat())
        if not rows:
            return out
        driver_sql(conn, "INSERT INTO subject_states (subject_id, score, grade, lists,"
                          " computed_for, valid_until, policy_version) VALUES"
                          " (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_id) DO UPDATE SET"
                          " score = excluded.score, grade = excluded.grade,"
                          " lists = excluded.lists, computed_for = excluded.computed_for,"
                          " valid_until = excluded.valid_until,"
                          " policy_version = excluded.policy_version", rows)
        if changed:
            log_changes(conn, list(types))
        return out

    def own_or(who: Actor, subject: str) -> None:
        if who.role == "subject" and who.subject != subject:
            raise HTTPException(403, "a subject token sees only its own file")

    # -------------------------------------------------------------- records
    def validate_record(r: RecordIn, index: int | None = None) -> list[dict]:
        loc = ["body"] + (["records", index] if index is not None else [])
        errs = []
        if r.kind not in rules.kind_type:
            errs.append({"loc": [*loc, "kind"], "type": "unknown_kind",
                         "msg": f"unknown kind {r.kind!r}; kinds of this policy are"
                                f" {sorted(rules.kind_type)}"})
        elif r.channel != rules.kind_channel[r.kind]:
            errs.append({"loc": [*loc, "channel"], "type": "wrong_channel",
                         "msg": f"{r.kind} records come from channel"
                                f" {rules.kind_channel[r.kind]!r}, not {r.channel!r}"})
        if r.day > clock():
            errs.append({"loc": [*loc, "occurred_at"], "type": "future",
                         "msg": f"occurred_at {r.day} is in the future"})
        if r.subject_kind is not None:
            if rules.kind_type.get(r.kind) != "company":
                errs.append({"loc": [*loc, "subject_kind"], "type": "not_a_company",
                             "msg": "subject_kind is for records about companies"})
            elif r.subject_kind not in rules.company_kinds:
                errs.append({"loc": [*loc, "subject_kind"], "type": "unknown_company_kind",
                             "msg": f"unknown company kind {r.subject_kind!r}; kinds of this"
                                    f" policy are {rules.company_kinds}"})
        return errs

    def store(conn: sa.Connection, r: RecordIn, who: Actor,
              index: int | None = None) -> tuple[dict, bool]:
        """Store one record (or find it stored: the id is the client's key, and a retry
        with the same content is answered as the first time). `index`: its place in a
        batch, for the error's location."""
        loc = ["body"] + (["records", index] if index is not None else [])
        row = conn.execute(sa.select(records).where(records.c.id == r.id)).first()
        if row is not None:
            return _same_record(row, r), False
        stype = rules.kind_type[r.kind]
        now = datetime.now(UTC)
        ins = _insert(conn)
        default_kind = (rules.company_kinds[0] if stype == "company"
                        and len(rules.company_kinds) == 1 else None)
        conn.execute(ins(subjects).values(id=r.subject, type=stype, created_at=now,
                                          kind=r.subject_kind or default_kind)
                     .on_conflict_do_nothing())
        sub = conn.execute(sa.select(subjects.c.type, subjects.c.guardian_id, subjects.c.kind)
                           .where(subjects.c.id == r.subject)).one()
        if sub.type != stype or sub.guardian_id is not None:
            raise HTTPException(422, [{"loc": [*loc, "subject"], "type": "wrong_subject",
                                       "msg": f"{r.subject!r} is a {sub.type}"
                                              f"{' child' if sub.guardian_id else ''};"
                                              f" {r.kind} records are about {stype}s"}])
        kind = sub.kind
        if r.subject_kind is not None and r.subject_kind != sub.kind:
            if sub.kind is not None:
                raise HTTPException(422, [{"loc": [*loc, "subject_kind"],
                                           "type": "wrong_company_kind",
                                           "msg": f"{r.subject!r} is a {sub.kind}, not a"
                                                  f" {r.subject_kind}"}])
            held = conn.execute(sa.select(records.c.kind).distinct().where(
                records.c.subject_id == r.subject, records.c.status.in_(("active",
                                                                         "pending"))))
            wrong = sorted(k for (k,) in held if not rules.kind_allows(k, r.subject_kind))
            if wrong:
                raise HTTPException(422, [{"loc": [*loc, "subject_kind"],
                                           "type": "wrong_company_kind",
                                           "msg": f"{r.subject!r} has {', '.join(wrong)}"
                                                  f" records, which no {r.subject_kind} has"}])
            conn.execute(subjects.update().where(subjects.c.id == r.subject)
                         .values(kind=r.subject_kind))
            log_changes(conn, [r.subject])
            kind = r.subject_kind
        if not rules.kind_allows(r.kind, kind):
            raise HTTPException(422, [{"loc": [*loc, "kind"], "type": "wrong_company_kind",
                                       "msg": f"{r.kind} records are not about a {kind}"}])
        status = "pending" if rules.needs_review(r.kind, r.confidence) else "active"
        values = {"id": r.id, "subject_id": r.subject, "kind": r.kind, "channel": r.channel,
                  "occurred_on": r.day, "evidence": r.evidence, "confidence": r.confidence,
                  "status": status, "recorded_at": now, "recorded_by": who.id,
                  "policy_version": rules.version}
        created = conn.execute(ins(records).values(**values).on_conflict_do_nothing()
                               .returning(records.c.id)).first() is not None
        row = conn.execute(sa.select(records).where(records.c.id == r.id)).one()
        return (_record_out(row, rules) if created else _same_record(row, r)), created

    def _same_record(row: Any, r: RecordIn) -> dict:
        """A record sent again: the stored one if the content is the same, else 409."""
        if (row.subject_id, row.kind, row.channel, row.occurred_on, row.evidence,
                row.confidence) != (r.subject, r.kind, r.channel, r.day, r.evidence,
                                    r.confidence):
            raise HTTPException(409, f"record {r.id!r} exists with other content;"
                                     " record ids are the client's keys")
        return _record_out(row, rules)

    @app.post("/v1/records", status_code=201, tags=["records"])
    def post_record(body: RecordIn, request: Request,
                    who: Annotated[Actor, Depends(require("recorder"))]) -> JSONResponse:
        """Record one act against a subject (created on its first record). Safe to retry:
        the same id returns 200 and the stored record."""
        errs = validate_record(body)
        if errs:
            raise HTTPException(422, errs)
        with engine.begin() as conn:
            out, created = store(conn, body, who)
            if created:
                refresh(conn, [body.subject])
            log(conn, who, "record" if created else "record_retry", body.subject,
                {"record": body.id, "kind": body.kind}, request.headers.get("x-purpose"))
        return JSONResponse(out, status_code=201 if created else 200)

    @app.post("/v1/records/batch", tags=["records"])
    def post_records(body: RecordBatchIn, request: Request,
                     who: Annotated[Actor, Depends(require("recorder"))]) -> dict:
        """Bulk ingest: all records or none (422 names each bad record and field)."""
        errs = [e for i, r in enumerate(body.records) for e in validate_record(r, i)]
        if errs:
            raise HTTPException(422, errs)
        created = 0
        with engine.begin() as conn:
            for i, r in enumerate(body.records):
                created += store(conn, r, who, i)[1]
            refresh(conn, sorted({r.subject for r in body.records}))
            log(conn, who, "record_batch", None, {"records": len(body.records),
                                                  "created": created},
                request.headers.get("x-purpose"))
        return {"created": created, "existing": len(body.records) - created,
                "policy_version": rules.version}

    @app.put("/v1/subjects/{subject}/guardian", tags=["subjects"])
    def put_guardian(subject: str, body: GuardianIn,
                     who: Annotated[Actor, Depends(require("recorder"))]) -> dict:
        """Link a child to its guardian (the child is created if new)."""
        with engine.begin() as conn:
            g = conn.execute(sa.select(subjects).where(subjects.c.id == body.guardian)).first()
            if g is None or g.type != "person" or g.guardian_id is not None \
                    or body.guardian == subject:
                raise HTTPException(422, [{"loc": ["body", "guardian"], "type": "bad_guardian",
                                           "msg": f"{body.guardian!r} is not a known adult"
                                                  f" other than {subject!r}"}])
            child = conn.execute(sa.select(subjects.c.type).where(subjects.c.id == subject)
                                 ).first()
            if child is not None and child.type != "person":
                raise HTTPException(422, f"{subject!r} is a {child.type}: not a child")
            if conn.execute(sa.select(records.c.id).where(records.c.subject_id == subject)
                            .limit(1)).first():
                raise HTTPException(422, f"{subject!r} has records of its own: not a child")
            if conn.execute(sa.select(subjects.c.id).where(subjects.c.guardian_id == subject)
                            .limit(1)).first():
                raise HTTPException(422, f"{subject!r} is the guardian of a child: an adult")
            conn.execute(_insert(conn)(subjects).values(
                id=subject, type="person", guardian_id=body.guardian,
                created_at=datetime.now(UTC)).on_conflict_do_nothing())
            conn.execute(subjects.update().where(subjects.c.id == subject)
                         .values(guardian_id=body.guardian))
            log_changes(conn, [subject])
            log(conn, who, "guardian_link", subject, {"guardian": body.guardian})
        return {"subject": subject, "guardian": body.guardian}

    # -------------------------------------------------------------- subjects
    @app.get("/v1/subjects/{subject}", tags=["subjects"])
    def get_subject(subject: str, request: Request,
                    who: Annotated[Actor, Depends(require("subject", "reviewer",
                                                          "auditor"))]) -> dict:
        """Score, grade, lists, and the sanctions and privileges in force, each with the
        rule behind it."""
        own_or(who, subject)
        with engine.begin() as conn:
            row, ev = evaluate(conn, subject)
            log(conn, who, "view_subject", subject, None, request.headers.get("x-purpose"))
        return {"subject": subject, "type": "child" if row.guardian_id else row.type,
                "guardian": row.guardian_id, "as_of": clock().isoformat(),
                "score": ev.score, "grade": ev.grade, "lists": ev.lists,
                "measures": ev.measures,
                "holds_until": ev.valid_until.isoformat() if ev.valid_until else None,
                "policy_version": rules.version}

    @app.get("/v1/subjects/{subject}/file", tags=["subjects"])
    def get_file(subject: str, request: Request,
                 who: Annotated[Actor, Depends(require("subject", "reviewer",
                                                       "auditor"))]) -> dict:
        """Every record (points, channel, status, when it stops counting) and who has
        looked at this file and when."""
        own_or(who, subject)
        with engine.begin() as conn:
            row, ev = evaluate(conn, subject, full_history=True)
            recs = conn.execute(sa.select(records).where(records.c.subject_id == subject)
                                .order_by(records.c.occurred_on, records.c.id)).all()
            looked = about(subject, ("view_subject", "view_file", "check"))
            looks = [entry(a) for a in conn.execute(sa.select(looked).order_by(looked.c.id))]
            log(conn, who, "view_file", subject, None, request.headers.get("x-purpose"))
        return {"subject": subject, "as_of": clock().isoformat(),
                "records": [_record_out(r, rules, ev.records, clock()) for r in recs],
                "accesses": [{k: a[k] for k in ("at", "who", "role", "what", "why")}
                             for a in looks],
                "policy_version": rules.version}

    # -------------------------------------------------------------- checks
    def recompute(ids: list[str]) -> dict[str, tuple]:
        """States of scored subjects computed from their records, and stored."""
        with engine.begin() as conn:
            return refresh(conn, ids, changed=False)

    @app.post("/v1/checks", tags=["checks"], openapi_extra=CHECKS_BODY)
    async def post_checks(request: Request,
                          who: Annotated[Actor, Depends(require("gatekeeper"))]) -> Response:
        """Allow or deny: {subject, service, allowed, rule, legal_basis, policy_version}.
        Never the score or the records. A list of up to 10,000 checks returns
        {results: [...]}. Each check is in the audit log before it is answered."""
        raw = await request.body()
        many = raw.lstrip()[:1] == b"["
        try:
            body = (MANY_CHECKS if many else ONE_CHECK).validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                          for e in exc.errors(include_url=False)]) from None
        items = body if many else [body]
        services = list(map(itemgetter("service"), items))
        distinct_services = sorted(set(services))
        for c in distinct_services:
            if who.role == "gatekeeper" and c != who.service:
                raise HTTPException(403, f"this gatekeeper token is for {who.service!r},"
                                         f" not {c!r}")
            if c not in rules.services:
                raise HTTPException(422, [{"loc": ["body", "service"],
                                           "type": "unknown_service",
                                           "msg": f"unknown service {c!r}; services"
                                                  f" of this policy are {rules.services}"}])
        asked = list(map(itemgetter("subject"), items))
        keys, unknown, stale = cache.resolve(asked, clock().isoformat())
        if unknown:
            raise HTTPException(404, f"no subject {unknown[0]!r}" + (
                f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
        if stale:  # states not stored, or no longer holding today: computed (and stored)
            seen = cache.last_seq
            fresh = await run_in_threadpool(recompute, cache.scored(stale))
            cache.adopt(keys, asked, stale, fresh, seen)
        decided = cache.decide_all(keys, services)
        reason = request.headers.get("x-purpose")
        at = audit_writer.stamp(datetime.now(UTC))
        if not many:
            d = decided[0]
            await audit_writer.write(AuditEntry([(
                at, who.id, who.role, "check", body["subject"], d.detail,
                reason or f"gatekeeper check for {body['service']}")]))
            return Response(d.result(body["subject"]), media_type="application/json")
        # a batch: one audit row for the request with the distinct decisions and, for
        # each subject, the index of its decision among them; and one small row per
        # subject, so that its file lists the check
        order = list(map(id, decided))
        code = {i: k for k, i in enumerate(dict.fromkeys(order))}
        distinct = list(dict(zip(order, decided, strict=True)).values())  # as in `code`
        detail = json.dumps({"services": distinct_services, "checks": len(items),
                             "decisions": [{"service": d.service, **d.answer}
                                           for d in distinct]})
        committed = audit_writer.submit(AuditEntry(
            [(at, who.id, who.role, "check_batch", None, detail,
              reason or f"gatekeeper batch check for {', '.join(distinct_services)}",
              pack_codes(map(code.__getitem__, order)))], asked))
        answer = results(asked, decided)  # built while the audit rows are written
        await committed
        return Response(answer, media_type="application/json")

    # -------------------------------------------------------------- appeals and review
    @app.post("/v1/appeals", status_code=201, tags=["appeals"])
    def post_appeal(body: AppealIn, who: Annotated[Actor, Depends(require("subject"))]) -> dict:
        """A subject contests one of their own records."""
        with engine.begin() as conn:
            rec = conn.execute(sa.select(records).where(records.c.id == body.record)).first()
            if rec is None or (who.role == "subject" and rec.subject_id != who.subject):
                raise HTTPException(404, f"no record {body.record!r} in your file")
            if rec.status in ("voided", "rejected"):
                raise HTTPException(409, f"record {body.record!r} no longer counts")
            aid = conn.execute(appeals.insert().values(
                record_id=rec.id, subject_id=rec.subject_id, statement=body.statement,
                status="open", opened_at=datetime.now(UTC), policy_version=rules.version)
            ).inserted_primary_key[0]
            log(conn, who, "appeal", rec.subject_id, {"appeal": aid, "record": rec.id})
        return {"id": aid, "record": body.record, "status": "open",
                "policy_version": rules.version}

    @app.post("/v1/appeals/{appeal_id}/decision", tags=["appeals"])
    def decide(appeal_id: Annotated[int, Path(ge=1, le=2**62)], body: DecisionIn,
               who: Annotated[Actor, Depends(require("reviewer"))]) -> dict:
        """Uphold (the record is voided; score, lists and sanctions change in the same
        transaction) or reject an appeal."""
        with engine.begin() as conn:
            ap = conn.execute(sa.select(appeals).where(appeals.c.id == appeal_id)
                              .with_for_update()).first()
            if ap is None:
                raise HTTPException(404, f"no appeal {appeal_id}")
            if ap.status != "open":
                raise HTTPException(409, f"appeal {appeal_id} is already {ap.status}")
            conn.execute(appeals.update().where(appeals.c.id == appeal_id).values(
                status="upheld" if body.upheld else "rejected", decided_at=datetime.now(UTC),
                decided_by=who.id, note=body.note))
            if body.upheld:
                conn.execute(records.update().where(records.c.id == ap.record_id)
                             .values(status="voided"))
            if body.upheld:
                refresh(conn, [ap.subject_id])
            ev = evaluate_many(conn, [ap.subject_id])[ap.subject_id]
            log(conn, who, "appeal_decision", ap.subject_id,
                {"appeal": appeal_id, "upheld": body.upheld, "record": ap.record_id})
        return {"id": appeal_id, "status": "upheld" if body.upheld else "rejected",
                "record": ap.record_id, "score": ev.score, "lists": ev.lists,
                "policy_version": rules.version}

    @app.get("/v1/review/queue", tags=["appeals"])
    def queue(who: Annotated[Actor, Depends(require("reviewer"))]) -> dict:
        """Records waiting for human confirmation, and open appeals."""
        with engine.begin() as conn:
            pend = conn.execute(sa.select(records).where(records.c.status == "pending")
                                .order_by(records.c.recorded_at).limit(500)).all()
            open_ = conn.execute(sa.select(appeals).where(appeals.c.status == "open")
                                 .order_by(appeals.c.opened_at).limit(500)).all()
            log(conn, who, "view_queue", None)
        return {"pending_records": [_record_out(r, rules) for r in pend],
                "open_appeals": [{"id": a.id, "record": a.record_id, "subject": a.subject_id,
                                  "statement": a.statement,
                                  "opened_at": a.opened_at.isoformat()} for a in open_]}

    @app.post("/v1/records/{record_id}/review", tags=["appeals"])
    def review(record_id: str, body: ReviewIn,
               who: Annotated[Actor, Depends(require("reviewer"))]) -> dict:
        """Confirm (it counts from now on) or reject a record that waits for review."""
        with engine.begin() as conn:
            rec = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
            if rec is None:
                raise HTTPException(404, f"no record {record_id!r}")
            if rec.status != "pending":
                raise HTTPException(409, f"record {record_id!r} is {rec.status}, not pending")
            status = "active" if body.confirmed else "rejected"
            conn.execute(records.update().where(records.c.id == record_id)
                         .values(status=status))
            refresh(conn, [rec.subject_id])
            log(conn, who, "review", rec.subject_id, {"record": record_id, "status": status},
                body.note or None)
        return {"record": record_id, "status": status}

    # -------------------------------------------------------------- public and audit
    @app.get("/v1/public/list", tags=["public"])
    def public_list(q: Annotated[str, Query(max_length=64)] = "",
                    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                    per_page: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
        """What the policy discloses, and nothing else: the subjects its disclosure rules
        publish (e.g. persons on a list, companies of some kinds in some grades), each
        with the fields those rules name. Searchable by id where the id is published;
        paginated."""
        today = clock()
        hits = published(today, q)
        start = (page - 1) * per_page
        return {"total": len(hits), "page": page, "per_page": per_page,
                "items": public_entries(hits[start:start + per_page], today),
                "policy_version": rules.version}

    def ensure_states(today: date) -> None:
        """Every scored subject has a stored state that holds today (computed if not)."""
        with engine.connect() as conn:
            stale = [r[0] for r in conn.execute(
                sa.select(subjects.c.id)
                .select_from(subjects.outerjoin(subject_states,
                                                subject_states.c.subject_id == subjects.c.id))
                .where(subjects.c.guardian_id.is_(None), subjects.c.type.in_(list(rules.plans)),
                       sa.or_(subject_states.c.subject_id.is_(None),
                              subject_states.c.valid_until < today,
                              subject_states.c.policy_version != rules.version)))]
        for part in _chunks(stale, 20_000):
            with engine.begin() as conn:
                refresh(conn, part, changed=False)

    def published(today: date, q: str) -> list[tuple]:
        """The public list's entries as (id, type, kind, score, grade, lists, rules): a
        subject's entry under the rules that publish its name, in type and id order,
        then its entry under the rules that do not (anonymous: it shows no id, is never
        found by `q`, and sorts by what it shows, so its place reveals no id either)."""
        ensure_states(today)
        memo: dict[tuple, list] = {}
        named, anonymous = [], []
        with engine.connect() as conn:
            for sid, stype, kind, score, grade, lists in conn.execute(
                    sa.select(subjects.c.id, subjects.c.type, subjects.c.kind,
                              subject_states.c.score, subject_states.c.grade,
                              subject_states.c.lists)
                    .join(subject_states, subject_states.c.subject_id == subjects.c.id)
                    .where(subjects.c.guardian_id.is_(None),
                           subjects.c.type.in_(list(rules.plans)))
                    .order_by(subjects.c.type.desc(), subjects.c.id)):
                key = (stype, kind, grade, lists)
                matched = memo.get(key)
                if matched is None:
                    matched = memo[key] = rules.disclosure(stype, rules.segment(stype, kind),
                                                           grade, lists)
                by_name = [d for d in matched if "name" in d.fields]
                if by_name and (not q or q in sid):
                    named.append((sid, stype, kind, score, grade, lists, by_name))
                rest = [d for d in matched if "name" not in d.fields]
                if rest and not q:
                    anonymous.append((sid, stype, kind, score, grade, lists, rest))
        anonymous.sort(key=lambda h: (h[1] != "person", _shown(h),
                                      hashlib.blake2b(h[0].encode()).digest()))
        return named + anonymous

    def public_entries(hits: list[tuple], today: date) -> list[dict]:
        """The published fields of these entries (records are read only for the fields
        that need them: evidence, listing ends, record dates)."""
        need = {"evidence", "listed_until", "record_date"}
        evs: dict[str, Evaluation] = {}
        evidence: dict[str, str | None] = {}
        with engine.connect() as conn:
            for stype in rules.plans:
                group = {h[0]: h for h in hits if h[1] == stype and any(
                    need & set(d.fields) for d in h[6])}
                if not group:
                    continue
                ids = list(group)
                recs = _counting_rows(conn, ids, today - timedelta(days=rules.horizon(stype)))
                for part in _chunks(recs.id, 5000):
                    evidence.update(conn.execute(sa.select(records.c.id, records.c.evidence)
                                                 .where(records.c.id.in_(part))).all())
                segments = [rules.segment(stype, group[i][2]) for i in ids]
                evs.update(zip(ids, rules.explain(stype, ids, recs, today, segments),
                               strict=True))
        out = []
        for sid, stype, _, score, grade, lists, matched in hits:
            entry: dict[str, Any] = {"type": stype}
            ev = evs.get(sid)
            until = {x["name"]: x["until"] for x in ev.lists} if ev else {}
            on = [x for x in lists.split(",") if x]
            for d in matched:
                fields = set(d.fields)
                if "name" in fields:
                    entry["subject"] = sid
                if "reason" in fields:
                    entry.setdefault("why", []).append(d.rule)
                if "score" in fields:
                    entry["score"] = score
                if "grade" in fields:
                    entry["grade"] = grade
                mine = [x for x in d.lists if x in on]
                if "lists" in fields:
                    entry.setdefault("lists", []).extend(mine)
                if "listed_until" in fields and ev is not None:
                    entry.setdefault("listed_until", {}).update({x: until.get(x) for x in mine})
                if "evidence" in fields and ev is not None:
                    entry.setdefault("evidence", []).extend(
                        evidence[rid] for rid, dates in ev.records.items()
                        if dates["list"] in mine and dates["lists_until"] is not None
                        and dates["lists_until"] >= today and evidence.get(rid))
                if "record_date" in fields and ev is not None:
                    counting = [dates["occurred"] for dates in ev.records.values()
                                if dates["counts_until"] >= today and dates["wiped"] is None]
                    entry["record_date"] = max(counting).isoformat() if counting else None
            out.append(entry)
        return out

    @app.get("/v1/public/policy", tags=["public"])
    def public_policy() -> dict:
        """The policy in force, as data and in plain words."""
        return {"policy_version": rules.version, "explained": explain(policy),
                "policy": policy.model_dump(mode="json")}

    @app.get("/v1/audit", tags=["audit"])
    def get_audit(who: Annotated[Actor, Depends(require("auditor"))],
                  subject: str | None = None,
                  action: str | None = None,
                  page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                  per_page: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        """Every access: who, whom, what, when and why. A batch check is one entry
        (what: check_batch; its subjects at /v1/audit/{id}/subjects); filtered by
        subject, it reads as that subject's check."""
        with engine.begin() as conn:
            rows = about(subject or None)
            sel = sa.select(rows).order_by(rows.c.id.desc())
            if action:
                sel = sel.where(rows.c.action == action)
            items = [entry(r) for r in
                     conn.execute(sel.offset((page - 1) * per_page).limit(per_page))]
            log(conn, who, "view_audit", subject)
        return {"page": page, "items": items}

    @app.get("/v1/audit/{audit_id}/subjects", tags=["audit"])
    def get_batch_subjects(audit_id: Annotated[int, Path(ge=1, le=2**62)],
                           who: Annotated[Actor, Depends(require("auditor"))],
                           page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                           per_page: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict:
        """Whom a batch check asked about, with each decision."""
        with engine.begin() as conn:
            items = batch_subjects(conn, audit_id, (page - 1) * per_page, per_page)
            if items is None:
                raise HTTPException(404, f"no batch check {audit_id} in the audit log")
            log(conn, who, "view_audit", None, {"batch": audit_id})
        return {"batch": audit_id, "page": page, "items": items}

    @app.get("/v1/health", tags=["public"])
    def health() -> dict:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok", "policy_version": rules.version,
                "database": engine.dialect.name}

    # -------------------------------------------------------------- pages
    def page_actor(request: Request) -> Actor | None:
        token = request.cookies.get("sc_token")
        if not token:
            return None
        try:
            return actor_of(f"Bearer {token}")
        except HTTPException:
            return None

    def page(name: str, request: Request, who: Actor | None, status: int = 200,
             **ctx: Any) -> HTMLResponse:
        html = _PAGES.get_template(name).render(
            who=who, policy_version=rules.version, flash=request.query_params.get("flash"),
            error=ctx.pop("error", None), title=ctx.pop("title", name.split(".")[0]), **ctx)
        return HTMLResponse(html, status_code=status)

    def page_guard(request: Request, *roles: str) -> Actor:
        who = page_actor(request)
        if who is None or who.role not in (*roles, "admin"):
            raise _LoginNeeded
        return who

    @app.exception_handler(_LoginNeeded)
    async def _to_login(_request: Request, _exc: Exception) -> RedirectResponse:
        return RedirectResponse("/login?flash=Please+log+in+with+a+suitable+token", 303)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/public", 303)

    @app.get("/public", include_in_schema=False, response_class=HTMLResponse)
    def public_page(request: Request, q: str = "",
                    page_no: int = Query(1, alias="page", ge=1, le=1_000_000)):
        data = public_list(q=q[:64], page=max(page_no, 1), per_page=50)
        pages = max(1, -(-data["total"] // 50))
        return page("public.html.j2", request, page_actor(request), title="Public list",
                    q=q, page=data["page"], pages=pages, total=data["total"],
                    items=data["items"])

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request):
        return page("login.html.j2", request, page_actor(request), title="Log in")

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form(max_length=200)]):
        try:
            who = actor_of(f"Bearer {token.strip()}")
        except HTTPException:
            return page("login.html.j2", request, None, 401, title="Log in",
                        error="Unknown token.")
        target = {"subject": "/me", "reviewer": "/review", "auditor": "/audit-log",
                  "admin": "/review"}.get(who.role, "/public")
        resp = RedirectResponse(target, 303)
        resp.set_cookie("sc_token", token.strip(), httponly=True, samesite="strict")
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout() -> RedirectResponse:
        resp = RedirectResponse("/public?flash=Logged+out", 303)
        resp.delete_cookie("sc_token")
        return resp

    @app.get("/me", include_in_schema=False, response_class=HTMLResponse)
    def me_page(request: Request):
        who = page_guard(request, "subject")
        try:
            state = get_subject(who.subject, request, who)
            file = get_file(who.subject, request, who)
        except HTTPException as exc:
            return page("public.html.j2", request, who, exc.status_code, title="My file",
                        error="There is no file about you yet.", q="", page=1, pages=1,
                        total=0, items=[])
        return page("me.html.j2", request, who, title="My file", state=state, file=file)

    @app.post("/me/appeal", include_in_schema=False)
    def me_appeal(request: Request, record: Annotated[str, Form(max_length=128)],
                  statement: Annotated[str, Form(max_length=10_000)]):
        who = page_guard(request, "subject")
        try:
            out = post_appeal(AppealIn(record=record, statement=statement), who)
        except (HTTPException, ValueError) as exc:
            return RedirectResponse(f"/me?flash=Appeal+not+opened:+{_q(str(exc))}", 303)
        return RedirectResponse(f"/me?flash=Appeal+{out['id']}+opened+on+{_q(record)}", 303)

    @app.get("/review", include_in_schema=False, response_class=HTMLResponse)
    def review_page(request: Request):
        who = page_guard(request, "reviewer")
        return page("review.html.j2", request, who, title="Review queue", queue=queue(who))

    @app.post("/review/appeals/{appeal_id}", include_in_schema=False)
    def review_appeal(request: Request, appeal_id: Annotated[int, Path(ge=1, le=2**62)],
                      upheld: Annotated[str, Form(pattern="^(true|false)$")],
                      note: Annotated[str, Form(max_length=10_000)]):
        who = page_guard(request, "reviewer")
        try:
            out = decide(appeal_id, DecisionIn(upheld=upheld == "true", note=note), who)
        except (HTTPException, ValueError) as exc:
            return RedirectResponse(f"/review?flash=Not+decided:+{_q(str(exc))}", 303)
        return RedirectResponse(f"/review?flash=Appeal+{appeal_id}+{out['status']}", 303)

    @app.post("/review/records/{record_id}", include_in_schema=False)
    def review_record(request: Request, record_id: str,
                      confirmed: Annotated[str, Form(pattern="^(true|false)$")]):
        who = page_guard(request, "reviewer")
        try:
            out = review(record_id, ReviewIn(confirmed=confirmed == "true"), who)
        except (HTTPException, ValueError) as exc:
            return RedirectResponse(f"/review?flash=Not+reviewed:+{_q(str(exc))}", 303)
        return RedirectResponse(f"/review?flash=Record+{_q(record_id)}+{out['status']}", 303)

    @app.get("/audit-log", include_in_schema=False, response_class=HTMLResponse)
    def audit_page(request: Request, subject: str = ""):
        who = page_guard(request, "auditor")
        data = get_audit(who, subject=subject[:64] or None, action=None, page=1, per_page=500)
        return page("audit.html.j2", request, who, title="Audit log", items=data["items"],
                    subject=subject)

    return app


class _LoginNeeded(Exception):
    """A page needs a token of another role: send the reader to the login page."""


_PAGES = jinja2.Environment(loader=jinja2.PackageLoader("socialcredit.service", "templates"),
                            autoescape=True, undefined=jinja2.StrictUndefined)


def _q(text: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(text[:200])


def app_from_env() -> FastAPI:
    """The app `socialcredit serve` runs, configured by SOCIALCREDIT_POLICY (a policy
    file), SOCIALCREDIT_DB and SOCIALCREDIT_TODAY (optional YYYY-MM-DD)."""
    import os

    from socialcredit.policy import load_policy

    policy = load_policy(os.environ["SOCIALCREDIT_POLICY"])
    fixed = os.environ.get("SOCIALCREDIT_TODAY")
    day = date.fromisoformat(fixed) if fixed else None
    app = create_app(policy, os.environ["SOCIALCREDIT_DB"], (lambda: day) if day else None)
    app.state.rules.warm_up(day or date.today())
    # What exists now (modules, the app, compiled kernels) lives as long as the process:
    # out of the collector's way. A full collection over it takes 60-110 ms here, and
    # would stall every request in flight (the p99 of single checks).
    gc.collect()
    gc.freeze()
    return app


def _shown(hit: tuple) -> tuple:
    """What an anonymous public-list entry shows of its state, as a sort key."""
    sid, stype, kind, score, grade, lists, matched = hit
    fields = {f for d in matched for f in d.fields}
    return (score if "score" in fields else 0, grade if "grade" in fields else "",
            lists if "lists" in fields else "")


def _counting_rows(conn: sa.Connection, ids: list[str], since: date | None) -> RecordRows:
    """The active records of these subjects (since a date, if given), as arrays (plain
    DBAPI rows: there are many per subject)."""
    index = {sid: i for i, sid in enumerate(ids)}
    subject, kinds, days, rids = [], [], [], []
    for part in _chunks(ids, 5000):
        sql = ("SELECT subject_id, id, kind, occurred_on FROM records WHERE status = 'active'"
               f" AND subject_id IN ({','.join('?' * len(part))})")
        params: tuple = tuple(part)
        if since is not None:
            sql += " AND occurred_on >= ?"
            params += (driver_date(conn, since),)
        for sid, rid, kind, on in driver_sql(conn, sql, params):
            subject.append(index[sid])
            rids.append(rid)
            kinds.append(kind)
            days.append(on)
    return RecordRows(np.asarray(subject, np.int64), kinds, np.array(days, "datetime64[D]"),
                      rids)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _insert(conn: sa.Connection) -> Callable:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _record_out(row: Any, rules: Rules, dates: dict | None = None,
                today: date | None = None) -> dict[str, Any]:
    """A record as the API shows it; with `dates` (from the subject's replay), when it
    counts and lists until, and whether it has expired or been wiped by a ban by `today`."""
    points = rules.kind_points.get(row.kind, 0)
    status = row.status
    d = (dates or {}).get(row.id) if row.status == "active" else None
    counts_until = lists_until = wiped = None
    if d is not None:
        counts_until, lists_until, wiped = d["counts_until"], d["lists_until"], d["wiped"]
        if wiped is not None and counts_until < row.occurred_on:
            counts_until = None  # the ban it helped to start wiped it on its own day
        if today is not None and wiped is not None and wiped <= today:
            status = "wiped"
        elif today is not None and counts_until < today and (
                lists_until is None or lists_until < today):
            status = "expired"
    return {"id": row.id, "subject": row.subject_id, "kind": row.kind, "channel": row.channel,
            "occurred_at": row.occurred_on.isoformat(), "points": points, "status": status,
            "counts_until": counts_until.isoformat() if counts_until else None,
            "lists_until": lists_until.isoformat() if lists_until else None,
            "wiped_on": wiped.isoformat() if wiped else None,
            "confidence": row.confidence, "evidence": row.evidence,
            "recorded_at": row.recorded_at.isoformat(), "policy_version": row.policy_version}
