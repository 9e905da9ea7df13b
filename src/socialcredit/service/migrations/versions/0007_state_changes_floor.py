"""The change log keeps its last entries only: a running service prunes older ones as it
writes, and notes the newest pruned entry here, so that a process that had not read them
drops every cached state instead of missing a change.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    floor = op.create_table(
        "state_changes_floor",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(floor, [{"id": 1, "seq": 0}])


def downgrade() -> None:
    op.drop_table("state_changes_floor")
