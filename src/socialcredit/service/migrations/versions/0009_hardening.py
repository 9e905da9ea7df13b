"""Hardening: tokens expire and are revoked, with an owner's label; appeals carry the
client's key (one per subject) and a record has at most one open appeal; audit rows
carry their decision id and policy version and are sealed into a hash chain; a stored
state records the change-log position it was computed at (`basis`: an older
computation never overwrites a newer one) and what the policy publishes of it (so the
public list is read from stored states). Stored states are dropped: they are a cache,
recomputed on the next read.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("label", sa.String(128), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("client_key", sa.String(128), nullable=True))
    op.create_index("ux_appeals_client_key", "appeals", ["subject_id", "client_key"],
                    unique=True)
    op.create_index("ux_appeals_open_record", "appeals", ["record_id"], unique=True,
                    sqlite_where=sa.text("status = 'open'"),
                    postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_appeals_subject", "appeals", ["subject_id", "opened_at"])
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("decision_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("policy_version", sa.String(128), nullable=True))
        batch.add_column(sa.Column("seal", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("subjects_hash", sa.String(64), nullable=True))
    op.create_index("ux_audit_seal", "audit", ["seal"], unique=True)
    op.create_index("ix_audit_unsealed", "audit", ["id"],
                    sqlite_where=sa.text("seal IS NULL"),
                    postgresql_where=sa.text("seal IS NULL"))
    op.execute("DELETE FROM subject_states")
    with op.batch_alter_table("subject_states") as batch:
        batch.add_column(sa.Column("basis", sa.BigInteger, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("named", sa.SmallInteger, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("anonymous", sa.String(1200), nullable=True))
    # the public list reads these in order, a page at a time, from the index alone
    # (byte order on both databases: PostgreSQL's collation may differ)
    c = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    holds = "valid_until, computed_for, policy_version"
    op.execute(f"CREATE INDEX ix_states_named ON subject_states (named, subject_id{c}, {holds})"
               " WHERE named > 0")
    op.execute(f"CREATE INDEX ix_states_anonymous ON subject_states (anonymous{c}, {holds})"
               " WHERE anonymous IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_states_anonymous", "subject_states")
    op.drop_index("ix_states_named", "subject_states")
    with op.batch_alter_table("subject_states") as batch:
        batch.drop_column("anonymous")
        batch.drop_column("named")
        batch.drop_column("basis")
    op.drop_index("ix_audit_unsealed", "audit")
    op.drop_index("ux_audit_seal", "audit")
    with op.batch_alter_table("audit") as batch:
        for name in ("subjects_hash", "hash", "seal", "policy_version", "decision_id"):
            batch.drop_column(name)
    op.drop_index("ix_appeals_subject", "appeals")
    op.drop_index("ux_appeals_open_record", "appeals")
    op.drop_index("ux_appeals_client_key", "appeals")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("client_key")
    with op.batch_alter_table("tokens") as batch:
        for name in ("revoked_at", "expires_at", "label"):
            batch.drop_column(name)
