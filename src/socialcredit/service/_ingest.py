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
from socialcredit.service._app import _insert
from socialcredit.service._checks import log_changes
from socialcredit.service._db import make_engine, records, subject_states, subjects
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
        ins = _insert(conn)
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
            conn.execute(ins(subjects).on_conflict_do_nothing(),
                         [{"id": sid, "type": t, "created_at": now} for sid, t in seen.items()])
            conn.execute(ins(records).on_conflict_do_nothing(), [
                {"id": f"sim:{row0 + i}", "subject_id": sids[i], "kind": cols["kind"][i],
                 "channel": cols["channel"][i],
                 "occurred_on": start + timedelta(days=cols["day"][i]),
                 "evidence": None, "confidence": None, "status": "active",
                 "recorded_at": now, "recorded_by": "ingest", "policy_version": rules.version}
                for i in range(n)])
            row0 += n
            if progress:
                progress(row0, pf.metadata.num_rows)
        log_changes(conn, None)  # running services drop every state they hold
    return row0
