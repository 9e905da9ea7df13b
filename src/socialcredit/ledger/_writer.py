"""The ledger (every record of a run) and the society it is about, as partitioned
Parquet datasets (a directory of part files each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engine import FALSE, FALSE_POSITIVE, MISATTRIBUTED, TypePlan
from socialcredit.policy import Policy
from socialcredit.population import Population

LEDGER_DIR = "ledger"
SUBJECTS_DIR = "subjects"

LEDGER_SCHEMA = pa.schema([
    ("day", pa.int32()),
    ("subject_type", pa.dictionary(pa.int8(), pa.string())),
    ("subject", pa.int64()),
    ("kind", pa.dictionary(pa.int16(), pa.string())),
    ("channel", pa.dictionary(pa.int16(), pa.string())),
    ("points", pa.int32()),
    ("true", pa.bool_()),
    ("misattributed", pa.bool_()),
    ("false_positive", pa.bool_()),
    ("doer", pa.int64()),
    ("n", pa.int32()),
])

SUBJECTS_SCHEMA = pa.schema([
    ("subject_type", pa.dictionary(pa.int8(), pa.string())),
    ("subject", pa.int64()),
    ("guardian", pa.int64()),
    ("company_kind", pa.dictionary(pa.int16(), pa.string())),
    ("region", pa.int32()),
    ("child", pa.bool_()),
])


class LedgerWriter:
    """Receives record columns from the engine and writes them as a partitioned Parquet
    dataset under `out`: `ledger/part-<block>-<type>.parquet`, one file per block of the
    society and subject type (so shards on other processes or machines write their own
    parts), and, through `society(block, population)`, `subjects/part-<block>.parquet`.

    `subject` and `doer` are global ids within the subject type; `doer` is -1 for a
    false positive (nobody did it) and differs from `subject` for a misattributed
    record. `n` numbers the subject's records of one kind on one day (0 for the first),
    so that (subject, day, kind, n) names a record: `engine._identity.sim_record_id`.
    Read the parts back with `read_parts` (or DuckDB: `read_parquet('ledger/*.parquet')`).
    """

    def __init__(self, out: Path, plans: dict[str, TypePlan], policy: Policy) -> None:
        self.dir = Path(out) / LEDGER_DIR
        self.subjects_dir = Path(out) / SUBJECTS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.subjects_dir.mkdir(parents=True, exist_ok=True)
        self.plans = plans
        self.block = policy.population.block
        self.rows = 0
        self._part: tuple[int, str] | None = None
        self._writer: pq.ParquetWriter | None = None

    def __call__(self, type_name: str, cols: dict[str, np.ndarray]) -> None:
        plan = self.plans[type_name]
        n = cols["day"].shape[0]
        if n == 0:
            return
        part = (int(cols["subject"][0]) // self.block, type_name)
        if part != self._part:  # the engine hands over chunks within one block
            self._close_part()
            self._writer = pq.ParquetWriter(
                self.dir / f"part-{part[0]:06d}-{type_name}.parquet", LEDGER_SCHEMA,
                compression="zstd")
            self._part = part
        kinds = pa.array([k.name for k in plan.kinds], pa.string())
        channels = pa.array([k.channel for k in plan.kinds], pa.string())
        points = np.array([k.points for k in plan.kinds], dtype=np.int32)
        kind_idx = cols["kind"].astype(np.int16)
        flags = cols["flags"]
        table = pa.Table.from_arrays([
            pa.array(cols["day"], pa.int32()),
            pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), pa.array([type_name])),
            pa.array(cols["subject"], pa.int64()),
            pa.DictionaryArray.from_arrays(kind_idx, kinds),
            pa.DictionaryArray.from_arrays(kind_idx, channels),
            pa.array(points[kind_idx], pa.int32()),
            pa.array((flags & FALSE) == 0),
            pa.array((flags & MISATTRIBUTED) != 0),
            pa.array((flags & FALSE_POSITIVE) != 0),
            pa.array(cols["doer"], pa.int64()),
            pa.array(_numbers(cols["subject"], cols["day"], kind_idx), pa.int32()),
        ], schema=LEDGER_SCHEMA)
        self._writer.write_table(table)  # type: ignore[union-attr]
        self.rows += n

    def society(self, block: int, population: Population) -> None:
        """Write block `block`'s subjects (`write_subjects`)."""
        write_subjects(self.subjects_dir / f"part-{block:06d}.parquet", population,
                       self.plans)

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._part = None

    def close(self) -> None:
        self._close_part()


def read_parts(path: Path) -> list[Path]:
    """The Parquet files of a dataset (a directory of parts, in name order) or the one
    file given."""
    p = Path(path)
    return sorted(p.glob("*.parquet")) if p.is_dir() else [p]


def _numbers(subject: np.ndarray, day: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Each row's number among the earlier rows of the same (subject, day, kind). The
    engine hands over whole subjects at a time, so a call holds every such row."""
    order = np.lexsort((np.arange(subject.shape[0]), kind, day, subject))
    s, d, k = subject[order], day[order], kind[order]
    new = np.ones(order.shape[0], bool)
    new[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1]) | (k[1:] != k[:-1])
    start = np.maximum.accumulate(np.where(new, np.arange(order.shape[0]), 0))
    out = np.empty(order.shape[0], np.int32)
    out[order] = np.arange(order.shape[0]) - start
    return out


def write_subjects(path: Path, population: Population, plans: dict[str, TypePlan]) -> int:
    """Write a society, or a block of it (a part of subjects/): every person (with the
    guardian of each child) and company (with its kind), by global id, so that `ingest`
    can load subjects who have no record, and link children to their guardians.
    Returns the rows written."""
    tables = []
    n = population.n_persons
    tables.append(pa.Table.from_arrays([
        pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), pa.array(["person"])),
        pa.array(np.arange(n, dtype=np.int64) + population.person_base),
        pa.array(population.guardian.astype(np.int64)),
        pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int16), mask=np.ones(n, bool)),
                                       pa.array([""], pa.string())),
        pa.array(population.person_region.astype(np.int32)),
        pa.array(population.is_child),
    ], schema=SUBJECTS_SCHEMA))
    m = population.n_companies
    segments = plans["company"].segments if "company" in plans else [""]
    tables.append(pa.Table.from_arrays([
        pa.DictionaryArray.from_arrays(np.zeros(m, np.int8), pa.array(["company"])),
        pa.array(np.arange(m, dtype=np.int64) + population.company_base),
        pa.array(np.full(m, -1, np.int64)),
        pa.DictionaryArray.from_arrays(population.company_kind.astype(np.int16),
                                       pa.array(segments, pa.string())),
        pa.array(population.company_region.astype(np.int32)),
        pa.array(np.zeros(m, bool)),
    ], schema=SUBJECTS_SCHEMA))
    table = pa.concat_tables(tables)
    pq.write_table(table, path, compression="zstd")
    return table.num_rows
