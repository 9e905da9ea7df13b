from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engine._kernel import FALSE, FALSE_POSITIVE, MISATTRIBUTED
from socialcredit.engine._plan import TypePlan

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
])


class LedgerWriter:
    """Receives record columns from the engine and appends them to one Parquet file.

    `subject` and `doer` are indices within the subject type; `doer` is -1 for a false
    positive (nobody did it) and differs from `subject` for a misattributed record.
    """

    def __init__(self, path: Path, plans: dict[str, TypePlan]) -> None:
        self.path = path
        self.plans = plans
        self.rows = 0
        self._writer = pq.ParquetWriter(path, LEDGER_SCHEMA, compression="zstd")

    def __call__(self, type_name: str, cols: dict[str, np.ndarray]) -> None:
        plan = self.plans[type_name]
        n = cols["day"].shape[0]
        if n == 0:
            return
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
        ], schema=LEDGER_SCHEMA)
        self._writer.write_table(table)
        self.rows += n

    def close(self) -> None:
        self._writer.close()
