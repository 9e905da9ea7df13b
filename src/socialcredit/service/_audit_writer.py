"""Audit rows in group commits: a check is answered only once its audit row is
committed, and the rows of all waiting requests are written in one transaction, so many
concurrent checks share one commit."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any

import orjson
import sqlalchemy as sa

from socialcredit.service._audit import seal, subjects_digest
from socialcredit.service._db import driver_timestamp, placeholders


@dataclass
class AuditEntry:
    """What one request puts in the audit log: full rows (at, actor, role, action,
    subject_id, detail, reason, decision_id, policy_version); or, for a batch check, its
    one row with its `codes` (see `_audit.pack_codes`) last, and the `subjects` it asked
    about."""

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
    SEAL_SECONDS = 5.0
    INSERT = ("INSERT INTO audit (at, actor, role, action, subject_id, detail, reason,"
              " decision_id, policy_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    INSERT_BATCH = ("INSERT INTO audit (at, actor, role, action, subject_id, detail, reason,"
                    " decision_id, policy_version, codes, subjects_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
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
        self._start(self._sealer, "audit-sealer")
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
            row = (*e.rows[0], subjects_digest(e.subjects))
            if self.pg:
                cur.execute(placeholders(self.INSERT_BATCH, dialect) + " RETURNING id", row)
                audit_id = cur.fetchone()[0]
                # COPY's text form, built in one go (ids hold no tab, newline or
                # backslash: they match the API's id pattern)
                with cur.copy("COPY audit_subjects (audit_id, subject_id, position)"
                              " FROM STDIN") as copy:
                    copy.write("".join(map(f"{audit_id}\t{{}}\t{{}}\n".format,
                                           e.subjects, count())))
            else:
                cur.execute(self.INSERT_BATCH, row)
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

    def _sealer(self) -> None:
        """Seal what has been written into the hash chain every SEAL_SECONDS, whatever
        writes it (single checks on SQLite commit on the event loop, everything else
        through the writer thread): rows are never left unsealed until someone reads the
        log. An auditor's read and `db verify-audit` seal first too; a failure is left
        to the next round."""
        sealed_commits = -1
        while True:
            time.sleep(self.SEAL_SECONDS)
            if self.commits == sealed_commits:
                continue  # nothing written since the last seal
            sealed_commits = self.commits
            try:
                with self.engine.begin() as conn:
                    seal(conn)
            except Exception:  # noqa: BLE001 - the next round (or a read) retries
                sealed_commits = -1


def _settle(done: asyncio.Future, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
