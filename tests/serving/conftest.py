"""One trained, promoted and scored home for every serving test (built once per session).

Built the way a new user would: the planted world loaded into the store, then ``train``,
``promote``, ``score`` and ``users add`` through the command line. Tests that change the
registry (promotions) work on a copy, so the others can rely on version 1 being champion.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli_app
from data.settings import Settings, get_settings
from data.store import open_store, schema
from data.store.write import upsert_frame
from serving.app import create_app
from tests.homes import home_settings
from tests.monitoring.conftest import TrainedWorld

AS_OF = "2023-01-01"
#: The session home's earlier list (list 1), so there is a history and something changed.
EARLIER_AS_OF = "2022-07-01"
ROOT = Path(__file__).resolve().parents[2]
#: The installed console script, as a user runs it.
DEALER_RISK = Path(sys.executable).with_name("dealer-risk")
TABLE_NAMES = ("dealers", "traces", "multiple_sales", "inspections", "theft_loss")
#: The users the session home has, by the name tests use for them.
USERS = {
    "inspector": ("inspector",),
    "houston_inspector": ("inspector", "Houston"),
    "supervisor": ("supervisor",),
    "data_scientist": ("data_scientist",),
    "admin": ("admin",),
}



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis case its operation in its node id.

    pytest 9.2 builds a test's node id from its original name and its parametrize
    callspec; schemathesis 4.32 names each operation's item ``test[GET /path]`` but has
    no callspec, so all of a test's operations share one id. A plain run still runs each
    item, but pytest-xdist schedules by id and ran one operation per test. The id made
    here is the item's own name, as schemathesis meant it.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is not None and isinstance(item, pytest.Function) and "[" not in item.nodeid:
            item._id = item.parent.id.child(item.name)  # type: ignore[union-attr]

@dataclass(frozen=True)
class ServedHome:
    """A DEALER_RISK_HOME with a champion, a stored list and one user per role."""

    home: Path
    tokens: dict[str, str]
    #: The plan ``dealer-risk plan`` stored from the AS_OF list.
    plan_id: int = 0

    @property
    def settings(self) -> Settings:
        # Explicit Nones: MLflow's set_tracking_uri writes MLFLOW_TRACKING_URI into the
        # environment, which would otherwise point this home at another home's registry.
        return Settings(DEALER_RISK_HOME=self.home, DEALER_RISK_DATABASE_URL=None,  # type: ignore[call-arg]
                        MLFLOW_TRACKING_URI=None)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a subprocess needs to use this home."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("DEALER_RISK_DATABASE_URL", "MLFLOW_TRACKING_URI")}
        return {**env, "DEALER_RISK_HOME": str(self.home), **extra}

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def invoke(*args: str) -> str:
    """Run a CLI command in-process; its stdout (the command must succeed)."""
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


def load_world(url: str, world: dict[str, pd.DataFrame]) -> None:
    """Write a world's tables into the store at ``url``."""
    engine = open_store(url)
    with engine.begin() as connection:
        for name in TABLE_NAMES:
            frame = world[name].copy()
            for column in frame.columns:
                if str(frame[column].dtype).startswith("datetime64"):
                    frame[column] = frame[column].dt.date
            upsert_frame(connection, schema.CONTRACT_TABLES[name], frame)
    engine.dispose()


def add_user(name: str, role: str, division: str | None = None) -> str:
    """``dealer-risk users add``; returns the token (its last line)."""
    args = ["users", "add", name, "--role", role]
    if division:
        args += ["--division", division]
    return invoke(*args).strip().splitlines()[-1]


def add_user_at(
    home: Path, monkeypatch: pytest.MonkeyPatch, name: str, role: str,
    division: str | None = None,
) -> str:
    """``add_user`` into the store under ``home``; returns the token."""
    monkeypatch.setenv("DEALER_RISK_HOME", str(home))
    get_settings.cache_clear()
    try:
        return add_user(name, role, division)
    finally:
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def served_home(
    tmp_path_factory: pytest.TempPathFactory, planted_world: dict[str, pd.DataFrame]
) -> ServedHome:
    """Planted world -> train -> promote -> score (twice) -> plan -> users, through the CLI,
    once. The earlier list is scored first, so list 1 is as of EARLIER_AS_OF and the
    served list 2 as of AS_OF."""
    home = tmp_path_factory.mktemp("served") / "home"
    experiment = home.parent / "fast.toml"
    experiment.write_text('name = "fast"\nseed = 3\nn_folds = 2\n[model]\nnum_boost_round = 40\n')
    with home_settings(home):
        load_world(get_settings().database_url, planted_world)
        version = invoke("train", "--as-of", AS_OF, "--experiment", str(experiment))
        assert version.strip().splitlines()[-1] == "1"
        invoke("promote", "1")
        invoke("score", "--as-of", EARLIER_AS_OF, "--out",
               str(home.parent / "scores-earlier.csv"))
        invoke("score", "--as-of", AS_OF, "--out", str(home.parent / "scores.csv"))
        plan_id = int(invoke("plan", "--as-of", AS_OF, "--out",
                             str(home.parent / "plan.csv")).strip().splitlines()[-1])
        tokens = {name: add_user(name, *spec) for name, spec in USERS.items()}
    return ServedHome(home=home, tokens=tokens, plan_id=plan_id)


#: How long a test waits for an app's first state load (it runs in the background).
LOAD_TIMEOUT_SECONDS = 120.0


@contextlib.contextmanager
def loaded_client(app: FastAPI, **options: Any) -> Iterator[TestClient]:
    """A TestClient whose app has started and finished its first state load.

    The lifespan only starts the load (the server answers 503 meanwhile), so tests about
    a loaded state wait for it here.
    """
    with TestClient(app, **options) as test_client:
        holder = app.state.holder
        assert holder.first_refresh_done.wait(LOAD_TIMEOUT_SECONDS), "the state did not load"
        yield test_client


@pytest.fixture(scope="session")
def client(served_home: ServedHome) -> Iterator[TestClient]:
    """A TestClient on the session home's app, its lifespan run and its state loaded once."""
    with loaded_client(create_app(served_home.settings)) as test_client:
        yield test_client


def copy_home(source: Path, target: Path) -> Path:
    """A copy of a home's two SQLite databases (consistent even while in use).

    The copy's MLflow registry still points at the source's artifact files, which it only
    reads; runs logged in the copy add new artifact folders beside them.
    """
    target.mkdir(parents=True)
    for name in ("store.db", "mlflow.db"):
        with sqlite3.connect(source / name) as origin, sqlite3.connect(target / name) as copy:
            origin.backup(copy)
    return target


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A ``dealer-risk serve`` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(env: dict[str, str], log: Path, *args: str, timeout: float = 90.0) -> Server:
    """Start ``dealer-risk serve`` on a free port and wait until /readyz is 200."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(DEALER_RISK), "serve", "--port", str(port), *args],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    server = Server(process=process, base_url=f"http://127.0.0.1:{port}", log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise AssertionError(f"server not ready after {timeout} s:\n{server.output()}")


def stop_server(server: Server) -> None:
    """Stop the server (SIGTERM, then SIGKILL) and wait for it."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


#: The generated world's served list is as of the monitoring world's training date.
GENERATED_AS_OF = "2024-01-01"
#: Its earlier list (for a history on every licensee page).
GENERATED_EARLIER_AS_OF = "2023-07-01"


@pytest.fixture(scope="session")
def generated_home(trained_world: TrainedWorld,
                   tmp_path_factory: pytest.TempPathFactory) -> ServedHome:
    """A realistic generated world, served: the monitoring tests' trained 4,000-licensee
    world (not trained again here), copied, scored twice, planned, with a supervisor and
    an inspector of its largest division.

    The planted world above has one city and no violation codes; the page-width and
    wording tests need the generator's real shapes (long names, county-style cities,
    violation-code lists, many divisions).
    """
    home = copy_home(trained_world.home, tmp_path_factory.mktemp("generated") / "home")
    with home_settings(home):
        for as_of in (GENERATED_EARLIER_AS_OF, GENERATED_AS_OF):
            invoke("score", "--as-of", as_of, "--out", str(home.parent / f"{as_of}.csv"))
        invoke("plan", "--as-of", GENERATED_AS_OF, "--out", str(home.parent / "plan.csv"))
        engine = open_store(get_settings().database_url)
        with engine.connect() as connection:
            division = pd.read_sql("SELECT field_division, COUNT(*) AS n FROM dealers "
                                   "GROUP BY field_division ORDER BY n DESC",
                                   connection)["field_division"].iloc[0]
        engine.dispose()
        tokens = {"supervisor": add_user("supervisor", "supervisor"),
                  "division_inspector": add_user("division-inspector", "inspector",
                                                 str(division))}
    return ServedHome(home=home, tokens=tokens)
