"""Opening the store and bringing its schema up to date.

``open_store(url)`` returns an engine whose schema is at Alembic's head: migrations run
automatically on first use and are a no-op afterwards.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url

from data.store import schema

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py uses this connection instead of building its own engine.
    config.attributes["engine"] = engine
    return config


#: The size (bytes) SQLite cuts its write-ahead log file back to when the log starts over,
#: so a burst of writes (an ingest) leaves no more than this on disk beside the database.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _enable_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while ingestion writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` without touching the schema (SQLite's folder is created)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        _enable_sqlite_pragmas(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2, which is not a dependency.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True)


def head_revision() -> str:
    """The newest migration's revision id."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the store to the newest schema; does nothing when it is already there."""
    if current_revision(engine) == head_revision():
        return
    command.upgrade(_alembic_config(engine), "head")


def open_store(url: str) -> Engine:
    """An engine for the store at ``url``, its schema migrated to the newest revision."""
    engine = create_store_engine(url)
    migrate(engine)
    return engine


def table_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the contract tables, keyed as ``dealer-risk status`` prints them."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for name, table in schema.CONTRACT_TABLES.items():
            counts[name] = connection.execute(select(func.count()).select_from(table)).scalar_one()
    return counts
