"""The store's tables that serving writes: its users and the audit log.

They live in the store's one schema (``data.store.schema.metadata``, one migration
history under ``data/store/migrations``), but serving owns them: nothing below serving
reads or writes them.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Index, Integer, String, Table, Text

from data.store.schema import metadata

api_users = Table(
    "api_users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("division", String(100)),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("resource", String(300), nullable=False),
    Column("model_version", String(32)),
    Column("as_of", Date),
    Column("detail", Text),
    Index("ix_audit_log_at", "at"),
)
