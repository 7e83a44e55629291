"""Alembic environment: runs against the engine handed over by `personio_pipeline.store.db`."""

from alembic import context

from personio_pipeline.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
