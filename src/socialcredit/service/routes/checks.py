"""Gatekeepers ask: allow or deny, the measure's name and its legal basis, nothing more.
A subject the service has never heard of is answered as one with no records."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from operator import itemgetter

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from socialcredit.service._audit import pack_codes
from socialcredit.service._audit_writer import AuditEntry
from socialcredit.service._auth import declared_purpose, has_role, identify
from socialcredit.service._context import Ctx
from socialcredit.service._decisions import results
from socialcredit.service._errors import Forbidden, invalid
from socialcredit.service._schemas import CHECKS_BODY, MANY_CHECKS, ONE_CHECK
from socialcredit.service._store import recompute

router = APIRouter(tags=["checks"])


GATEKEEPER = ("gatekeeper",)


def _decision_id() -> str:
    """A random UUID (version 4), as 32 hex digits: uuid4().hex without building a UUID
    object (a few microseconds per check)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    return b.hex()


@router.post("/v1/checks", openapi_extra=CHECKS_BODY)
async def post_checks(request: Request) -> Response:
    """Allow or deny: {subject, service, allowed, measure, legal_basis, policy_version,
    decision_id}. Never the score, grade, lists or records. A list of up to 10,000
    checks returns {decision_id, results: [...]}. Each check is in the audit log before
    it is answered."""
    # The purpose and the token as the other routes' dependencies take them, and in the
    # same order, but called directly: FastAPI's solving of those dependencies took as
    # long as the route's own work (py-spy under wrk: 24 % against 23 % of the event
    # loop's time). The headers are declared for the docs in CHECKS_BODY instead.
    ctx: Ctx = request.app.state.ctx
    headers = request.headers
    why = declared_purpose(ctx, headers.get("x-purpose"))
    who = has_role(identify(request, headers.get("authorization")), GATEKEEPER)
    raw = await request.body()
    many = raw.lstrip()[:1] == b"["
    try:
        body = (MANY_CHECKS if many else ONE_CHECK).validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None
    items = body if many else [body]
    if not items:
        raise invalid(["body"], "too_short", "a list of checks needs at least one check")
    services = list(map(itemgetter("service"), items))
    distinct_services = sorted(set(services))
    if why is not None and why not in (who.service, "enforcement"):
        raise invalid(["header", "x-purpose"], "wrong_purpose",
                      f"a {who.service} gatekeeper's purpose is {who.service!r}")
    for c in distinct_services:
        if c != who.service:
            raise Forbidden(f"this gatekeeper token is for {who.service!r}, not {c!r}")
        if c not in ctx.rules.services:
            raise invalid(["body", "service"], "unknown_service",
                          f"unknown service {c!r}; services of this policy are"
                          f" {ctx.rules.services}")
    asked = list(map(itemgetter("subject"), items))
    cache = ctx.cache
    keys, stale = cache.resolve(asked, ctx.clock().isoformat(), synced=True)  # by `require`
    if stale:  # states not stored, or no longer holding today: computed (and stored)
        seen = cache.last_seq
        owners = cache.owners(stale)  # now: other checks may sync the cache meanwhile
        fresh = await run_in_threadpool(recompute, ctx, sorted(set(owners.values())))
        cache.adopt(keys, asked, owners, fresh, seen)
    decided = cache.decide_all(keys, services)
    reason = why or distinct_services[0]
    at = ctx.audit_writer.stamp(datetime.now(UTC))
    decision_id = _decision_id()
    if not many:
        d = decided[0]
        await ctx.audit_writer.write(AuditEntry([(
            at, who.id, who.role, "check", body["subject"], d.detail, reason, decision_id,
            ctx.version)]))
        return Response(d.result(body["subject"], decision_id), media_type="application/json")
    # a batch: one audit row for the request with the distinct decisions and, for
    # each subject, the index of its decision among them; and one small row per
    # subject, so that its file lists the check
    order = list(map(id, decided))
    code = {i: k for k, i in enumerate(dict.fromkeys(order))}
    distinct = list(dict(zip(order, decided, strict=True)).values())  # as in `code`
    detail = json.dumps({"services": distinct_services, "checks": len(items),
                         "decisions": [{"service": d.service, **d.answer} for d in distinct]})
    committed = ctx.audit_writer.submit(AuditEntry(
        [(at, who.id, who.role, "check_batch", None, detail, reason, decision_id,
          ctx.version, pack_codes(map(code.__getitem__, order)))], asked))
    answer = results(asked, decided, decision_id)  # built while the audit rows are written
    await committed
    return Response(answer, media_type="application/json")
