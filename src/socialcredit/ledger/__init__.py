"""The columnar ledger: every record of a run, written to Parquet chunk by chunk."""

from socialcredit.ledger._writer import (
    LEDGER_SCHEMA,
    SUBJECTS_SCHEMA,
    LedgerWriter,
    write_subjects,
)

__all__ = ["LEDGER_SCHEMA", "SUBJECTS_SCHEMA", "LedgerWriter", "write_subjects"]
