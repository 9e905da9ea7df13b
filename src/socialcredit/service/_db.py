"""The service's database: SQLAlchemy Core tables, engines, and migrations.

SQLite (a file in WAL mode) is the default; PostgreSQL is used through `--db
postgresql://...`. The schema is created and changed only by Alembic migrations
(`socialcredit db upgrade`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from socialcredit.errors import SocialCreditError

DEFAULT_DB = "sqlite:///socialcredit.db"

metadata = sa.MetaData()

subjects = sa.Table(
    "subjects", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),  # person | company
    sa.Column("guardian_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(64), nullable=True),  # a company's kind, if known
)

records = sa.Table(
    "records", metadata,
    sa.Column("id", sa.String(128), primary_key=True),  # the client's key
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("occurred_on", sa.Date, nullable=False),
    sa.Column("evidence", sa.Text, nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # active | pending | voided | rejected
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("policy_version", sa.String(128), nullable=False),
    sa.Index("ix_records_subject_status_day", "subject_id", "status", "occurred_on"),
    sa.Index("ix_records_status", "status"),
)

subject_states = sa.Table(
    "subject_states", metadata,
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), primary_key=True),
    sa.Column("score", sa.Integer, nullable=True),
    sa.Column("grade", sa.String(32), nullable=True),
    sa.Column("lists", sa.String(1024), nullable=False),  # list names, comma-separated
    sa.Column("computed_for", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),  # the state holds through this date
    sa.Column("policy_version", sa.String(128), nullable=False),
    # the change log's position the state was computed at: a computation from an older
    # snapshot never overwrites one from a newer (see _store.store_states)
    sa.Column("basis", sa.BigInteger, nullable=False, server_default="0"),
    # what the policy publishes of this state: under a rule naming the subject (0: no;
    # 1: a person, 2: a company, the list's order), and the sort key of its anonymous
    # entry (NULL: none). The public list reads them through partial covering indexes
    # (ix_states_named, ix_states_anonymous: see migration 0009)
    sa.Column("named", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("anonymous", sa.String(1200), nullable=True),
    # (on PostgreSQL the first text column of each is in the "C" collation)
    sa.Index("ix_states_named", "named", "subject_id", "valid_until", "computed_for",
             "policy_version", sqlite_where=sa.text("named > 0"),
             postgresql_where=sa.text("named > 0")),
    sa.Index("ix_states_anonymous", "anonymous", "valid_until", "computed_for",
             "policy_version", sqlite_where=sa.text("anonymous IS NOT NULL"),
             postgresql_where=sa.text("anonymous IS NOT NULL")),
)

# each write that changes what a subject's state would be appends the subject ('*': all),
# in commit order; service processes drop the cached states it names (see _changes.py)
state_changes = sa.Table(
    "state_changes", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("subject_id", sa.String(64), nullable=False),
)
# one row: the newest entry pruned from the log; a process that has not seen it drops
# every cached state (the log keeps the last entries only, see _changes.py)
state_changes_floor = sa.Table(
    "state_changes_floor", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("service", sa.String(64), nullable=True),
    sa.Column("subject_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("label", sa.String(128), nullable=True),  # whose token, in the owner's words
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

appeals = sa.Table(
    "appeals", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(128), sa.ForeignKey("records.id"), nullable=False),
    sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=False),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | upheld | rejected
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("policy_version", sa.String(128), nullable=False),
    sa.Column("client_key", sa.String(128), nullable=True),  # the subject's retry key
    sa.Index("ix_appeals_status", "status"),
    sa.Index("ux_appeals_client_key", "subject_id", "client_key", unique=True),
    sa.Index("ux_appeals_open_record", "record_id", unique=True,
             sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
    sa.Index("ix_appeals_subject", "subject_id", "opened_at"),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),  # token:<id> or anonymous
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    # a batch check: for each subject in the order asked, the index of its decision
    # among those in `detail` (two bytes each, little-endian); see _audit.py
    sa.Column("codes", sa.LargeBinary, nullable=True),
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("policy_version", sa.String(128), nullable=True),
    # the hash chain: rows are sealed in `seal` order, each `hash` covering the row and
    # the previous row's hash (see _audit.seal and `socialcredit db verify-audit`)
    sa.Column("seal", sa.BigInteger, nullable=True),
    sa.Column("hash", sa.String(64), nullable=True),
    # a batch check's subjects, in order, hashed when written (sealing then needs no
    # second read of them; verifying compares it with the stored subjects)
    sa.Column("subjects_hash", sa.String(64), nullable=True),
    sa.Index("ux_audit_seal", "seal", unique=True),
    sa.Index("ix_audit_unsealed", "id", sqlite_where=sa.text("seal IS NULL"),
             postgresql_where=sa.text("seal IS NULL")),
    sa.Index("ix_audit_subject", "subject_id", "at"),
    sa.Index("ix_audit_action", "action", "id"),
)

# the subjects of a batch check (audit action 'check_batch'), one row per check; keyed
# by batch first, so a batch is one sequential run of inserts (its decisions are the
# batch row's `codes`). `audit_id` is the batch's row, written in the same transaction
# (no foreign key: PostgreSQL's per-row check of it took a third of a batch's COPY)
audit_subjects = sa.Table(
    "audit_subjects", metadata,
    sa.Column("audit_id", sa.Integer, primary_key=True),
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sqlite_with_rowid=False,
)


_ENGINES: dict[str, sa.Engine] = {}


def make_engine(url: str) -> sa.Engine:
    """The engine for `url`, one per URL and process (one connection pool); SQLite files
    get WAL mode, foreign keys and a busy timeout."""
    if url not in _ENGINES:
        _ENGINES[url] = _new_engine(url)
    return _ENGINES[url]


def dispose_engines(url: str | None = None) -> None:
    """Close the pooled connections of one URL's engine, or of all of them."""
    for key in [url] if url else list(_ENGINES):
        engine = _ENGINES.pop(key, None)
        if engine is not None:
            engine.dispose()


def _new_engine(url: str) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise SocialCreditError(f"--db {url!r}: not a usable database URL ({exc})") from None
    if engine.dialect.name == "sqlite":
        db_file = engine.url.database
        if db_file and db_file != ":memory:":
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # noqa: ANN001
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across process crashes
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-32768")  # 32 MiB of pages per connection
            cur.execute("PRAGMA mmap_size=1073741824")  # reads share the OS page cache
            cur.execute("PRAGMA journal_size_limit=67108864")  # a big write's WAL shrinks
            cur.close()

    return engine


def placeholders(text: str, dialect: str) -> str:
    """SQL written with `?` placeholders, as the dialect's driver takes it."""
    return text.replace("?", "%s") if dialect == "postgresql" else text


def driver_sql(conn: sa.Connection, text: str, params: tuple | list) -> list[tuple]:
    """Plain SQL with `?` placeholders, one row of parameters (a tuple) or many (a list),
    in the connection's transaction, without SQLAlchemy's per-row processing."""
    result = conn.exec_driver_sql(placeholders(text, conn.dialect.name), params)
    return result.all() if result.returns_rows else []


def driver_date(conn: sa.Connection, day: date) -> date | str:
    """A date as the driver stores it (SQLAlchemy keeps dates as ISO text on SQLite)."""
    return day.isoformat() if conn.dialect.name == "sqlite" else day


def driver_timestamp(dialect: str, at: datetime) -> datetime | str:
    """A timestamp as the driver stores it (SQLAlchemy's text form on SQLite: its wall
    time, YYYY-MM-DD HH:MM:SS.ffffff; isoformat writes it in half strftime's time)."""
    if dialect == "sqlite":
        return at.replace(tzinfo=None).isoformat(" ", "microseconds")
    return at


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (default: all) to the database at `url`
    (`socialcredit db upgrade`)."""
    _migrate(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Undo the migrations after `revision`."""
    _migrate(url, "downgrade", revision)


def _migrate(url: str, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["engine"] = make_engine(url)
    try:
        getattr(command, direction)(cfg, revision)
    except sa.exc.OperationalError as exc:
        raise SocialCreditError(f"--db: cannot reach or migrate the database ({exc.orig})") \
            from None
