"""The columnar ledger: every record of a run, written to Parquet chunk by chunk, a part
file per block of the society."""

from socialcredit.ledger._writer import (
    LEDGER_DIR,
    LEDGER_SCHEMA,
    SUBJECTS_DIR,
    SUBJECTS_SCHEMA,
    LedgerWriter,
    read_parts,
    write_subjects,
)

__all__ = ["LEDGER_DIR", "LEDGER_SCHEMA", "SUBJECTS_DIR", "SUBJECTS_SCHEMA", "LedgerWriter",
           "read_parts", "write_subjects"]
