"""Alembic environment: run on the connection the store hands over (never a URL from a file)."""

from alembic import context

from detector.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
