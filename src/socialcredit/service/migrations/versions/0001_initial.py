"""Initial schema: subjects, records, tokens, appeals, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("guardian_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_records_subject_day", "records", ["subject_id", "occurred_on"])
    op.create_index("ix_records_status", "records", ["status"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("service", sa.String(64), nullable=True),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(128), sa.ForeignKey("records.id"), nullable=False),
        sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("statement", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("policy_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_appeals_status", "appeals", ["status"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_subject", "audit", ["subject_id", "at"])


def downgrade() -> None:
    for table in ("audit", "appeals", "tokens", "records", "subjects"):
        op.drop_table(table)
