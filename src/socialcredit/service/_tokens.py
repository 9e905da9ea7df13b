"""Bearer tokens: random, shown once, stored only as a SHA-256 hash; each with its role,
an owner's label, an optional expiry, and a revocation that takes effect at once (it is
noted in the change log, which every service process reads before trusting a token).
Creating and revoking a token are audited."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from socialcredit.errors import SocialCreditError
from socialcredit.service._db import audit, tokens
from socialcredit.service._schemas import ID

ROLES = ("recorder", "gatekeeper", "subject", "reviewer", "auditor", "admin")
_ID = re.compile(ID)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(conn: sa.Connection, by: str, action: str, detail: dict,
           policy_version: str | None) -> None:
    conn.execute(audit.insert().values(
        at=datetime.now(UTC), actor=by, role="admin", action=action, subject_id=None,
        detail=json.dumps(detail), reason="maintenance", policy_version=policy_version))


def create_token(engine: sa.Engine, role: str, service: str | None = None,
                 subject: str | None = None, label: str | None = None,
                 expires_at: datetime | None = None, services: list[str] | None = None,
                 by: str = "cli", policy_version: str | None = None) -> str:
    """Create a token for `role`; a gatekeeper is bound to one service (one of
    `services`, the policy's, when given), a subject to one subject id. Returns the
    token, which is not stored anywhere in clear. The audit row carries
    `policy_version` (the policy served), when given."""
    if role not in ROLES:
        raise SocialCreditError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role == "gatekeeper" and not service:
        raise SocialCreditError("a gatekeeper token needs --service (e.g. flight)")
    if role == "subject" and not subject:
        raise SocialCreditError("a subject token needs --subject ID")
    if service and role != "gatekeeper":
        raise SocialCreditError("--service applies to gatekeeper tokens only")
    if subject and role != "subject":
        raise SocialCreditError("--subject applies to subject tokens only")
    if service and services is not None and service not in services:
        raise SocialCreditError(f"unknown service {service!r}; services of this policy are"
                                f" {', '.join(services)}")
    if subject is not None and (len(subject) > 64 or not _ID.match(subject)):
        raise SocialCreditError(f"--subject {subject[:80]!r} is not a subject id (1-64 of"
                                " letters, digits and . _ : -, starting with a letter or"
                                " digit)")
    if label is not None and (len(label) > 128 or any(ord(c) < 32 for c in label)):
        raise SocialCreditError("--label must be at most 128 printable characters")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        expires_at = expires_at.astimezone(UTC)  # SQLite keeps no offset: stored as UTC
        if expires_at <= datetime.now(UTC):
            raise SocialCreditError(f"the expiry {expires_at.isoformat()} is in the past")
    token = f"sc_{role[:3]}_{secrets.token_urlsafe(24)}"
    with engine.begin() as conn:
        tid = conn.execute(tokens.insert().values(
            token_hash=hash_token(token), role=role, service=service, subject_id=subject,
            created_at=datetime.now(UTC), label=label, expires_at=expires_at)
        ).inserted_primary_key[0]
        _audit(conn, by, "token_create", {"token": tid, "role": role, "service": service,
                                          "subject": subject, "label": label},
               policy_version)
    return token


def list_tokens(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every token (never its secret): id, role, service, subject, label, dates."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tokens).order_by(tokens.c.id)).all()
    return [{"id": r.id, "role": r.role, "service": r.service, "subject": r.subject_id,
             "label": r.label, "created_at": _iso(r.created_at),
             "expires_at": _iso(r.expires_at), "revoked_at": _iso(r.revoked_at)}
            for r in rows]


def revoke_token(engine: sa.Engine, token_id: int, by: str = "cli",
                 policy_version: str | None = None) -> bool:
    """Revoke a token now, in every process; False if there is no such live token. The
    audit row carries `policy_version` (the policy served), when given."""
    from socialcredit.service._changes import TOKENS, log_changes

    with engine.begin() as conn:
        done = conn.execute(tokens.update().where(tokens.c.id == token_id,
                                                  tokens.c.revoked_at.is_(None))
                            .values(revoked_at=datetime.now(UTC))).rowcount
        if not done:
            return False
        _audit(conn, by, "token_revoke", {"token": token_id}, policy_version)
        log_changes(conn, [TOKENS])
    return True


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
