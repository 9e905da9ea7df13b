"""A change log of subject states: each write that changes what a subject's state would
be appends the subject's id ('*' for all), in commit order. Each service process keeps
the states it has read in memory and drops those the log names since its last look.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "state_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("state_changes")
