"""Alembic environment: runs migrations on the engine handed over by ``open_store``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from data.store.schema import metadata

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic's own CLI is used
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")


def _run_migrations(connection: Connection) -> None:
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


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a SQLite table (create, copy, drop, rename); with
        # foreign keys on, the DROP would cascade into the tables that reference it.
        # The pragma only takes effect outside a transaction, hence before it begins.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    with connection.begin():
        _run_migrations(connection)
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
