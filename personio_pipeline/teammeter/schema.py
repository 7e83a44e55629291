"""Teammeter tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

Every row belongs to one organisation; external ids are unique per organisation, so two
companies can both have employee "1".
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("consumer_id", sa.String(255), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("service_id", sa.String(64), nullable=False, server_default="personio"),
    sa.Column("connection_state", sa.String(32), nullable=False, server_default="registered"),
    sa.Column("auto_sync", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("first_synced_at", sa.DateTime(timezone=True)),
    sa.Column("last_synced_at", sa.DateTime(timezone=True)),
    sa.Column("verified_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
