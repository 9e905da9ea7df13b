"""The service: the policy's rules over a real database (SQLite or PostgreSQL).

`create_app(policy, db_url)` builds the FastAPI app; `socialcredit serve` runs it.
"""

from socialcredit.service._app import create_app
from socialcredit.service._db import DEFAULT_DB, make_engine, upgrade
from socialcredit.service._ingest import ingest_ledger
from socialcredit.service._tokens import ROLES, create_token

__all__ = ["DEFAULT_DB", "ROLES", "create_app", "create_token", "ingest_ledger",
           "make_engine", "upgrade"]
