"""Admins manage tokens: list, create, revoke. Admin tokens do nothing else."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from socialcredit.errors import SocialCreditError
from socialcredit.service._auth import Actor, CtxDep, require
from socialcredit.service._errors import Invalid, NotFound
from socialcredit.service._schemas import Name, RowId, SubjectId, strict_time
from socialcredit.service._tokens import ROLES, create_token, list_tokens, revoke_token

router = APIRouter(tags=["tokens"])
Admin = Annotated[Actor, Depends(require("admin"))]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Annotated[str, Field(pattern="^(" + "|".join(ROLES) + ")$")]
    service: Name | None = None
    subject: SubjectId | None = None
    label: Annotated[str, Field(max_length=128, pattern=r"^[^\x00-\x1f]*$")] | None = None
    expires_at: Annotated[datetime, BeforeValidator(strict_time)] | None = None


@router.get("/v1/tokens")
def get_tokens(ctx: CtxDep, who: Admin) -> dict:
    """Every token, never its secret."""
    return {"items": list_tokens(ctx.engine)}


@router.post("/v1/tokens", status_code=201)
def post_token(body: TokenIn, ctx: CtxDep, who: Admin) -> dict:
    """Create a token; the answer holds it once."""
    try:
        token = create_token(ctx.engine, body.role, body.service, body.subject, body.label,
                             body.expires_at, ctx.rules.services, by=who.id,
                             policy_version=ctx.version)
    except SocialCreditError as exc:
        raise Invalid(str(exc)) from None
    return {"token": token, "role": body.role}


@router.delete("/v1/tokens/{token_id}")
def delete_token(token_id: RowId, ctx: CtxDep, who: Admin) -> dict:
    """Revoke a token: it fails at once, in every process."""
    if not revoke_token(ctx.engine, token_id, by=who.id, policy_version=ctx.version):
        raise NotFound(f"no live token {token_id}")
    return {"revoked": token_id}


