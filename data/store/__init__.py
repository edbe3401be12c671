"""The store: SQLite by default, PostgreSQL in production, migrated by Alembic."""

from data.store.engine import open_store, table_counts

__all__ = ["open_store", "table_counts"]
