"""Load a simulated ledger (`simulate --ledger`) into the service's database.

Subjects become `p<index>` (persons) and `c<index>` (companies); record ids are
`sim:<row>`, so loading the same ledger twice stores nothing twice. Day d of the run
becomes `start + d`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from socialcredit.errors import RunOutputError
from socialcredit.service._checks import log_changes
from socialcredit.service._db import (
    driver_date,
    driver_sql,
    driver_timestamp,
    make_engine,
    subject_states,
)
from socialcredit.service._rules import Rules

PREFIX = {"person": "p", "company": "c"}


def subject_id(subject_type: str, index: int) -> str:
    return f"{PREFIX[subject_type]}{index}"


def ingest_ledger(path: str | Path, db_url: str, rules: Rules, start: date,
                  batch: int = 50_000, progress=None) -> int:  # noqa: ANN001
    """Insert every record of the ledger; returns the number of rows read."""
    p = Path(path)
    if not p.is_file():
        raise RunOutputError(f"{p}: no such ledger file (write one with simulate --ledger)")
    try:
        pf = pq.ParquetFile(p)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise RunOutputError(f"{p}: not a Parquet ledger ({exc})") from exc
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    row0 = 0
    with engine.begin() as conn:
        conn.execute(subject_states.delete())  # a cache: recomputed on the next read
        at = driver_timestamp(conn.dialect.name, now)
        days: list = []  # day index -> the date as the driver stores it
        for chunk in pf.iter_batches(batch_size=batch):
            cols = chunk.to_pydict()
            n = len(cols["day"])
            sids = [subject_id(t, s) for t, s in zip(cols["subject_type"], cols["subject"],
                                                      strict=True)]
            unknown = set(cols["kind"]) - set(rules.kind_type)
            if unknown:
                raise RunOutputError(f"{p}: kinds {sorted(unknown)} are not in policy"
                                     f" {rules.version}")
            seen = {}
            for sid, t in zip(sids, cols["subject_type"], strict=True):
                seen.setdefault(sid, t)
            driver_sql(conn, "INSERT INTO subjects (id, type, created_at) VALUES (?, ?, ?)"
                              " ON CONFLICT DO NOTHING",
                        [(sid, t, at) for sid, t in seen.items()])
            last = max(cols["day"], default=-1)
            days += [driver_date(conn, start + timedelta(days=d))
                     for d in range(len(days), last + 1)]
            # plain DBAPI rows: SQLAlchemy's per-row work cost more than SQLite's inserts
            driver_sql(conn, "INSERT INTO records (id, subject_id, kind, channel,"
                              " occurred_on, status, recorded_at, recorded_by,"
                              " policy_version) VALUES (?, ?, ?, ?, ?, 'active', ?, 'ingest', ?)"
                              " ON CONFLICT DO NOTHING",
                        [(f"sim:{row0 + i}", sid, kind, channel, days[d], at, rules.version)
                         for i, (sid, kind, channel, d) in enumerate(zip(
                             sids, cols["kind"], cols["channel"], cols["day"], strict=True))])
            row0 += n
            if progress:
                progress(row0, pf.metadata.num_rows)
        log_changes(conn, None)  # running services drop every state they hold
    return row0
