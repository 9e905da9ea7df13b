"""Batch checks: each subject's decision moves from its `audit_subjects` row into one
string of codes on the batch's audit row (two bytes per subject, little-endian, in the
order asked: the index of its decision among those in the row's detail). A batch's
subject rows are then (batch, subject, position) only, and SQLite writes them in one
statement. They lose their foreign key to `audit`: each is written with its batch row,
in one transaction, by one code path, and PostgreSQL's check of that key took about a
third of the time to COPY a batch's rows (57 ms for 10,000, against 30-43 ms without).

Revision ID: 0006
Revises: 0005
"""

import sys
from array import array

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


_FK = "audit_subjects_audit_id_fkey"  # PostgreSQL's name for the key 0005 made


def _subject_rows(name: str, before: bool) -> sa.Table:
    """audit_subjects as 0005 made it (`before`: with a decision and a foreign key), or
    as this revision leaves it."""
    key = [sa.ForeignKey("audit.id")] if before else []
    cols = [sa.Column("audit_id", sa.Integer, *key, primary_key=True),
            sa.Column("subject_id", sa.String(64), primary_key=True),
            sa.Column("position", sa.Integer, primary_key=True)]
    if before:
        cols.append(sa.Column("decision", sa.SmallInteger, nullable=False))
    return op.create_table(name, *cols, sqlite_with_rowid=False)


def _replace_subject_rows(with_decision: bool) -> None:
    """Rebuild audit_subjects as it was before this revision or as it is after (SQLite
    cannot drop a primary-key table's column in place, and batch mode would lose
    WITHOUT ROWID)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        if with_decision:
            op.add_column("audit_subjects", sa.Column("decision", sa.SmallInteger,
                                                      nullable=False, server_default="0"))
            op.alter_column("audit_subjects", "decision", server_default=None)
            op.create_foreign_key(_FK, "audit_subjects", "audit", ["audit_id"], ["id"])
        else:
            op.drop_constraint(_FK, "audit_subjects", type_="foreignkey")
            op.drop_column("audit_subjects", "decision")
        return
    _subject_rows("audit_subjects_new", with_decision)
    cols = "audit_id, subject_id, position"
    op.execute(f"INSERT INTO audit_subjects_new ({cols}{', decision' * with_decision})"
               f" SELECT {cols}{', 0' * with_decision} FROM audit_subjects")
    op.drop_table("audit_subjects")
    op.rename_table("audit_subjects_new", "audit_subjects")


def upgrade() -> None:
    op.add_column("audit", sa.Column("codes", sa.LargeBinary, nullable=True))
    conn = op.get_bind()
    batches = conn.execute(sa.text(
        "SELECT audit_id, decision FROM audit_subjects ORDER BY audit_id, position"))
    codes: dict[int, array] = {}
    for audit_id, decision in batches:
        codes.setdefault(audit_id, array("H")).append(decision)
    for audit_id, c in codes.items():
        conn.execute(sa.text("UPDATE audit SET codes = :c WHERE id = :i"),
                     {"c": _little(c), "i": audit_id})
    _replace_subject_rows(with_decision=False)


def downgrade() -> None:
    _replace_subject_rows(with_decision=True)
    conn = op.get_bind()
    for audit_id, blob in conn.execute(sa.text(
            "SELECT id, codes FROM audit WHERE codes IS NOT NULL")).all():
        c = array("H")
        c.frombytes(bytes(blob))
        if sys.byteorder == "big":
            c.byteswap()
        conn.execute(sa.text(
            "UPDATE audit_subjects SET decision = :d WHERE audit_id = :i AND position = :p"),
            [{"d": d, "i": audit_id, "p": p} for p, d in enumerate(c)])
    op.drop_column("audit", "codes")


def _little(c: array) -> bytes:
    if sys.byteorder == "big":
        c.byteswap()
    return c.tobytes()
