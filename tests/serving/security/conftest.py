"""The security tests' served stores: the session home on SQLite and on PostgreSQL.

Both hold the session home's model and lists plus users limited to one field division,
so every test of a class of attack runs against each store (``secured``). The SQLite one
is a copy of the session home (its users are added there, not to the shared home); the
PostgreSQL one is a schema of its own with the planted world loaded and scored into it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from data.settings import Settings
from serving.app import create_app
from tests.conftest import POSTGRES_ADMIN_URL, postgres_schema
from tests.homes import home_settings
from tests.serving.conftest import (
    AS_OF,
    USERS,
    ServedHome,
    add_user,
    copy_home,
    invoke,
    load_world,
    loaded_client,
)

#: Users the security tests add, beside the session home's (name: role, division).
DIVISION_USERS = {
    "houston_supervisor": ("supervisor", "Houston"),
    "phoenix_supervisor": ("supervisor", "Phoenix"),
}


@dataclass
class Secured:
    """A served store under attack: its app's client, its users' tokens, its URL."""

    store: str
    client: TestClient
    tokens: dict[str, str]
    home: Path
    database_url: str | None
    settings: Settings = field(repr=False)

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    @property
    def engine(self) -> Engine:
        engine: Engine = self.client.app.state.engine  # type: ignore[attr-defined]
        return engine


def _add_users(home: Path, database_url: str | None, names: dict[str, tuple[str, ...]]
               ) -> dict[str, str]:
    with home_settings(home, database_url or None):
        return {name: add_user(name.replace("_", "-"), *spec) for name, spec in names.items()}


@pytest.fixture(scope="session")
def sqlite_secured_home(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory
                        ) -> ServedHome:
    """A copy of the session home with the division-limited users added."""
    home = copy_home(served_home.home, tmp_path_factory.mktemp("secured") / "home")
    tokens = {**served_home.tokens, **_add_users(home, None, DIVISION_USERS)}
    return ServedHome(home=home, tokens=tokens, plan_id=served_home.plan_id)


@pytest.fixture(scope="session")
def postgres_store(planted_world: dict[str, pd.DataFrame]) -> Iterator[str]:
    """A PostgreSQL schema of the session, with the planted world loaded (dropped after)."""
    if os.environ.get("DEALER_RISK_SKIP_POSTGRES") == "1":
        pytest.skip("DEALER_RISK_SKIP_POSTGRES=1")
    from sqlalchemy import create_engine

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with postgres_schema(admin, "dr_sec") as url:
            load_world(url, planted_world)
            yield url
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_secured_home(sqlite_secured_home: ServedHome, postgres_store: str,
                          tmp_path_factory: pytest.TempPathFactory) -> ServedHome:
    """The session home's model (a copy of its registry) with the list scored and planned
    into PostgreSQL and every user created there."""
    home = copy_home(sqlite_secured_home.home, tmp_path_factory.mktemp("secured-pg") / "home")
    with home_settings(home, postgres_store):
        invoke("score", "--as-of", AS_OF, "--out", str(home.parent / "scores.csv"))
        # A plan too, so the plan routes' division limits are attacked on this store.
        plan_id = int(invoke("plan", "--as-of", AS_OF, "--out",
                             str(home.parent / "plan.csv")).strip().splitlines()[-1])
    tokens = _add_users(home, postgres_store, {**USERS, **DIVISION_USERS})
    return ServedHome(home=home, tokens=tokens, plan_id=plan_id)


def _settings(home: Path, database_url: str | None) -> Settings:
    return Settings(DEALER_RISK_HOME=home, DEALER_RISK_DATABASE_URL=database_url,  # type: ignore[call-arg]
                    MLFLOW_TRACKING_URI=None)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def secured(request: pytest.FixtureRequest) -> Iterator[Secured]:
    """The served app on each store in turn (its lifespan run, its state loaded once)."""
    database_url: str | None = None
    if request.param == "sqlite":
        home: ServedHome = request.getfixturevalue("sqlite_secured_home")
    else:
        home = request.getfixturevalue("postgres_secured_home")
        database_url = request.getfixturevalue("postgres_store")
    settings = _settings(home.home, database_url)
    with loaded_client(create_app(settings)) as client:
        assert client.app.state.holder.current is not None  # type: ignore[attr-defined]
        yield Secured(store=request.param, client=client, tokens=home.tokens, home=home.home,
                      database_url=database_url, settings=settings)
