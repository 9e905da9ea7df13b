"""Bearer tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from socialcredit.errors import SocialCreditError
from socialcredit.service._db import tokens

ROLES = ("recorder", "gatekeeper", "subject", "reviewer", "auditor", "admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: sa.Engine, role: str, service: str | None = None,
                 subject: str | None = None) -> str:
    """Create a token for `role`; a gatekeeper is bound to one service, a subject to one
    subject id. Returns the token, which is not stored anywhere in clear."""
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
    token = f"sc_{role[:3]}_{secrets.token_urlsafe(24)}"
    with engine.begin() as conn:
        conn.execute(tokens.insert().values(
            token_hash=hash_token(token), role=role, service=service, subject_id=subject,
            created_at=datetime.now(UTC)))
    return token
