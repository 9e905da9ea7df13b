"""A company's kind (restaurant, firm, ...): disclosure rules and behaviours may be limited
to some kinds. Stored states are dropped: they were computed before credit repair was
keyed by record identity, and are recomputed on the next read (they are a cache).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("kind", sa.String(64), nullable=True))
    op.execute("DELETE FROM subject_states")


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("kind")
