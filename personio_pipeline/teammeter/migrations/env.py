"""Alembic environment: runs against the engine handed over by `personio_pipeline.teammeter.db`."""

from alembic import context

from personio_pipeline.teammeter.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
