"""Authorities record acts; recorders link children to guardians."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from socialcredit.service._auth import Actor, CtxDep, Purpose, require
from socialcredit.service._changes import log_changes
from socialcredit.service._db import records, subjects
from socialcredit.service._errors import invalid
from socialcredit.service._schemas import GuardianIn, RecordBatchIn, RecordIn, SubjectPath
from socialcredit.service._store import (
    check_records,
    insert_for,
    lock_subjects,
    log,
    refresh,
    store_records,
)

router = APIRouter(tags=["records"])
T = TypeVar("T")


def retrying(write: Callable[[], T], tries: int = 4) -> T:
    """Run a write transaction again when PostgreSQL breaks a deadlock by aborting it
    (two writers that meet on a subject's row and its foreign-key checks); the
    transaction rolled back whole, so running it again is safe."""
    for attempt in range(tries):
        try:
            return write()
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == tries - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")
Recorder = Annotated[Actor, Depends(require("recorder"))]


@router.post("/v1/records", status_code=201)
def post_record(body: RecordIn, ctx: CtxDep, why: Purpose, who: Recorder) -> JSONResponse:
    """Record one act against a subject (created on its first record). Safe to retry:
    the same id returns 200 and the stored record."""
    check_records(ctx, [body], batch=False)

    def write() -> tuple[list[dict], int]:
        with ctx.engine.begin() as conn:
            outs, created, changed, computed = store_records(ctx, conn, [body], who, False)
            if changed:
                refresh(ctx, conn, changed, computed)
            log(conn, ctx, who, "record" if created else "record_retry", body.subject,
                {"record": body.id, "kind": body.kind}, why)
        return outs, created

    outs, created = retrying(write)
    return JSONResponse(outs[0], status_code=201 if created else 200)


@router.post("/v1/records/batch")
def post_records(body: RecordBatchIn, ctx: CtxDep, why: Purpose, who: Recorder) -> dict:
    """Bulk ingest: all records or none (422 names each bad record and field). The
    batch is checked and stored set by set, so it holds the database's write lock
    briefly."""
    check_records(ctx, body.records, batch=True)

    def write() -> int:
        with ctx.engine.begin() as conn:
            _, created, changed, computed = store_records(ctx, conn, body.records, who, True)
            if changed:  # only these: the locks of the others' subjects are not held here
                refresh(ctx, conn, changed, computed)
            log(conn, ctx, who, "record_batch", None,
                {"records": len(body.records), "created": created}, why)
        return created

    created = retrying(write)
    return {"created": created, "existing": len(body.records) - created,
            "policy_version": ctx.version}


@router.put("/v1/subjects/{subject}/guardian", tags=["subjects"])
def put_guardian(subject: SubjectPath, body: GuardianIn, ctx: CtxDep, who: Recorder) -> dict:
    """Link a child to its guardian (the child is created if new)."""
    with ctx.engine.begin() as conn:
        conn.execute(insert_for(conn)(subjects).values(
            id=subject, type="person", guardian_id=None, created_at=datetime.now(UTC))
            .on_conflict_do_nothing())
        lock_subjects(conn, [subject, body.guardian])
        g = conn.execute(sa.select(subjects).where(subjects.c.id == body.guardian)).first()
        if g is None or g.type != "person" or g.guardian_id is not None \
                or body.guardian == subject:
            raise invalid(["body", "guardian"], "bad_guardian",
                          f"{body.guardian!r} is not a known adult other than {subject!r}")
        child = conn.execute(sa.select(subjects.c.type).where(subjects.c.id == subject)).one()
        if child.type != "person":
            raise invalid(["path", "subject"], "not_a_child",
                          f"{subject!r} is a {child.type}: not a child")
        if conn.execute(sa.select(records.c.id).where(records.c.subject_id == subject)
                        .limit(1)).first():
            raise invalid(["path", "subject"], "not_a_child",
                          f"{subject!r} has records of its own: not a child")
        if conn.execute(sa.select(subjects.c.id).where(subjects.c.guardian_id == subject)
                        .limit(1)).first():
            raise invalid(["path", "subject"], "not_a_child",
                          f"{subject!r} is the guardian of a child: an adult")
        conn.execute(subjects.update().where(subjects.c.id == subject)
                     .values(guardian_id=body.guardian))
        conn.execute(sa.text("DELETE FROM subject_states WHERE subject_id = :s"), {"s": subject})
        log_changes(conn, [subject])
        log(conn, ctx, who, "guardian_link", subject, {"guardian": body.guardian})
    return {"subject": subject, "guardian": body.guardian}
