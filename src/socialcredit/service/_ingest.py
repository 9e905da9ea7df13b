"""Load a simulated run (`simulate --ledger`) into the service's database.

Subjects become `p<index>` (persons) and `c<index>` (companies), and records
`sim:<subject>:<day>:<kind>:<n>` (`engine._identity`): the identities the simulator drew
credit repair from, so the service, under the same seed, repairs the same records.
Loading the same ledger twice stores nothing twice. Day d of the run becomes
`start + d`. The ledger is the run's `ledger/` directory (a part file per block of the
society; a single Parquet file, as older runs wrote, is read too). With the run's
`subjects/` beside it, every subject is loaded, including those without a record,
children with their guardians, and each company with its kind.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from socialcredit.engine import sim_record_id, sim_subject_id
from socialcredit.errors import RunOutputError
from socialcredit.ledger import SUBJECTS_DIR, read_parts
from socialcredit.service._changes import log_changes
from socialcredit.service._db import (
    driver_date,
    driver_sql,
    driver_timestamp,
    make_engine,
    subject_states,
)
from socialcredit.service._rules import Rules


def run_seed(ledger: str | Path) -> int | None:
    """The seed of the run that wrote this ledger (its run.json), if known."""
    manifest = Path(ledger).parent / "run.json"
    try:
        return int(json.loads(manifest.read_text(encoding="utf-8"))["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ingest_ledger(path: str | Path, db_url: str, rules: Rules, start: date,
                  batch: int = 50_000, progress=None,  # noqa: ANN001
                  subjects: str | Path | None = None) -> int:
    """Insert the run's subjects (if `subjects`, or subjects/ beside the ledger, exists)
    and every record of the ledger; returns the number of records read."""
    p = check_ledger(path)
    parts = [_parquet(f) for f in read_parts(p)]
    for f, pf in zip(read_parts(p), parts, strict=True):
        if "n" not in pf.schema_arrow.names:
            raise RunOutputError(f"{f}: a ledger from an older version (no column 'n'); run"
                                 " simulate --ledger again")
    total = sum(pf.metadata.num_rows for pf in parts)
    society = Path(subjects) if subjects is not None else _beside(p)
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    row0 = 0
    with engine.begin() as conn:
        conn.execute(subject_states.delete())  # a cache: recomputed on the next read
        at = driver_timestamp(conn.dialect.name, now)
        if subjects is not None or society.exists():
            for part in read_parts(society):
                _subjects(conn, part, rules, at)
        days: list = []  # day index -> the date as the driver stores it
        for chunk in (c for pf in parts for c in pf.iter_batches(batch_size=batch)):
            cols = chunk.to_pydict()
            n = len(cols["day"])
            sids = [sim_subject_id(t, s) for t, s in zip(cols["subject_type"], cols["subject"],
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
            if row0 == 0:
                _same_start(conn, p, sids[0], cols, start)
            # plain DBAPI rows: SQLAlchemy's per-row work cost more than SQLite's inserts
            driver_sql(conn, "INSERT INTO records (id, subject_id, kind, channel,"
                              " occurred_on, status, recorded_at, recorded_by,"
                              " policy_version) VALUES (?, ?, ?, ?, ?, 'active', ?, 'ingest', ?)"
                              " ON CONFLICT DO NOTHING",
                        [(sim_record_id(sid, d, kind, k), sid, kind, channel, days[d], at,
                          rules.version)
                         for sid, kind, channel, d, k in zip(
                             sids, cols["kind"], cols["channel"], cols["day"], cols["n"],
                             strict=True)])
            row0 += n
            if progress:
                progress(row0, total)
        log_changes(conn, None)  # running services drop every state they hold
    return row0


def _same_start(conn, path: Path, sid: str, cols: dict, start: date) -> None:  # noqa: ANN001
    """Refuse to load a ledger again under another start date: its records are already
    stored (by id) with the dates of the first load, and would silently keep them."""
    rid = sim_record_id(sid, cols["day"][0], cols["kind"][0], cols["n"][0])
    stored = driver_sql(conn, "SELECT occurred_on FROM records WHERE id = ?", (rid,))
    if stored:
        on = stored[0][0]
        on = date.fromisoformat(on) if isinstance(on, str) else on
        first = on - timedelta(days=cols["day"][0])
        if first != start:
            raise RunOutputError(f"{path}: this ledger was loaded before with day 0 on"
                                 f" {first.isoformat()}, not {start.isoformat()}; use that"
                                 " --start, or a new database")


def check_ledger(path: str | Path) -> Path:
    """The ledger at `path` (a run's ledger/ or one Parquet file), or a clear error before
    anything is written."""
    p = Path(path)
    if not p.exists():
        raise RunOutputError(f"{p}: no such ledger (write one with simulate --ledger: the"
                             " run directory's ledger/)")
    if p.is_dir() and (p / "run.json").is_file():
        raise RunOutputError(f"{p} is a run directory: give its ledger, {p / 'ledger'}"
                             " (written by simulate --ledger)")
    if p.is_dir() and not read_parts(p):
        raise RunOutputError(f"{p}: no ledger parts (*.parquet) in this directory")
    return p


def _beside(ledger: Path) -> Path:
    """The society written with a ledger: subjects/ in the run directory (subjects.parquet
    beside an older single-file ledger)."""
    if ledger.is_dir():
        return ledger.parent / SUBJECTS_DIR
    return ledger.parent / "subjects.parquet"


def _parquet(p: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(p)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise RunOutputError(f"{p}: not a Parquet file ({exc})") from exc


def _subjects(conn, path: Path, rules: Rules, at) -> None:  # noqa: ANN001
    """Every subject of a part of the run's society: adults and companies first, then
    children linked to their guardians (a guardian must exist before its child; both are
    in the same block, so in the same part)."""
    if not path.is_file():
        raise RunOutputError(f"{path}: no such subjects file")
    cols = _parquet(path).read().to_pydict()
    adults, children = [], []
    child = cols.get("child") or [None] * len(cols["subject"])  # older files: no column
    for t, s, g, kind, is_child in zip(cols["subject_type"], cols["subject"],
                                       cols["guardian"], cols["company_kind"], child,
                                       strict=True):
        if t not in rules.plans:  # a type this policy does not score (nor its children)
            continue
        if is_child and (g is None or g < 0):
            continue  # a child of a block without adults: no guardian, no file, unscored
        if kind is not None and kind not in rules.company_kinds:
            raise RunOutputError(f"{path}: company kind {kind!r} is not in policy"
                                 f" {rules.version}")
        sid = sim_subject_id(t, s)
        if g is not None and g >= 0:
            children.append((sid, t, sim_subject_id("person", g), None, at))
        else:
            adults.append((sid, t, None, kind, at))
    for rows in (adults, children):
        for k in range(0, len(rows), 50_000):
            driver_sql(conn, "INSERT INTO subjects (id, type, guardian_id, kind, created_at)"
                              " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        rows[k:k + 50_000])
