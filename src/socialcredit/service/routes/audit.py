"""Auditors read the audit log (and only the audit log), sealed into a hash chain."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query

from socialcredit.service._audit import about, batch_subjects, entry, head, seal, verify
from socialcredit.service._auth import Actor, CtxDep, Purpose, require
from socialcredit.service._errors import NotFound
from socialcredit.service._schemas import ACTION, ID, PageNo, RowId
from socialcredit.service._store import log

router = APIRouter(tags=["audit"])
Auditor = Annotated[Actor, Depends(require("auditor"))]


@router.get("/v1/audit")
def get_audit(ctx: CtxDep, why: Purpose, who: Auditor,
              subject: Annotated[str | None, Query(max_length=64, pattern=ID)] = None,
              action: Annotated[str | None, Query(pattern=ACTION)] = None,
              page: PageNo = 1,
              per_page: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    """Every access: who, whom, what, when, why, the decision id and the policy version,
    newest first. A batch check is one entry (what: check_batch; its subjects at
    /v1/audit/{id}/subjects); filtered by subject, it reads as that subject's check."""
    with ctx.engine.begin() as conn:
        seal(conn)
    with ctx.engine.begin() as conn:
        # about a subject, a batch check reads as its check: action=check finds its
        # checks, single or in a batch (action=check_batch, the batches only)
        checks = bool(subject) and action == "check"
        rows = about(subject or None, ("check",) if checks else None)
        sel = sa.select(rows).order_by(rows.c.id.desc())
        if action and not checks:
            sel = sel.where(rows.c.action == action)
        items = [entry(r) for r in conn.execute(sel.offset((page - 1) * per_page)
                                                .limit(per_page))]
        log(conn, ctx, who, "view_audit", subject, None, why)
    return {"page": page, "items": items}


@router.get("/v1/audit/verify")
def verify_chain(ctx: CtxDep, who: Auditor) -> dict:
    """Seal what is unsealed, then walk the hash chain: how many rows verify, and the
    first problem (a row changed, removed or reordered after it was sealed), if any."""
    with ctx.engine.begin() as conn:
        seal(conn)
    with ctx.engine.begin() as conn:
        count, problem = verify(conn)
        top = head(conn)
        log(conn, ctx, who, "verify_audit", None, {"verified": count, "problem": problem,
                                                   "head": top})
    return {"verified": count, "problem": problem, "head": top}


@router.get("/v1/audit/{audit_id}/subjects")
def get_batch_subjects(audit_id: RowId, ctx: CtxDep, who: Auditor, page: PageNo = 1,
                       per_page: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict:
    """Whom a batch check asked about, with each decision."""
    with ctx.engine.begin() as conn:
        items = batch_subjects(conn, audit_id, (page - 1) * per_page, per_page)
        if items is None:
            raise NotFound(f"no batch check {audit_id} in the audit log")
        log(conn, ctx, who, "view_audit", None, {"batch": audit_id})
    return {"batch": audit_id, "page": page, "items": items}
