"""A subject's own state, file and export; a reviewer's view of a subject under review.

Least privilege: a subject token sees its own file only; a reviewer sees a subject only
while one of its records waits for review or is under appeal; nobody else reads files.
A subject the service has no row for reads as a subject with no records (to its own
token), or as not under review (to a reviewer): neither tells whether it exists.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from socialcredit.service._audit import about, entry, seen_by_subject
from socialcredit.service._auth import Actor, CtxDep, Purpose, require
from socialcredit.service._context import Ctx
from socialcredit.service._db import appeals, records, subjects
from socialcredit.service._errors import Forbidden
from socialcredit.service._schemas import SubjectPath
from socialcredit.service._store import evaluate_all, log, record_out

router = APIRouter(tags=["subjects"])
Reader = Annotated[Actor, Depends(require("subject", "reviewer"))]


def may_read(conn: sa.Connection, who: Actor, subject: str) -> None:
    """403 unless this actor may read this subject's file."""
    if who.role == "subject":
        if who.subject != subject:
            raise Forbidden("a subject token sees only its own file")
        return
    pending = sa.select(records.c.id).where(records.c.subject_id == subject,
                                            records.c.status == "pending").limit(1)
    appealed = sa.select(appeals.c.id).where(appeals.c.subject_id == subject,
                                             appeals.c.status == "open").limit(1)
    if conn.execute(pending).first() is None and conn.execute(appealed).first() is None:
        raise Forbidden("a reviewer sees a subject only while one of its records waits for"
                        " review or is under appeal")


def state_view(ctx: Ctx, conn: sa.Connection, subject: str) -> dict[str, Any]:
    rows, evs = evaluate_all(ctx, conn, [subject])
    row, ev = rows.get(subject), evs.get(subject)
    return {"subject": subject,
            "type": None if row is None else "child" if row.guardian_id else row.type,
            "guardian": row.guardian_id if row is not None else None,
            "as_of": ctx.clock().isoformat(),
            "score": ev.score if ev else None, "grade": ev.grade if ev else None,
            "lists": ev.lists if ev else [], "measures": ev.measures if ev else [],
            "holds_until": ev.valid_until.isoformat() if ev and ev.valid_until else None,
            "policy_version": ctx.version}


def file_view(ctx: Ctx, conn: sa.Connection, subject: str) -> dict[str, Any]:
    rows, evs = evaluate_all(ctx, conn, [subject], full_history=True)
    ev, today = evs.get(subject), ctx.clock()
    recs = conn.execute(sa.select(records).where(records.c.subject_id == subject)
                        .order_by(records.c.occurred_on, records.c.id)).all()
    mine = conn.execute(sa.select(appeals).where(appeals.c.subject_id == subject)
                        .order_by(appeals.c.opened_at, appeals.c.id)).all()
    children = list(conn.execute(sa.select(subjects.c.id)
                                 .where(subjects.c.guardian_id == subject)).scalars())
    looks = []
    for whom in [subject, *children]:
        rows_about = about(whom)
        looks += [seen_by_subject(entry(a)) for a in
                  conn.execute(sa.select(rows_about).order_by(rows_about.c.id))]
    looks.sort(key=lambda a: a["at"])
    return {"subject": subject, "as_of": today.isoformat(),
            "records": [record_out(r, ctx.rules, ev.records if ev else None, today)
                        for r in recs],
            "appeals": [{"id": a.id, "record": a.record_id, "statement": a.statement,
                         "status": a.status, "opened_at": a.opened_at.isoformat(),
                         "decided_at": a.decided_at.isoformat() if a.decided_at else None,
                         "note": a.note} for a in mine],
            "children": children,
            "accesses": looks, "policy_version": ctx.version}


@router.get("/v1/subjects/{subject}")
def get_subject(subject: SubjectPath, ctx: CtxDep, why: Purpose, who: Reader) -> dict:
    """Score, grade, lists, and the sanctions and privileges in force, each with the
    rule behind it."""
    with ctx.engine.begin() as conn:
        may_read(conn, who, subject)
        out = state_view(ctx, conn, subject)
        log(conn, ctx, who, "view_subject", subject, None, why)
    return out


@router.get("/v1/subjects/{subject}/file")
def get_file(subject: SubjectPath, ctx: CtxDep, why: Purpose, who: Reader) -> dict:
    """Every record (points, channel, status, when it stops counting), the subject's
    appeals and their outcomes, and every access to the file or to the subject's
    children: who (by role and service), what was decided, and why."""
    with ctx.engine.begin() as conn:
        may_read(conn, who, subject)
        out = file_view(ctx, conn, subject)
        log(conn, ctx, who, "view_file", subject, None, why)
    return out


@router.get("/v1/subjects/{subject}/export")
def export(subject: SubjectPath, ctx: CtxDep,
           who: Annotated[Actor, Depends(require("subject"))]) -> JSONResponse:
    """The subject's own file as one JSON document to keep: state, records, appeals and
    accesses."""
    with ctx.engine.begin() as conn:
        may_read(conn, who, subject)
        out = {"state": state_view(ctx, conn, subject), **file_view(ctx, conn, subject)}
        log(conn, ctx, who, "export", subject, None, "subject_access")
    return JSONResponse(out, headers={
        "Content-Disposition": f'attachment; filename="{subject}-file.json"'})
