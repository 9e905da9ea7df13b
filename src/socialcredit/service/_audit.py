"""Reading the audit log: the rows about one subject, including the batch checks that
name it (stored as one row per batch plus one small row per subject)."""

from __future__ import annotations

import json
import sys
from array import array
from typing import Any

import sqlalchemy as sa

from socialcredit.service._db import audit, audit_subjects

# what a listing shows of an audit row (a batch's codes are read one at a time)
_SHOWN = [c for c in audit.c if c.key != "codes"]


def pack_codes(codes: Any) -> bytes:
    """A batch's decision indexes (ints below 65,536, in the order asked) as stored:
    two bytes each, little-endian."""
    a = array("H", codes)
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def unpack_codes(blob: bytes) -> array:
    """The decision indexes that `pack_codes` stored."""
    a = array("H", bytes(blob))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def about(subject: str | None, actions: tuple[str, ...] | None = None) -> sa.Subquery:
    """Audit rows about `subject` (None: every row): its own, and each batch check
    naming it, with its decision's code there (`decision`, NULL for rows of its own)."""
    own = sa.select(*_SHOWN, sa.cast(sa.null(), sa.LargeBinary).label("decision"))
    if subject is None:
        return own.subquery()
    own = own.where(audit.c.subject_id == subject)
    if actions is not None:
        own = own.where(audit.c.action.in_(actions))
    if actions is not None and "check" not in actions:
        return own.subquery()
    position = (sa.select(audit_subjects.c.position)
                .where(audit_subjects.c.audit_id == audit.c.id,
                       audit_subjects.c.subject_id == subject)
                .limit(1).correlate(audit).scalar_subquery())
    batched = (sa.select(*_SHOWN, sa.func.substr(audit.c.codes, position * 2 + 1, 2,
                                                 type_=sa.LargeBinary).label("decision"))
               .where(audit.c.action == "check_batch",
                      sa.exists().where(audit_subjects.c.audit_id == audit.c.id,
                                        audit_subjects.c.subject_id == subject)))
    return sa.union_all(own, batched).subquery()


def entry(row: Any) -> dict[str, Any]:
    """One audit row as the API shows it. A batch check seen from one of its subjects
    reads as that subject's check."""
    detail = json.loads(row.detail) if row.detail else None
    what, whom = row.action, row.subject_id
    if row.action == "check_batch" and getattr(row, "decision", None) is not None:
        code = unpack_codes(row.decision)[0]  # this subject's code, cut out in SQL
        what, detail = "check", {**detail["decisions"][code], "batch": row.id}
    return {"id": row.id, "at": row.at.isoformat(), "who": row.actor, "role": row.role,
            "what": what, "whom": whom, "detail": detail, "why": row.reason}


def batch_subjects(conn: sa.Connection, audit_id: int, offset: int,
                   limit: int) -> list[dict[str, Any]] | None:
    """The subjects of one batch check with their decisions (None: no such batch)."""
    row = conn.execute(sa.select(audit.c.detail, audit.c.codes).where(
        audit.c.id == audit_id, audit.c.action == "check_batch")).first()
    if row is None:
        return None
    decisions = json.loads(row.detail)["decisions"]
    codes = unpack_codes(row.codes)
    rows = conn.execute(sa.select(audit_subjects.c.subject_id, audit_subjects.c.position)
                        .where(audit_subjects.c.audit_id == audit_id)
                        .order_by(audit_subjects.c.position).offset(offset).limit(limit))
    return [{"subject": r.subject_id, **decisions[codes[r.position]]} for r in rows]
