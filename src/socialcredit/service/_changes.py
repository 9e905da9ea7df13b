"""The change log: every write that changes what a subject's state would be appends the
subject's id to `state_changes`, in its own transaction and in commit order. Service
processes read the log past the last entry they saw and drop what it names (see
`_cache.StateCache`); a stored state records the log position it was computed at, so a
computation from an older snapshot never overwrites a newer one (`_store.store_states`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from socialcredit.service._db import placeholders, state_changes, state_changes_floor

ALL = "*"  # a change log entry that drops every cached state
TOKENS = "!tokens"  # a token was revoked or changed: processes drop the tokens they hold
_LOCK_KEY = 0x5C0C1A1  # PostgreSQL advisory lock that orders change log entries

# The log keeps about its last KEEP entries: writes prune it every PRUNE_EVERY entries
KEEP = 1_000_000
PRUNE_EVERY = 50_000

NEWEST_SEEN = ("SELECT COALESCE(MAX(seq), 0) FROM (SELECT MAX(seq) AS seq FROM state_changes"
               " UNION ALL SELECT seq FROM state_changes_floor) AS s")


def log_changes(conn: sa.Connection, subject_ids: Iterable[str] | None) -> int | None:
    """Note, in the caller's write transaction, that these subjects' states changed
    (None: every subject's), and return the newest entry's number (None: nothing noted).

    Call it after the transaction's other row changes: on PostgreSQL it takes a lock
    held to commit, so that log entries become visible in the order of their numbers
    (a reader that has seen entry n has seen every entry before it)."""
    ids = [ALL] if subject_ids is None else sorted(set(subject_ids))
    if not ids:
        return None
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    if subject_ids is None:
        # '*' outranks every earlier entry: a process behind any of them reads it (it
        # comes after all of them) and drops everything, so they can go. The last one
        # stays, so that SQLite does not number the '*' from 1 again.
        newest = sa.select(sa.func.max(state_changes.c.seq)).scalar_subquery()
        conn.execute(state_changes.delete().where(state_changes.c.seq < newest))
    conn.exec_driver_sql(placeholders("INSERT INTO state_changes (subject_id) VALUES (?)",
                                      conn.dialect.name), [(s,) for s in ids])
    newest = conn.execute(sa.select(sa.func.max(state_changes.c.seq))).scalar()
    if newest // PRUNE_EVERY > (newest - len(ids)) // PRUNE_EVERY and newest > KEEP:
        # a process behind the floor has missed pruned entries: it drops everything
        floor = newest - KEEP
        conn.execute(state_changes.delete().where(state_changes.c.seq <= floor))
        conn.execute(state_changes_floor.update().where(state_changes_floor.c.seq < floor)
                     .values(seq=floor))
    return newest


def newest_seen(conn: sa.Connection) -> int:
    """The newest change log entry this connection's snapshot has seen."""
    return conn.exec_driver_sql(NEWEST_SEEN).scalar() or 0
