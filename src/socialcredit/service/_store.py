"""The service's database work: records, subjects and their stored states, in the
caller's transaction, raising domain errors (never HTTP ones).

Concurrency. A subject's stored state always equals the recomputation from its committed
records:
- every write that changes a subject's records takes the subject's row lock first
  (`lock_subjects`, PostgreSQL `SELECT ... FOR UPDATE`, in id order so that two writers
  never deadlock; SQLite has one writer at a time), so two writers for one subject run
  one after the other and the second computes from the first's records;
- a state stored by a check (`recompute`, not under the lock) carries the change-log
  position of the snapshot it was computed from (`basis`), and never overwrites a state
  computed from a newer one; checks skip subjects whose lock a writer holds
  (`SKIP LOCKED`), answering from committed records without storing, so they never wait
  behind a write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from socialcredit.service._cache import State
from socialcredit.service._changes import ALL, log_changes, newest_seen
from socialcredit.service._context import Ctx
from socialcredit.service._db import (
    audit,
    driver_date,
    driver_sql,
    driver_timestamp,
    placeholders,
    records,
    subjects,
)
from socialcredit.service._errors import Conflict, Invalid
from socialcredit.service._rules import Evaluation, RecordRows, Rules
from socialcredit.service._schemas import RecordIn


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def insert_for(conn: sa.Connection) -> Callable:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def lock_subjects(conn: sa.Connection, ids: list[str]) -> None:
    """Hold these subjects' row locks to the end of the transaction, in id order (on
    SQLite the write lock, taken by the transaction's first write, serializes)."""
    if conn.dialect.name != "postgresql" or not ids:
        return
    for part in chunks(sorted(set(ids)), 5000):
        conn.execute(sa.select(subjects.c.id).where(subjects.c.id.in_(part))
                     .order_by(subjects.c.id).with_for_update())


def log(conn: sa.Connection, ctx: Ctx, who: Any, action: str, subject: str | None,
        detail: dict | None = None, reason: str | None = None,
        decision_id: str | None = None) -> None:
    """An audit row in the caller's transaction."""
    conn.execute(audit.insert().values(
        at=datetime.now(UTC), actor=who.id, role=who.role, action=action,
        subject_id=subject, detail=json.dumps(detail) if detail else None, reason=reason,
        decision_id=decision_id, policy_version=ctx.version))


def counting_rows(conn: sa.Connection, ids: list[str], since: date | None) -> RecordRows:
    """The active records of these subjects (since a date, if given), as arrays (plain
    DBAPI rows: there are many per subject)."""
    index = {sid: i for i, sid in enumerate(ids)}
    subject, kinds, days, rids = [], [], [], []
    for part in chunks(ids, 5000):
        sql = ("SELECT subject_id, id, kind, occurred_on FROM records WHERE status = 'active'"
               f" AND subject_id IN ({','.join('?' * len(part))})")
        params: tuple = tuple(part)
        if since is not None:
            sql += " AND occurred_on >= ?"
            params += (driver_date(conn, since),)
        for sid, rid, kind, on in driver_sql(conn, sql, params):
            subject.append(index[sid])
            rids.append(rid)
            kinds.append(kind)
            days.append(on)
    return RecordRows(np.asarray(subject, np.int64), kinds, np.array(days, "datetime64[D]"),
                      rids)


# ---------------------------------------------------------------------------- reading
def subject_rows(conn: sa.Connection, ids: list[str]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for part in chunks(sorted(set(ids)), 5000):
        rows.update({r.id: r for r in conn.execute(
            sa.select(subjects).where(subjects.c.id.in_(part)))})
    return rows


def evaluate_all(ctx: Ctx, conn: sa.Connection, ids: list[str], full_history: bool = False,
                 ) -> tuple[dict[str, Any], dict[str, Evaluation]]:
    """The rows and evaluations of the subjects among `ids` that exist (a child's: its
    guardian's measures that reach children)."""
    rows = subject_rows(conn, ids)
    guardian_ids = {r.guardian_id for r in rows.values() if r.guardian_id}
    rows.update(subject_rows(conn, sorted(guardian_ids - set(rows))))
    rules, now = ctx.rules, ctx.clock()
    scored = [sid for sid, r in rows.items() if r.guardian_id is None]
    out: dict[str, Evaluation] = {}
    for stype in rules.plans:
        group = [sid for sid in scored if rows[sid].type == stype]
        if not group:
            continue
        since = None if full_history else now - timedelta(days=rules.horizon(stype))
        recs = counting_rows(conn, group, since)
        segments = [rules.segment(stype, rows[sid].kind) for sid in group]
        out.update(zip(group, rules.explain(stype, group, recs, now, segments, full_history),
                       strict=True))
    for sid, r in rows.items():
        if r.guardian_id is not None:
            g = out[r.guardian_id]
            out[sid] = Evaluation("child", None, None, measures=rules.measures(
                "person", g.grade, [x["name"] for x in g.lists], child=True),
                valid_until=g.valid_until)
    return rows, out


# ---------------------------------------------------------------------------- states
def _compute(ctx: Ctx, conn: sa.Connection, ids: list[str],
             types: dict[str, tuple[str, str | None]] | None = None,
             extra: list[tuple] = ()) -> dict[str, tuple]:
    """The states today of the scored subjects among `ids`, from the records this
    connection sees (plus `extra` records not stored yet: (subject, kind, day, id)):
    id -> (type, kind, score, grade, lists, valid_until). `types`: each subject's type
    and company kind, if known already."""
    rules, now = ctx.rules, ctx.clock()
    if types is None:
        types = {}
        for part in chunks(sorted(set(ids)), 5000):
            types.update((sid, (t, k)) for sid, t, k in driver_sql(
                conn, "SELECT id, type, kind FROM subjects WHERE guardian_id IS NULL AND id"
                      f" IN ({','.join('?' * len(part))})", tuple(part)))
    out = {}
    for stype in rules.plans:
        group = [sid for sid, (t, _) in types.items() if t == stype]
        if not group:
            continue
        recs = counting_rows(conn, group, now - timedelta(days=rules.horizon(stype)))
        if extra:
            recs = _with(recs, group, extra)
        segments = [rules.segment(stype, types[sid][1]) for sid in group]
        for sid, score, grade, lists, until in zip(group, *rules.states(
                stype, group, recs, now, segments), strict=True):
            out[sid] = (stype, types[sid][1], score, grade, lists, until)
    return out


def _with(recs: RecordRows, group: list[str], extra: list[tuple]) -> RecordRows:
    """`recs` (of the subjects in `group`) and the extra records of those subjects."""
    index = {sid: i for i, sid in enumerate(group)}
    mine = [e for e in extra if e[0] in index]
    if not mine:
        return recs
    return RecordRows(
        np.concatenate([recs.subject, np.array([index[e[0]] for e in mine], np.int64)]),
        recs.kind + [e[1] for e in mine],
        np.concatenate([recs.day, np.array([e[2] for e in mine], "datetime64[D]")]),
        recs.id + [e[3] for e in mine])


_UPSERT = ("INSERT INTO subject_states (subject_id, score, grade, lists, computed_for,"
           " valid_until, policy_version, basis, named, anonymous) VALUES"
           " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_id) DO UPDATE SET"
           " score = excluded.score, grade = excluded.grade, lists = excluded.lists,"
           " computed_for = excluded.computed_for, valid_until = excluded.valid_until,"
           " policy_version = excluded.policy_version, basis = excluded.basis,"
           " named = excluded.named, anonymous = excluded.anonymous")
# a check's computation: only over one from an older snapshot
_UPSERT_IF_NEWER = _UPSERT + " WHERE subject_states.basis <= excluded.basis"


def _store_states(ctx: Ctx, conn: sa.Connection, computed: dict[str, tuple], basis: int,
                  only_if_newer: bool) -> dict[str, State]:
    rules = ctx.rules
    today = driver_date(conn, ctx.clock())
    rows, memo = [], {}
    for sid, (stype, kind, score, grade, lists, until) in computed.items():
        named, anonymous = publication(rules, sid, stype, kind, score, grade, lists, memo)
        rows.append((sid, score, grade, lists, today, driver_date(conn, until), rules.version,
                     basis, named, anonymous))
    if rows:
        driver_sql(conn, _UPSERT_IF_NEWER if only_if_newer else _UPSERT, rows)
    return _states_of(ctx, computed)


def refresh(ctx: Ctx, conn: sa.Connection, ids: list[str],
            computed: dict[str, tuple] | None = None) -> dict[str, State]:
    """A writer's step, in its transaction after its row changes and under the subjects'
    locks: recompute (unless `computed` holds them already) and store the states of the
    scored subjects among `ids`, and note the change in the log (every process drops
    the states it holds of them)."""
    if computed is None or not set(ids) <= set(computed):
        computed = _compute(ctx, conn, ids)
    else:
        computed = {sid: computed[sid] for sid in ids}
    seq = log_changes(conn, ids)
    return _store_states(ctx, conn, computed, seq or 0, only_if_newer=False)


def recompute(ctx: Ctx, ids: list[str]) -> dict[str, State]:
    """States computed for a check (none stored, or no longer holding today): from the
    committed records, stored unless a writer holds the subject (it stores its own) or
    a newer state is stored already. Never waits for a writer."""
    pg = ctx.engine.dialect.name == "postgresql"
    with ctx.engine.begin() as conn:
        free: set[str] = set()
        if pg:
            for part in chunks(sorted(set(ids)), 5000):
                free.update(conn.execute(
                    sa.select(subjects.c.id).where(subjects.c.id.in_(part))
                    .order_by(subjects.c.id).with_for_update(skip_locked=True)).scalars())
        seen = newest_seen(conn)
        computed = _compute(ctx, conn, ids)
        if pg:
            _store_states(ctx, conn, {sid: v for sid, v in computed.items() if sid in free},
                          seen, only_if_newer=True)
    if not pg:
        _store_sqlite_if_free(ctx, computed, seen)
    return _states_of(ctx, computed)


def _states_of(ctx: Ctx, computed: dict[str, tuple]) -> dict[str, State]:
    since = ctx.clock().isoformat()
    return {sid: State(stype, score, grade, lists, since, until.isoformat())
            for sid, (stype, _, score, grade, lists, until) in computed.items()}


STORE_WAIT_MS = 50  # SQLite: how long a check waits for the write lock to store states


def _store_sqlite_if_free(ctx: Ctx, computed: dict[str, tuple], seen: int) -> None:
    """SQLite: store a check's states if the write lock is free within a moment (the
    audit writer's group commits hold it for well under a millisecond; a bulk write may
    hold it longer, and then the states are not stored now but computed again next
    time: a check does not wait behind a bulk write)."""
    raw = ctx.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"PRAGMA busy_timeout={STORE_WAIT_MS}")
        try:
            cur.execute("BEGIN IMMEDIATE")
        except Exception:  # noqa: BLE001 - locked: a writer is at work
            return
        try:
            conn_like = _RawConn(raw)
            _store_states(ctx, conn_like, computed, seen, only_if_newer=True)  # type: ignore[arg-type]
            raw.commit()
        except Exception:  # noqa: BLE001 - not stored; computed again next time
            raw.rollback()
    finally:
        raw.cursor().execute("PRAGMA busy_timeout=30000")
        raw.close()


class _RawConn:
    """Enough of a SQLAlchemy connection over a DBAPI one for `_store_states`."""

    class dialect:  # noqa: N801
        name = "sqlite"

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def exec_driver_sql(self, text: str, params: Any) -> Any:
        cur = self.raw.cursor()
        if isinstance(params, list):
            cur.executemany(text, params)
        else:
            cur.execute(text, params)
        return _Done()


class _Done:
    returns_rows = False


def publication(rules: Rules, sid: str, stype: str, kind: str | None, score: int | None,
                grade: str | None, lists: str, memo: dict) -> tuple[int, str | None]:
    """What the policy publishes of a state: whether a rule names the subject (0: no;
    1: a person, 2: a company: named entries list persons first, each by id), and the
    sort key of its anonymous entry (None: no anonymous entry). Anonymous entries sort
    by what they show, then by a hash of the id, so their order reveals no id."""
    key = (stype, kind, grade, lists)
    matched = memo.get(key)
    if matched is None:
        matched = memo[key] = rules.disclosure(stype, rules.segment(stype, kind), grade, lists)
    named = (1 if stype == "person" else 2) if any("name" in d.fields for d in matched) else 0
    rest = [d for d in matched if "name" not in d.fields]
    if not rest:
        return named, None
    fields = {f for d in rest for f in d.fields}
    shown = " ".join([
        "0" if stype == "person" else "1",
        f"{(score or 0) + 2**31:010d}" if "score" in fields else "0000000000",
        grade if "grade" in fields and grade else "",
        lists if "lists" in fields else "",
        hashlib.blake2b(sid.encode(), digest_size=16).hexdigest()])
    return named, shown


# ---------------------------------------------------------------------------- records
def record_out(row: Any, rules: Rules, dates: dict | None = None,
               today: date | None = None) -> dict[str, Any]:
    """A record as the API shows it; with `dates` (from the subject's replay), when it
    counts and lists until, and whether it has expired or been wiped by a ban by `today`."""
    points = rules.kind_points.get(row.kind, 0)
    status = row.status
    d = (dates or {}).get(row.id) if row.status == "active" else None
    counts_until = lists_until = wiped = None
    if d is not None:
        counts_until, lists_until, wiped = d["counts_until"], d["lists_until"], d["wiped"]
        if wiped is not None and counts_until < row.occurred_on:
            counts_until = None  # the ban it helped to start wiped it on its own day
        if today is not None and wiped is not None and wiped <= today:
            status = "wiped"
        elif today is not None and counts_until < today and (
                lists_until is None or lists_until < today):
            status = "expired"
    return {"id": row.id, "subject": row.subject_id, "kind": row.kind, "channel": row.channel,
            "occurred_at": row.occurred_on.isoformat(), "points": points, "status": status,
            "counts_until": counts_until.isoformat() if counts_until else None,
            "lists_until": lists_until.isoformat() if lists_until else None,
            "wiped_on": wiped.isoformat() if wiped else None,
            "confidence": row.confidence, "evidence": row.evidence,
            "recorded_at": row.recorded_at.isoformat(), "policy_version": row.policy_version}


def check_records(ctx: Ctx, items: list[RecordIn], batch: bool) -> None:
    """What can be checked without the database: kinds, channels, dates, company kinds
    (every problem at once)."""
    rules, today = ctx.rules, ctx.clock()
    now = datetime.now(UTC)
    errs = []
    for i, r in enumerate(items):
        loc = ["body"] + (["records", i] if batch else [])
        if r.kind not in rules.kind_type:
            errs.append({"loc": [*loc, "kind"], "type": "unknown_kind",
                         "msg": f"unknown kind {r.kind!r}; kinds of this policy are"
                                f" {sorted(rules.kind_type)}"})
        elif r.channel != rules.kind_channel[r.kind]:
            errs.append({"loc": [*loc, "channel"], "type": "wrong_channel",
                         "msg": f"{r.kind} records come from channel"
                                f" {rules.kind_channel[r.kind]!r}, not {r.channel!r}"})
        future = r.day > today or (not ctx.fixed_clock and isinstance(r.occurred_at, datetime)
                                   and r.occurred_at > now + timedelta(minutes=5))
        if future:
            errs.append({"loc": [*loc, "occurred_at"], "type": "future",
                         "msg": f"occurred_at {r.occurred_at.isoformat()} is in the future"
                                f" (today is {today.isoformat()}, UTC)"})
        if r.subject_kind is not None:
            if rules.kind_type.get(r.kind) != "company":
                errs.append({"loc": [*loc, "subject_kind"], "type": "not_a_company",
                             "msg": "subject_kind is for records about companies"})
            elif r.subject_kind not in rules.company_kinds:
                errs.append({"loc": [*loc, "subject_kind"], "type": "unknown_company_kind",
                             "msg": f"unknown company kind {r.subject_kind!r}; kinds of this"
                                    f" policy are {rules.company_kinds}"})
    if errs:
        raise Invalid(errs)


@dataclass
class _Plan:
    """What a write will do, worked out before it takes any lock: the records already
    stored (by id), the new ones, each subject's type and company kind after the write,
    and the states of the subjects with new records, computed from the records
    committed when it looked plus the new ones (None: computed under the locks)."""

    first: dict[str, int]
    existing: dict[str, tuple]
    new: list[RecordIn]
    stype_of: dict[str, str]
    kind_now: dict[str, str | None]
    changed_kind: set[str]
    computed: dict[str, tuple] | None


def _plan(ctx: Ctx, conn: sa.Connection, items: list[RecordIn], batch: bool,
          precompute: bool) -> _Plan:
    """Check records against what is stored (every problem at once, 422; a record id
    sent before with other content, 409) and work out the write."""
    rules = ctx.rules
    loc = (lambda i: ["body", "records", i]) if batch else (lambda i: ["body"])
    first: dict[str, int] = {}
    for i, r in enumerate(items):
        j = first.setdefault(r.id, i)
        if j != i and not _same(items[j], r):
            raise Conflict(f"record {r.id!r} appears twice in this batch with other content")
    existing = _records_by_id(conn, list(first))
    for rid, row in existing.items():
        if not _same_row(row, items[first[rid]]):
            raise Conflict(f"record {rid!r} exists with other content; record ids are the"
                           " client's keys")
    new = [items[i] for rid, i in first.items() if rid not in existing]
    stype_of: dict[str, str] = {}
    errs = []
    for i, r in enumerate(items):
        t = rules.kind_type[r.kind]
        if stype_of.setdefault(r.subject, t) != t:
            errs.append({"loc": [*loc(i), "subject"], "type": "wrong_subject",
                         "msg": f"{r.subject!r} has records about {stype_of[r.subject]}s and"
                                f" {t}s in this request"})
    if errs:
        raise Invalid(errs)
    default_kind = rules.company_kinds[0] if len(rules.company_kinds) == 1 else None
    touched = sorted({r.subject for r in new})
    subs = _subject_tuples(conn, touched)  # id -> (type, guardian, kind)
    kind_now: dict[str, str | None] = {}
    for r in new:  # a new subject is created with its first record's kind
        if r.subject not in subs and r.subject not in kind_now:
            kind_now[r.subject] = r.subject_kind or (
                default_kind if stype_of[r.subject] == "company" else None)
    kind_now.update({sid: sub[2] for sid, sub in subs.items()})
    changed_kind = set()
    for i, r in enumerate(items):
        if r.id in existing or first[r.id] != i:
            continue
        stype = stype_of[r.subject]
        sub_type, guardian, _ = subs.get(r.subject, (stype, None, None))
        if sub_type != stype or guardian is not None:
            errs.append({"loc": [*loc(i), "subject"], "type": "wrong_subject",
                         "msg": f"{r.subject!r} is a {sub_type}"
                                f"{' child' if guardian else ''};"
                                f" {r.kind} records are about {stype}s"})
            continue
        if r.subject_kind is not None and r.subject_kind != kind_now[r.subject]:
            if kind_now[r.subject] is not None:
                errs.append({"loc": [*loc(i), "subject_kind"], "type": "wrong_company_kind",
                             "msg": f"{r.subject!r} is a {kind_now[r.subject]}, not a"
                                    f" {r.subject_kind}"})
                continue
            held = conn.execute(sa.select(records.c.kind).distinct().where(
                records.c.subject_id == r.subject,
                records.c.status.in_(("active", "pending")))).scalars()
            wrong = sorted(k for k in held if not rules.kind_allows(k, r.subject_kind))
            if wrong:
                errs.append({"loc": [*loc(i), "subject_kind"], "type": "wrong_company_kind",
                             "msg": f"{r.subject!r} has {', '.join(wrong)} records, which no"
                                    f" {r.subject_kind} has"})
                continue
            kind_now[r.subject] = r.subject_kind
            changed_kind.add(r.subject)
        if not rules.kind_allows(r.kind, kind_now[r.subject]):
            errs.append({"loc": [*loc(i), "kind"], "type": "wrong_company_kind",
                         "msg": f"{r.kind} records are not about a {kind_now[r.subject]}"})
    if errs:
        raise Invalid(errs)
    computed = None
    if precompute and touched:
        extra = [(r.subject, r.kind, r.day, r.id) for r in new
                 if not rules.needs_review(r.kind, r.confidence)]
        computed = _compute(ctx, conn, touched,
                            {sid: (stype_of[sid], kind_now[sid]) for sid in touched}, extra)
    return _Plan(first, existing, new, stype_of, kind_now, changed_kind, computed)


def store_records(ctx: Ctx, conn: sa.Connection, items: list[RecordIn], who: Any,
                  batch: bool) -> tuple[list[dict], int, list[str], dict[str, tuple] | None]:
    """Store records (their subjects created on their first record) set by set, under
    the subjects' locks; a record id sent before is answered as stored if its content
    is the same (ids are the client's keys), else 409. Every problem is reported at once
    (422).

    The checks and the new states are worked out first, from what is committed, before
    any lock is taken (so a batch holds SQLite's write lock briefly); once the locks
    are held, the change log tells whether another writer changed any of these subjects
    meanwhile, and if one did, the work is done again under the locks.

    Returns each record as stored (not for a batch), how many were new, the subjects
    this transaction changed (new records, or a company's kind learnt: the only ones it
    holds the locks of, so the only ones whose states it may `refresh`), and their new
    states if they were computed already (for `refresh`)."""
    rules = ctx.rules
    seen = newest_seen(conn)
    plan = _plan(ctx, conn, items, batch, precompute=True)
    if not plan.new:
        return _as_stored(ctx, conn, items, batch), 0, [], None
    now = datetime.now(UTC)
    dialect = conn.dialect.name
    stamp = driver_timestamp(dialect, now)
    touched = sorted({r.subject for r in plan.new})
    driver_sql(conn, "INSERT INTO subjects (id, type, created_at, kind) VALUES (?, ?, ?, ?)"
                     " ON CONFLICT (id) DO NOTHING",
               [(sid, plan.stype_of[sid], stamp, plan.kind_now[sid]) for sid in touched])
    lock_subjects(conn, touched)  # SQLite: the insert took the write lock
    if _changed_since(conn, seen, touched):  # another writer was here: again, locked
        plan = _plan(ctx, conn, items, batch, precompute=False)
        if not plan.new:  # it stored these very records (a retry raced its original)
            return _as_stored(ctx, conn, items, batch), 0, [], None
    for sid in sorted(plan.changed_kind):
        conn.execute(subjects.update().where(subjects.c.id == sid)
                     .values(kind=plan.kind_now[sid]))
    rows = [(r.id, r.subject, r.kind, r.channel, driver_date(conn, r.day), r.evidence,
             r.confidence,
             "pending" if rules.needs_review(r.kind, r.confidence) else "active",
             stamp, who.id, rules.version) for r in sorted(plan.new, key=lambda r: r.id)]
    result = conn.exec_driver_sql(placeholders(
        "INSERT INTO records (id, subject_id, kind, channel, occurred_on, evidence,"
        " confidence, status, recorded_at, recorded_by, policy_version) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING", dialect), rows)
    computed = plan.computed
    if result.rowcount == len(rows):
        inserted = {r.id for r in plan.new}
    else:  # another writer stored some of these ids meanwhile (same content, or 409)
        computed = None
        stored = _records_by_id(conn, [r.id for r in plan.new])
        inserted = set()
        for r in plan.new:
            row = stored[r.id]
            if not _same_row(row, r):
                raise Conflict(f"record {r.id!r} exists with other content; record ids are"
                               " the client's keys")
            if row[-2:] == (who.id, _as_read(conn, now)):
                inserted.add(r.id)
    changed = sorted({r.subject for r in plan.new if r.id in inserted} | plan.changed_kind)
    return _as_stored(ctx, conn, items, batch), len(inserted), changed, computed


def _as_stored(ctx: Ctx, conn: sa.Connection, items: list[RecordIn], batch: bool,
               ) -> list[dict]:
    """A single record as stored (a batch answers with counts only)."""
    if batch:
        return []
    return [record_out(row, ctx.rules) for row in
            _records_by_id(conn, [items[0].id], full=True).values()]


def _changed_since(conn: sa.Connection, seen: int, ids: list[str]) -> bool:
    """Whether the change log names any of these subjects (or everyone) after `seen`,
    or was pruned past it."""
    floor = conn.exec_driver_sql("SELECT MAX(seq) FROM state_changes_floor").scalar() or 0
    if floor > seen:
        return True
    named = {sid for (sid,) in driver_sql(
        conn, "SELECT subject_id FROM state_changes WHERE seq > ?", (seen,))}
    return bool(named) and (ALL in named or not named.isdisjoint(ids))


def _as_read(conn: sa.Connection, at: datetime) -> datetime:
    """`at` as a timestamp column reads back (SQLite keeps no time zone)."""
    return at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else at


def _subject_tuples(conn: sa.Connection, ids: list[str]) -> dict[str, tuple]:
    out = {}
    for part in chunks(ids, 5000):
        out.update((sid, (t, g, k)) for sid, t, g, k in driver_sql(
            conn, "SELECT id, type, guardian_id, kind FROM subjects WHERE id IN"
                  f" ({','.join('?' * len(part))})", tuple(part)))
    return out


_CONTENT = ("SELECT id, subject_id, kind, channel, occurred_on, evidence, confidence,"
            " recorded_by, recorded_at FROM records WHERE id IN ")


def _records_by_id(conn: sa.Connection, ids: list[str], full: bool = False,
                   ) -> dict[str, Any]:
    """Stored records by id: their content as plain tuples (id, subject, kind, channel,
    day, evidence, confidence, recorded_by, recorded_at), or `full` rows."""
    out: dict[str, Any] = {}
    for part in chunks(ids, 5000):
        if full:
            out.update({r.id: r for r in conn.execute(sa.select(records)
                                                      .where(records.c.id.in_(part)))})
            continue
        for row in driver_sql(conn, _CONTENT + f"({','.join('?' * len(part))})", tuple(part)):
            day = row[4] if isinstance(row[4], date) else date.fromisoformat(row[4])
            at = row[8] if isinstance(row[8], datetime) else datetime.fromisoformat(row[8])
            out[row[0]] = (*row[:4], day, row[5], row[6], row[7], at)
    return out


def _same(a: RecordIn, b: RecordIn) -> bool:
    return (a.subject, a.kind, a.channel, a.day, a.evidence, a.confidence) == (
        b.subject, b.kind, b.channel, b.day, b.evidence, b.confidence)


def _same_row(row: tuple, r: RecordIn) -> bool:
    return row[1:7] == (r.subject, r.kind, r.channel, r.day, r.evidence, r.confidence)
