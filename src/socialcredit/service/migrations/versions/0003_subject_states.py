"""A materialised state per subject: score, grade and lists as of a date, and the last
date on which that state is sure to hold. Checks read it instead of the records.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_states",
        sa.Column("subject_id", sa.String(64), sa.ForeignKey("subjects.id"), primary_key=True),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("grade", sa.String(32), nullable=True),
        sa.Column("lists", sa.String(1024), nullable=False),
        sa.Column("computed_for", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("policy_version", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subject_states")
