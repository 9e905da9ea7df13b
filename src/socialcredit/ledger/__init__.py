"""The columnar ledger: every record of a run, written to Parquet chunk by chunk."""

from socialcredit.ledger._writer import LEDGER_SCHEMA, LedgerWriter

__all__ = ["LEDGER_SCHEMA", "LedgerWriter"]
