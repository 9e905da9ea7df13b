"""The check path: gatekeepers ask far more often than authorities record.

Two pieces make a check cheap without weakening what it promises:

- `StateCache`: each service process keeps the subject states it has read (score,
  grade, lists, and the dates they hold for) in memory. Every write that changes what
  a subject's state would be appends the subject's id to the `state_changes` log in
  its own transaction (`log_changes`), in commit order. Before answering, a process
  reads the log past the last entry it saw and drops the states it names. So a check
  never answers from a state older than the last committed write it could see, even
  with several processes (workers, `ingest`) on one database.
- `AuditWriter`: a check is answered only once its audit row is committed. The audit
  rows of all waiting requests are written in one transaction (a group commit), so
  many concurrent checks share one commit.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from operator import attrgetter
from typing import Any

import orjson
import sqlalchemy as sa

from socialcredit.service._db import (
    driver_timestamp,
    placeholders,
    state_changes,
    state_changes_floor,
)
from socialcredit.service._rules import Rules

ALL = "*"  # a change log entry that drops every cached state
_LOCK_KEY = 0x5C0C1A1  # PostgreSQL advisory lock that orders change log entries


# The log keeps about its last KEEP entries: writes prune it every PRUNE_EVERY entries
KEEP = 1_000_000
PRUNE_EVERY = 50_000


def log_changes(conn: sa.Connection, subject_ids: Iterable[str] | None) -> None:
    """Note, in the caller's write transaction, that these subjects' states changed
    (None: every subject's).

    Call it after the transaction's other row changes: on PostgreSQL it takes a lock
    held to commit, so that log entries become visible in the order of their numbers
    (a reader that has seen entry n has seen every entry before it)."""
    ids = [ALL] if subject_ids is None else sorted(set(subject_ids))
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    if subject_ids is None:
        # '*' outranks every earlier entry: a process behind any of them reads it (it
        # comes after all of them) and drops everything, so they can go. The last one
        # stays, so that SQLite does not number the '*' from 1 again.
        newest = sa.select(sa.func.max(state_changes.c.seq)).scalar_subquery()
        conn.execute(state_changes.delete().where(state_changes.c.seq < newest))
    conn.execute(state_changes.insert(), [{"subject_id": s} for s in ids])
    newest = conn.execute(sa.select(sa.func.max(state_changes.c.seq))).scalar()
    if newest // PRUNE_EVERY > (newest - len(ids)) // PRUNE_EVERY and newest > KEEP:
        # a process behind the floor has missed pruned entries: it drops everything
        floor = newest - KEEP
        conn.execute(state_changes.delete().where(state_changes.c.seq <= floor))
        conn.execute(state_changes_floor.update().where(state_changes_floor.c.seq < floor)
                     .values(seq=floor))


class _Raw:
    """One DBAPI connection in autocommit mode, for the short reads of the check path
    (SQLAlchemy's statement building costs more than these reads)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self._conn: Any = None

    def rows(self, text: str, params: tuple | list = ()) -> list[tuple]:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
            if self.pg:
                self._conn.driver_connection.autocommit = True
        try:
            cur = self._conn.cursor()
            cur.execute(placeholders(text, self.engine.dialect.name), params)
            out = cur.fetchall()
            cur.close()
            return out
        except Exception:
            conn, self._conn = self._conn, None  # reconnect on the next call
            conn.invalidate()
            raise


class StateCache:
    """Subject states as of the last change this process has seen (see module doc)."""

    MAX_ENTRIES = 4_000_000

    def __init__(self, engine: sa.Engine, rules: Rules) -> None:
        self.rules = rules
        self.raw = _Raw(engine)
        self.last_seq: int | None = None
        self.kinds: dict[str, tuple[str, str | None]] = {}  # id -> (type, guardian)
        self.states: dict[str, tuple] = {}  # scored id -> (type, score, grade, lists,
        #                                       computed_for, valid_until), interned
        self._interned: dict[tuple, tuple] = {}
        self._decisions: dict[tuple, Decision] = {}  # (state, service) -> decision
        self._by_state: dict[tuple, Decision] = {}  # the same, without the dates
        # what `_lookup` found, kept for one day: id -> decision key of a state that
        # holds that day. A change drops the subject's entry; a change to a guardian
        # drops them all (its children's entries are its state).
        self._ready: dict[str, tuple] = {}
        self._ready_day = ""
        self._guardians: set[str] = set()

    def clear(self) -> None:
        self.kinds.clear()
        self.states.clear()
        self._interned.clear()
        self._ready.clear()
        self._guardians.clear()

    def sync(self) -> None:
        """Drop the states that writes committed since the last look have changed."""
        if self.last_seq is None:
            self.last_seq = self.raw.rows(
                "SELECT COALESCE(MAX(seq), 0) FROM (SELECT MAX(seq) AS seq FROM state_changes"
                " UNION ALL SELECT seq FROM state_changes_floor) AS s")[0][0]
            return
        # a floor past the last entry seen reads as a '*' there: entries were pruned
        for seq, sid in self.raw.rows(
                "SELECT seq, subject_id FROM state_changes WHERE seq > ? UNION ALL"
                " SELECT seq, '*' FROM state_changes_floor WHERE seq > ? ORDER BY 1",
                (self.last_seq, self.last_seq)):
            self.last_seq = seq
            if sid == ALL:
                self.clear()
            else:
                self.kinds.pop(sid, None)
                self.states.pop(sid, None)
                self._ready.pop(sid, None)
                if sid in self._guardians:
                    self._ready.clear()

    def resolve(self, ids: list[str], today: str) -> tuple[list[tuple | None], list[str],
                                                          list[str]]:
        """For each subject, the decision key of its stored state if that holds today
        (else None); and the subjects that do not exist, and those whose state must be
        computed first (`adopt` fills their keys in)."""
        self.sync()
        if today != self._ready_day:
            self._ready.clear()
            self._ready_day = today
        keys = list(map(self._ready.get, ids))
        if None not in keys:
            return keys, [], []
        rest = [sid for sid, k in zip(ids, keys, strict=True) if k is None]
        found, unknown, stale = self._lookup(rest, today)
        if unknown or stale:
            again = sorted(set(unknown) | set(stale))
            self._load(again)
            found2, unknown, stale = self._lookup(again, today)
            self._fill(found, rest, dict(zip(again, found2, strict=True)))
        more = {sid: k for sid, k in zip(rest, found, strict=True) if k is not None}
        self._ready.update(more)
        self._fill(keys, ids, more)
        return keys, unknown, stale

    def _lookup(self, ids: list[str], today: str) -> tuple[list, list, list]:
        keys: list[tuple | None] = []
        unknown, stale = [], []
        kind_of, state_of = self.kinds.get, self.states.get
        for sid in ids:
            kind = kind_of(sid)
            if kind is None:
                unknown.append(sid)
                keys.append(None)
                continue
            guardian = kind[1]
            st = state_of(guardian or sid)
            if st is None or not st[4] <= today <= st[5]:
                stale.append(sid)
                keys.append(None)
            elif guardian:
                keys.append(self._child_key(st))
            else:
                keys.append(st)
        return keys, unknown, stale

    def _child_key(self, st: tuple) -> tuple:
        key = ("child", st)
        return self._interned.setdefault(key, key)

    @staticmethod
    def _fill(keys: list, ids: list[str], more: dict[str, tuple | None]) -> None:
        for i, k in enumerate(keys):
            if k is None:
                keys[i] = more.get(ids[i])

    def scored(self, ids: list[str]) -> list[str]:
        """The subjects whose states decide for `ids` (a child's is its guardian's)."""
        return sorted({self.kinds[sid][1] or sid for sid in ids})

    def adopt(self, keys: list, ids: list[str], stale: list[str], fresh: dict[str, tuple],
              seen: int | None) -> None:
        """Fill in the keys of the `stale` subjects from states just computed (`fresh`,
        by scored subject). They are kept for later checks only if no change was seen
        since `seen`, the log position before they were read: a change in between might
        not be in them."""
        keep = self.last_seq == seen
        more = {}
        for sid in stale:
            guardian = self.kinds[sid][1]
            st = fresh[guardian or sid]
            st = self._interned.setdefault(st, st)
            if keep:
                self.states[guardian or sid] = st
            more[sid] = self._child_key(st) if guardian else st
            if keep and st[4] <= self._ready_day <= st[5]:
                self._ready[sid] = more[sid]
        self._fill(keys, ids, more)

    def decide_all(self, keys: list[tuple], services: list[str]) -> list[Decision]:
        """The decisions for many keys; with one service (the usual batch), one lookup
        per distinct state."""
        if len(set(services)) > 1:
            return [self.decide(k, s) for k, s in zip(keys, services, strict=True)]
        service = services[0] if services else ""
        ids = list(map(id, keys))  # keys are interned and alive here: ids are unique
        chosen = {i: self.decide(k, service) for i, k in dict(zip(ids, keys, strict=True)).items()}
        return list(map(chosen.__getitem__, ids))

    def _load(self, ids: list[str]) -> None:
        if len(self.kinds) + len(ids) > self.MAX_ENTRIES:
            self.clear()
        version = self.rules.version
        for k in range(0, len(ids), 5000):
            part = ids[k:k + 5000]
            for sid, stype, guardian, ssid, score, grade, lists, since, until, pv in \
                    self.raw.rows(
                        "SELECT s.id, s.type, s.guardian_id, t.subject_id, t.score, t.grade,"
                        " t.lists, t.computed_for, t.valid_until, t.policy_version"
                        " FROM subjects s LEFT JOIN subject_states t"
                        " ON t.subject_id = COALESCE(s.guardian_id, s.id)"
                        f" WHERE s.id IN ({','.join('?' * len(part))})", part):
                kind = (stype, guardian)
                self.kinds[sid] = self._interned.setdefault(kind, kind)
                if guardian:
                    self._guardians.add(guardian)
                if ssid is not None and pv == version:
                    gtype = "person" if guardian else stype
                    key = (gtype, score, grade, lists, str(since), str(until))
                    self.states[ssid] = self._interned.setdefault(key, key)

    def decide(self, key: tuple, service: str) -> Decision:
        """The decision for a stored state (or a child's guardian's): it depends only on
        the state, so it is computed once."""
        hit = self._decisions.get((key, service))
        if hit is None:
            if len(self._decisions) > 200_000:
                self._decisions.clear()
            # the dates a state holds for do not change the decision
            dkey = ("child", *key[1][:4]) if key[0] == "child" else key[:4]
            hit = self._by_state.get((dkey, service))
            if hit is None:
                rules = self.rules
                if dkey[0] == "child":
                    gtype, _, grade, lists = dkey[1:]
                    answer = rules.decision(gtype, grade, lists, service, child=True)
                else:
                    stype, _, grade, lists = dkey
                    answer = rules.decision(stype, grade, lists, service)
                hit = make_decision(service, answer, rules.version)
                self._by_state[(dkey, service)] = hit
            self._decisions[(key, service)] = hit
        return hit


@dataclass(frozen=True, eq=False, slots=True)
class Decision:
    """A check's answer (allowed, rule, legal_basis) for one service, with its audit
    detail and the JSON of a result after its subject id."""

    service: str
    answer: dict[str, Any]
    detail: str
    tail: str

    def result(self, subject: str) -> bytes:
        """The result's JSON; subject ids match the API's id pattern, so they need no
        escaping."""
        return (_OPEN + subject + self.tail).encode()


_OPEN = '{"subject":"'


def make_decision(service: str, answer: dict[str, Any], version: str) -> Decision:
    return Decision(service, answer, json.dumps({"service": service, **answer}),
                    '",' + orjson.dumps({"service": service, **answer,
                                         "policy_version": version})[1:].decode())


def results(subjects: list[str], decided: list[Decision]) -> bytes:
    """A batch's answer, {"results": [...]}, in the order asked (joined, not formatted
    one by one: a batch holds up to 10,000)."""
    parts = ["," + _OPEN] * (3 * len(subjects))
    if parts:
        parts[0] = _OPEN
        parts[1::3] = subjects
        parts[2::3] = map(attrgetter("tail"), decided)
    return ('{"results":[' + "".join(parts) + "]}").encode()


@dataclass
class AuditEntry:
    """What one request puts in the audit log: full rows (at, actor, role, action,
    subject_id, detail, reason); or, for a batch check, its one row with its `codes`
    (see `_audit.pack_codes`) last, and the `subjects` it asked about."""

    rows: list[tuple] = field(default_factory=list)
    subjects: list[str] | None = None


class AuditWriter:
    """Audit entries in group commits; `write` returns once its entry is committed (and
    raises if it could not be).

    On SQLite the entries of all requests that reach `write` in one turn of the event
    loop are committed together, on the loop, when the write lock is free at once (a
    commit there takes tens of microseconds, and no thread competes for the GIL). When
    another connection holds the lock, for batch checks (whose subject rows are one
    statement that runs without the GIL, beside the loop), and always on PostgreSQL
    (where a commit waits on the network), a writer thread commits them and waits for
    the lock as long as needed."""

    CHECKPOINT_SECONDS = 0.25
    INSERT = ("INSERT INTO audit (at, actor, role, action, subject_id, detail, reason)"
              " VALUES (?, ?, ?, ?, ?, ?, ?)")
    INSERT_BATCH = ("INSERT INTO audit (at, actor, role, action, subject_id, detail, reason,"
                    " codes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    # SQLite: a batch's subject rows in one statement, in key order (ids need no
    # escaping in JSON: they match the API's id pattern)
    INSERT_SUBJECTS = ("INSERT INTO audit_subjects (audit_id, subject_id, position)"
                       " SELECT ?, value, key FROM json_each(?) ORDER BY value, key")

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.commits = 0  # group commits so far, on the loop and by the thread
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._pending: list[tuple] = []  # (entry, loop, future) for the next inline commit
        self._inline: Any = None  # SQLite connection that never waits for the write lock

    def stamp(self, at: datetime) -> Any:
        """`at` as the column takes it."""
        return driver_timestamp(self.engine.dialect.name, at)

    async def write(self, entry: AuditEntry) -> None:
        """Commit the entry; return once it is committed."""
        await self.submit(entry)

    def submit(self, entry: AuditEntry) -> asyncio.Future:
        """Start committing the entry; the future is done once it is committed. A
        batch's entry goes to the thread at once (its subject rows are one statement
        that runs without the GIL), so the caller can build the answer meanwhile."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if self.pg or entry.subjects is not None:
            self._to_thread([(entry, loop, done)])
        else:
            if not self._pending:
                loop.call_soon(self._commit_inline)
            self._pending.append((entry, loop, done))
        return done

    def _insert(self, conn: Any, entries: list[AuditEntry]) -> None:
        cur = conn.cursor()
        dialect = self.engine.dialect.name
        rows = [r for e in entries if e.subjects is None for r in e.rows]
        if rows:
            cur.executemany(placeholders(self.INSERT, dialect), rows)
        for e in entries:
            if e.subjects is None:
                continue
            if self.pg:
                cur.execute(placeholders(self.INSERT_BATCH, dialect) + " RETURNING id",
                            e.rows[0])
                audit_id = cur.fetchone()[0]
                # COPY's text form, built in one go (ids hold no tab, newline or
                # backslash: they match the API's id pattern)
                with cur.copy("COPY audit_subjects (audit_id, subject_id, position)"
                              " FROM STDIN") as copy:
                    copy.write("".join(map(f"{audit_id}\t{{}}\t{{}}\n".format,
                                           e.subjects, count())))
            else:
                cur.execute(self.INSERT_BATCH, e.rows[0])
                cur.execute(self.INSERT_SUBJECTS,
                            (cur.lastrowid, orjson.dumps(e.subjects).decode()))
        cur.close()

    def _commit_inline(self) -> None:
        batch, self._pending = self._pending, []
        try:
            if self._inline is None:
                self._inline = self.engine.raw_connection()
                cur = self._inline.cursor()
                cur.execute("PRAGMA busy_timeout=0")
                # no checkpoint inside a check's commit (it writes back and syncs the
                # database file, some milliseconds): a thread of its own does them
                cur.execute("PRAGMA wal_autocheckpoint=0")
                self._start(self._checkpoints, "wal-checkpoints")
            self._inline.cursor().execute("BEGIN IMMEDIATE")
        except Exception:  # noqa: BLE001 - locked (or broken): the thread takes over
            self._drop_inline()
            self._to_thread(batch)
            return
        error: BaseException | None = None
        try:
            self._insert(self._inline, [e for e, _, _ in batch])
            self._inline.commit()
            self.commits += 1
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            error = exc
            self._drop_inline()
        for _, _, done in batch:
            _settle(done, error)

    def _drop_inline(self) -> None:
        conn, self._inline = self._inline, None
        if conn is not None:
            conn.invalidate()

    def _to_thread(self, batch: list[tuple]) -> None:
        for item in batch:
            self._queue.put(item)
        self._start(self._run, "audit-writer")

    def _start(self, target: Any, name: str) -> None:
        with self._lock:
            if name not in self._threads:
                self._threads[name] = threading.Thread(target=target, name=name, daemon=True)
                self._threads[name].start()

    def _checkpoints(self) -> None:
        """Copy the WAL back into the database file every so often (SQLite)."""
        conn = None
        while True:
            time.sleep(self.CHECKPOINT_SECONDS)
            try:
                if conn is None:
                    conn = self.engine.raw_connection()
                conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # noqa: BLE001 - try again next time, on a new connection
                if conn is not None:
                    conn.invalidate()
                conn = None

    def _run(self) -> None:
        conn = None
        while True:
            batch = [self._queue.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error: BaseException | None = None
            try:
                if conn is None:
                    conn = self.engine.raw_connection()
                self._insert(conn, [e for e, _, _ in batch])
                conn.commit()
                self.commits += 1
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                error = exc
                if conn is not None:
                    conn.invalidate()
                    conn = None
            for _, loop, done in batch:
                loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: asyncio.Future, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
