"""Who is asking: bearer tokens (hashed, expiring, revocable at once), roles with the
least each needs, refusals audited, and the declared purpose of an access.

A revocation appends to the change log (`_changes.TOKENS`); every request reads the log
before it trusts a token it holds in memory, so a revoked token fails at once in every
process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request

from socialcredit.service._audit_writer import AuditEntry
from socialcredit.service._context import Ctx, get_ctx
from socialcredit.service._db import tokens
from socialcredit.service._errors import Forbidden, Invalid, Unauthorized
from socialcredit.service._schemas import MAX_PURPOSE
from socialcredit.service._tokens import hash_token

# purposes any role may declare besides the policy's services
PURPOSES = ("enforcement", "review", "appeal", "audit", "subject_access", "research",
            "maintenance")


@dataclass(frozen=True)
class Actor:
    id: str  # token:<id>, or anonymous
    role: str
    service: str | None = None
    subject: str | None = None
    label: str | None = None
    expires_at: datetime | None = None


ANONYMOUS = Actor("anonymous", "public")
_QUERY = sa.select(tokens).where(tokens.c.token_hash == sa.bindparam("h"))


def actor_of(ctx: Ctx, authorization: str | None) -> Actor:
    """The actor behind an Authorization header (none: anonymous); 401 for a malformed
    header or an unknown, expired or revoked token. Reads the change log first (once
    per request: `ctx.cache.synced` then holds until the check path's own read)."""
    if authorization is None:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    ctx.cache.sync()  # a revocation logged since the last request drops ctx.tokens
    key = hash_token(token)
    who = ctx.tokens.get(key)
    if who is None:
        with ctx.engine.connect() as conn:
            row = conn.execute(_QUERY, {"h": key}).first()
        if row is None or row.revoked_at is not None:
            raise Unauthorized("unknown or revoked token")
        expires = row.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        who = Actor(f"token:{row.id}", row.role, row.service, row.subject_id, row.label,
                    expires)
        if len(ctx.tokens) > 10_000:
            ctx.tokens.clear()
        ctx.tokens[key] = who
    if who.expires_at is not None and who.expires_at <= datetime.now(UTC):
        raise Unauthorized("this token has expired")
    return who


INVALID = Actor("invalid-token", "unknown")  # who a refusal names before a token holds


def identify(request: Request, authorization: str | None) -> Actor:
    """The actor behind `authorization`, kept on the request for the audit of a refusal
    (see `audit_refusal`)."""
    state = request.state
    state.actor = INVALID
    who = actor_of(request.app.state.ctx, authorization)
    state.actor = who
    return who


def has_role(who: Actor, roles: tuple[str, ...]) -> Actor:
    """`who`, if its role is one of `roles` (else 401/403, audited as every refusal
    is)."""
    if who is ANONYMOUS:
        raise Unauthorized(f"this needs a token of role {' or '.join(roles)}")
    if who.role not in roles:
        raise Forbidden(f"{_a(who.role)} token cannot do this; it needs"
                        f" {' or '.join(roles)}")
    return who


async def actor(request: Request,
                authorization: Annotated[str | None, Header()] = None) -> Actor:
    """The request's actor (on the event loop: no thread hop per request)."""
    return identify(request, authorization)


def require(*roles: str) -> Any:
    """A dependency: the actor, if its role is one of `roles` (see `has_role`)."""

    async def dep(who: Annotated[Actor, Depends(actor)]) -> Actor:
        return has_role(who, roles)

    return dep


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


async def audit_refusal(request: Request, status: int, why: str) -> None:
    """A refused request (401, 403, wherever it was refused: a role, another subject's
    file, a subject not under review, another service) in the audit log, with the
    actor, the subject it named, if any, and the gatekeeper's service."""
    ctx = request.app.state.ctx
    who = getattr(request.state, "actor", ANONYMOUS)
    subject = request.path_params.get("subject")
    if subject is not None and (len(subject) > 64 or "\x00" in subject):
        subject = None  # not a subject id: the path says what was asked
    detail = {"method": request.method, "path": request.url.path[:200], "status": status}
    if who.service:
        detail["service"] = who.service
    at = ctx.audit_writer.stamp(datetime.now(UTC))
    await ctx.audit_writer.write(AuditEntry([(at, who.id, who.role, "refused", subject,
                                              json.dumps(detail), why[:500], None,
                                              ctx.version)]))


def declared_purpose(ctx: Ctx, x_purpose: str | None) -> str | None:
    """The declared purpose of an access (X-Purpose): one of the policy's services or
    of the service's own purposes, at most 64 characters."""
    if x_purpose is None:
        return None
    value = x_purpose.strip()
    allowed = (*ctx.rules.services, *PURPOSES)
    if len(value) > MAX_PURPOSE or value not in allowed:
        raise Invalid([{"loc": ["header", "x-purpose"], "type": "unknown_purpose",
                        "msg": f"X-Purpose must be one of {', '.join(allowed)}"}])
    return value


async def purpose(request: Request,
                  x_purpose: Annotated[str | None, Header()] = None) -> str | None:
    """The declared purpose as a dependency (see `declared_purpose`)."""
    return declared_purpose(request.app.state.ctx, x_purpose)


CtxDep = Annotated[Ctx, Depends(get_ctx)]
Purpose = Annotated[str | None, Depends(purpose)]
