"""The store's tables that serving writes: its users, their page sessions and the audit log.

They live in the store's one schema (``data.store.schema.metadata``, one migration
history under ``data/store/migrations``), but serving owns them: nothing below serving
reads or writes them.
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text

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
    # When the current token was issued (null: at created_at), when it stops working
    # (null: never) and when it was revoked (null: it was not).
    Column("token_issued_at", DateTime(timezone=True)),
    Column("token_expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

#: Signed-in browsers: a row per session, keyed by the hash of its cookie. Logging out
#: deletes the row; a session also ends when its user's token is rotated (the row keeps
#: the token hash it was opened with) or revoked.
api_sessions = Table(
    "api_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("api_users.user_id", ondelete="CASCADE"),
           nullable=False),
    Column("token_hash", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_api_sessions_user_id", "user_id"),
    Index("ix_api_sessions_expires_at", "expires_at"),
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
