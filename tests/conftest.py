"""Shared fixtures: stores on SQLite and on the real PostgreSQL server.

Every test that takes ``store_url`` runs twice, once against a SQLite file and once
against PostgreSQL at 127.0.0.1:5432 in a schema of its own, so concurrent runs (a
developer and CI on one machine) never see each other's rows. PostgreSQL is not optional:
a run that cannot reach it fails, unless ``DEALER_RISK_SKIP_POSTGRES=1`` says otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from features.settings import get_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "DEALER_RISK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
REAL_DATA_DIR = SHARED_DIR / "data" / "real"


def _skip_postgres() -> bool:
    return os.environ.get("DEALER_RISK_SKIP_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test database, used to create and drop per-test schemas."""
    if _skip_postgres():
        pytest.skip("DEALER_RISK_SKIP_POSTGRES=1")
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    schema = f"dr_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with postgres_admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = POSTGRES_ADMIN_URL.split("?")[0]
    yield f"{base}?options=-csearch_path%3D{schema}"
    with postgres_admin.connect() as connection:
        # Connections of the code under test may still be open; end them first.
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query ILIKE :pattern"
            ),
            {"pattern": f"%{schema}%"},
        )
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def dealer_risk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private DEALER_RISK_HOME with the settings cache cleared around the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("DEALER_RISK_HOME", str(home))
    monkeypatch.delenv("DEALER_RISK_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
