"""Batch checks: one audit row per request (who, when, why, the service and the
distinct decisions), and one small row per subject checked, keyed by the batch first so
that a batch is written as one sequential run instead of thousands of random index
inserts. An index on (action, id) finds the batches that name a subject.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_subjects",
        sa.Column("audit_id", sa.Integer, sa.ForeignKey("audit.id"), primary_key=True),
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("decision", sa.SmallInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_audit_action", "audit", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_action", "audit")
    op.drop_table("audit_subjects")
