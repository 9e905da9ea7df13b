"""Index records by (subject, status, day): a subject's counting records are one range.

Without it SQLite may read a subject's records through the status index, which holds
nearly every record under 'active'.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_records_subject_status_day", "records",
                    ["subject_id", "status", "occurred_on"])
    op.drop_index("ix_records_subject_day", table_name="records")


def downgrade() -> None:
    op.create_index("ix_records_subject_day", "records", ["subject_id", "occurred_on"])
    op.drop_index("ix_records_subject_status_day", table_name="records")
