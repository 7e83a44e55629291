"""Alembic environment: runs against the engine handed over by `personio_pipeline.store.db`."""

from alembic import context

from personio_pipeline.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table that others reference (users, migration 0012): SQLite's own
        # recipe turns enforcement off for the copy, which only works outside a transaction, and
        # checks the keys afterwards (the migration runs PRAGMA foreign_key_check).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
            context.run_migrations()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
