"""Subjects appeal their records; reviewers decide appeals and confirm or reject records
that wait for review. A decision is final."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from socialcredit.service._auth import Actor, CtxDep, Purpose, require
from socialcredit.service._db import appeals, records
from socialcredit.service._errors import Conflict, NotFound, TooMany
from socialcredit.service._schemas import (
    AppealIn,
    DecisionIn,
    PageNo,
    RecordPath,
    ReviewIn,
    RowId,
)
from socialcredit.service._store import evaluate_all, lock_subjects, log, record_out, refresh

router = APIRouter(tags=["appeals"])
Reviewer = Annotated[Actor, Depends(require("reviewer"))]
APPEALS_PER_DAY = 20  # a subject's appeals in any 24 hours


def _appeal_out(a: sa.Row, version: str) -> dict:
    return {"id": a.id, "record": a.record_id, "status": a.status, "key": a.client_key,
            "opened_at": a.opened_at.isoformat(), "policy_version": version}


@router.post("/v1/appeals", status_code=201, response_model=None)
def post_appeal(body: AppealIn, ctx: CtxDep,
                who: Annotated[Actor, Depends(require("subject"))]) -> dict | JSONResponse:
    """A subject contests one of their own records. With a `key`, sending the same
    appeal again returns it (200) instead of opening another. One open appeal per
    record; at most 20 appeals a day."""
    now = datetime.now(UTC)
    with ctx.engine.begin() as conn:
        lock_subjects(conn, [who.subject])
        if body.key is not None:
            prior = conn.execute(sa.select(appeals).where(
                appeals.c.subject_id == who.subject, appeals.c.client_key == body.key)).first()
            if prior is not None:
                if (prior.record_id, prior.statement) != (body.record, body.statement):
                    raise Conflict(f"appeal key {body.key!r} was used for another appeal")
                return JSONResponse({**_appeal_out(prior, ctx.version), "retry": True},
                                    status_code=200)
        rec = conn.execute(sa.select(records).where(records.c.id == body.record)).first()
        if rec is None or rec.subject_id != who.subject:
            raise NotFound(f"no record {body.record!r} in your file")
        if rec.status in ("voided", "rejected"):
            raise Conflict(f"record {body.record!r} no longer counts")
        if conn.execute(sa.select(appeals.c.id).where(appeals.c.record_id == rec.id,
                                                      appeals.c.status == "open")).first():
            raise Conflict(f"record {body.record!r} already has an open appeal")
        recent = conn.execute(sa.select(sa.func.count()).select_from(appeals).where(
            appeals.c.subject_id == who.subject,
            appeals.c.opened_at > now - timedelta(days=1))).scalar()
        if recent >= APPEALS_PER_DAY:
            raise TooMany(f"at most {APPEALS_PER_DAY} appeals in 24 hours", 3600)
        aid = conn.execute(appeals.insert().values(
            record_id=rec.id, subject_id=rec.subject_id, statement=body.statement,
            status="open", opened_at=now, policy_version=ctx.version, client_key=body.key)
        ).inserted_primary_key[0]
        log(conn, ctx, who, "appeal", rec.subject_id, {"appeal": aid, "record": rec.id},
            "appeal")
        row = conn.execute(sa.select(appeals).where(appeals.c.id == aid)).one()
    return _appeal_out(row, ctx.version)


@router.post("/v1/appeals/{appeal_id}/decision")
def decide(appeal_id: RowId, body: DecisionIn, ctx: CtxDep, who: Reviewer) -> dict:
    """Uphold (the record is voided; score, lists and sanctions change in the same
    transaction) or reject an appeal. A decision is final (409 after)."""
    with ctx.engine.begin() as conn:
        ap = conn.execute(sa.select(appeals).where(appeals.c.id == appeal_id)).first()
        if ap is None:
            raise NotFound(f"no appeal {appeal_id}")
        lock_subjects(conn, [ap.subject_id])
        ap = conn.execute(sa.select(appeals).where(appeals.c.id == appeal_id)
                          .with_for_update()).one()
        if ap.status != "open":
            raise Conflict(f"appeal {appeal_id} is already {ap.status}; a decision is final")
        status = "upheld" if body.upheld else "rejected"
        done = conn.execute(appeals.update().where(
            appeals.c.id == appeal_id, appeals.c.status == "open").values(
            status=status, decided_at=datetime.now(UTC), decided_by=who.id, note=body.note))
        if done.rowcount != 1:  # decided by another reviewer meanwhile
            raise Conflict(f"appeal {appeal_id} is already decided; a decision is final")
        if body.upheld:
            conn.execute(records.update().where(records.c.id == ap.record_id)
                         .values(status="voided"))
            refresh(ctx, conn, [ap.subject_id])
        ev = evaluate_all(ctx, conn, [ap.subject_id])[1][ap.subject_id]
        log(conn, ctx, who, "appeal_decision", ap.subject_id,
            {"appeal": appeal_id, "upheld": body.upheld, "record": ap.record_id}, "review")
    return {"id": appeal_id, "status": status, "record": ap.record_id, "score": ev.score,
            "lists": ev.lists, "policy_version": ctx.version}


@router.get("/v1/review/queue")
def queue(ctx: CtxDep, why: Purpose, who: Reviewer, page: PageNo = 1,
          per_page: Annotated[int, Query(ge=1, le=100)] = 50) -> dict:
    """Records waiting for human confirmation, and open appeals, oldest first, a page
    of each."""
    skip = (page - 1) * per_page
    with ctx.engine.begin() as conn:
        pend = conn.execute(sa.select(records).where(records.c.status == "pending")
                            .order_by(records.c.recorded_at, records.c.id)
                            .offset(skip).limit(per_page)).all()
        open_ = conn.execute(sa.select(appeals).where(appeals.c.status == "open")
                             .order_by(appeals.c.opened_at, appeals.c.id)
                             .offset(skip).limit(per_page)).all()
        totals = [conn.execute(sa.select(sa.func.count()).select_from(t).where(w)).scalar()
                  for t, w in ((records, records.c.status == "pending"),
                               (appeals, appeals.c.status == "open"))]
        log(conn, ctx, who, "view_queue", None,
            {"page": page, "subjects": sorted({r.subject_id for r in pend}
                                              | {a.subject_id for a in open_})}, why)
    return {"page": page, "per_page": per_page, "pending_total": totals[0],
            "appeals_total": totals[1],
            "pending_records": [record_out(r, ctx.rules) for r in pend],
            "open_appeals": [{"id": a.id, "record": a.record_id, "subject": a.subject_id,
                              "statement": a.statement,
                              "opened_at": a.opened_at.isoformat()} for a in open_]}


@router.post("/v1/records/{record_id}/review")
def review(record_id: RecordPath, body: ReviewIn, ctx: CtxDep, who: Reviewer) -> dict:
    """Confirm (it counts from now on) or reject a record that waits for review."""
    with ctx.engine.begin() as conn:
        rec = conn.execute(sa.select(records).where(records.c.id == record_id)).first()
        if rec is None:
            raise NotFound(f"no record {record_id!r}")
        lock_subjects(conn, [rec.subject_id])
        rec = conn.execute(sa.select(records).where(records.c.id == record_id)).one()
        if rec.status != "pending":
            raise Conflict(f"record {record_id!r} is {rec.status}, not pending")
        status = "active" if body.confirmed else "rejected"
        done = conn.execute(records.update().where(
            records.c.id == record_id, records.c.status == "pending").values(status=status))
        if done.rowcount != 1:
            raise Conflict(f"record {record_id!r} was reviewed meanwhile")
        refresh(ctx, conn, [rec.subject_id])
        log(conn, ctx, who, "review", rec.subject_id, {"record": record_id, "status": status},
            body.note or None)
    return {"record": record_id, "status": status}
