"""The audit log: reading the rows about one subject, including the batch checks that
name it (stored as one row per batch plus one small row per subject); and the hash chain
that makes it tamper-evident (`seal`, `verify`)."""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from typing import Any

import sqlalchemy as sa

from socialcredit.service._db import audit, audit_subjects, driver_sql

# what a listing shows of an audit row (a batch's codes are read one at a time)
_SHOWN = [c for c in audit.c if c.key not in ("codes", "seal", "hash")]


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
    # a batch's row read as this subject's check: about this subject
    shown = [sa.literal(subject, sa.String).label("subject_id") if c.key == "subject_id"
             else c for c in _SHOWN]
    batched = (sa.select(*shown, sa.func.substr(audit.c.codes, position * 2 + 1, 2,
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
            "what": what, "whom": whom, "detail": detail, "why": row.reason,
            "decision_id": row.decision_id, "policy_version": row.policy_version}


def seen_by_subject(e: dict[str, Any]) -> dict[str, Any]:
    """An access as the subject's file shows it: who by role (and service), not by
    token; what was decided, and why."""
    detail = e["detail"] or {}
    who = e["role"] + (f" for {detail['service']}" if e["role"] == "gatekeeper"
                       and detail.get("service") else "")
    decided = None
    if "allowed" in detail:
        decided = {k: detail.get(k) for k in ("service", "allowed", "measure", "legal_basis")}
    return {"at": e["at"], "who": who, "what": e["what"], "about": e["whom"],
            "decided": decided, "why": e["why"], "decision_id": e["decision_id"]}


# ---------------------------------------------------------------------------- hash chain
GENESIS = "0" * 64
_SEAL_LOCK = 0x5C0A0D1  # PostgreSQL advisory lock: one sealer at a time
_SEALED = [c for c in audit.c if c.key not in ("seal", "hash")]


def subjects_digest(subjects: list[str]) -> str:
    """A batch check's subjects, in the order asked, as one hash."""
    return hashlib.sha256("\n".join(subjects).encode()).hexdigest()


def _digest(row: Any, prev: str, subjects: str | None) -> str:
    """A row's hash: its content, its place in the chain and the previous hash."""
    at = row.at.isoformat() if hasattr(row.at, "isoformat") else str(row.at)
    content = [row.seal_no, row.id, at, row.actor, row.role, row.action, row.subject_id,
               row.detail, row.reason, bytes(row.codes).hex() if row.codes else None,
               row.decision_id, row.policy_version, subjects]
    return hashlib.sha256((prev + json.dumps(content, separators=(",", ":"))).encode()
                          ).hexdigest()


def _batch_subjects(conn: sa.Connection, audit_id: int) -> list[str]:
    """A batch check's subjects in the order asked (plain DBAPI rows: up to 10,000)."""
    return [sid for (sid,) in driver_sql(
        conn, "SELECT subject_id FROM audit_subjects WHERE audit_id = ? ORDER BY position",
        (audit_id,))]


def seal(conn: sa.Connection, limit: int = 20_000) -> int:
    """Seal unsealed audit rows into the chain, in id order, in the caller's transaction;
    returns how many. Each sealed row's `hash` covers its content (a batch check's
    subjects included), its seal number and the previous row's hash, so changing,
    removing or reordering a sealed row breaks every hash after it."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEAL_LOCK})
    rows = conn.execute(sa.select(*_SEALED).where(audit.c.seal.is_(None))
                        .order_by(audit.c.id).limit(limit)).all()
    if not rows:
        return 0
    last = conn.execute(sa.select(audit.c.seal, audit.c.hash).where(audit.c.seal.is_not(None))
                        .order_by(audit.c.seal.desc()).limit(1)).first()
    number, prev = (last.seal, last.hash) if last else (0, GENESIS)
    updates = []
    for row in rows:
        number += 1
        subjects = None
        if row.action == "check_batch":  # hashed when written (older rows: read now)
            subjects = row.subjects_hash or subjects_digest(_batch_subjects(conn, row.id))
        prev = _digest(_Numbered(row, number), prev, subjects)
        updates.append({"i": row.id, "s": number, "h": prev})
    conn.execute(audit.update().where(audit.c.id == sa.bindparam("i"))
                 .values(seal=sa.bindparam("s"), hash=sa.bindparam("h")), updates)
    return len(rows)


def verify(conn: sa.Connection) -> tuple[int, str | None]:
    """Walk the chain: (rows that verify, the first problem or None)."""
    prev, n = GENESIS, 0
    for row in conn.execute(sa.select(*_SEALED, audit.c.seal, audit.c.hash)
                            .where(audit.c.seal.is_not(None)).order_by(audit.c.seal)):
        if row.seal != n + 1:
            return n, f"seal {n + 1} is missing (next is {row.seal}, audit row {row.id})"
        subjects = None
        if row.action == "check_batch":  # the subjects as stored now
            subjects = subjects_digest(_batch_subjects(conn, row.id))
        expected = _digest(_Numbered(row, row.seal), prev, subjects)
        if expected != row.hash:
            return n, f"audit row {row.id} (seal {row.seal}) was changed after it was sealed"
        prev, n = row.hash, n + 1
    return n, None


def head(conn: sa.Connection) -> dict[str, Any]:
    """The chain's head: how many rows are sealed and the last hash (kept elsewhere, it
    shows whether the newest rows were cut off)."""
    row = conn.execute(sa.select(audit.c.seal, audit.c.hash).where(audit.c.seal.is_not(None))
                       .order_by(audit.c.seal.desc()).limit(1)).first()
    return {"length": row.seal if row else 0, "hash": row.hash if row else GENESIS}


class _Numbered:
    """A row with its seal number, as `_digest` reads it."""

    def __init__(self, row: Any, number: int) -> None:
        self._row, self.seal_no = row, number

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


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
