"""Alembic environment: the engine comes from socialcredit.service._db.upgrade."""

from alembic import context

from socialcredit.service._db import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
