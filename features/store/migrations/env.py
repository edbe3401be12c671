"""Alembic environment: runs migrations on the engine handed over by ``open_store``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from features.store.schema import metadata

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic's own CLI is used
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Two workers starting at once must not both create the tables: the second
        # waits here, then finds the schema at head and does nothing.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7420190)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
