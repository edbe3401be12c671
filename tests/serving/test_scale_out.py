"""Scale-out: two ``dealer-risk serve`` processes sharing one PostgreSQL store and one MLflow
tracking server backed by PostgreSQL, as in production (docs/security.md, "Production
set-up").

Both pick up a promotion (one through ``POST /api/v1/models/reload``, the other by its
poll), honour each other's sessions and logouts at once and a revocation within the token
cache's bound, and every audited answer of either, under concurrent requests, has its row.

The session home's trained version 1 is logged twice to the tracking server (versions 1
and 2, no training here); the planted world is loaded into the PostgreSQL store and
scored through the command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from data.settings import get_settings
from data.store import open_store
from models.registry import load_bundle, log_training_run, set_champion, version_run
from serving import tables
from serving.deps import TOKEN_CACHE_SECONDS
from serving.pages.sessions import COOKIE_NAME
from serving.users import Role, create_user
from tests.conftest import postgres_schema
from tests.serving.conftest import (
    AS_OF,
    DEALER_RISK,
    ROOT,
    ServedHome,
    Server,
    free_port,
    invoke,
    load_world,
    stop_server,
)
from tests.serving.signing_in import sign_in

pytestmark = pytest.mark.postgres

#: Seconds each server waits between polls of the champion alias.
POLL_SECONDS = 2
#: How long a server may take to notice a change and load the new state (a bound, not a
#: wait: the test goes on as soon as both have).
LOAD_SECONDS = 30
#: Concurrent audited requests per server.
REQUESTS_PER_SERVER = 60


@pytest.fixture
def mlflow_schema(postgres_admin: Engine) -> Iterator[str]:
    """A PostgreSQL URL (schema of its own) for the tracking server's backend store."""
    with postgres_schema(postgres_admin, "dr_mlflow") as url:
        yield url


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def tracking_server(mlflow_schema: str, tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1, its backend store in PostgreSQL, artifacts proxied."""
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("mlflow")), "server",
             "--backend-store-uri", mlflow_schema,
             "--artifacts-destination", str(tmp_path / "mlflow-artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/health", process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _serve_two(env: dict[str, str], tmp_path: Path) -> list[Server]:
    """Start two ``dealer-risk serve`` processes (they answer 503 until there is a model)."""
    servers = []
    for name in ("a", "b"):
        port = free_port()
        log = tmp_path / f"serve-{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(DEALER_RISK), "serve", "--port", str(port),
                 "--reload-seconds", str(POLL_SECONDS)],
                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        servers.append(Server(process=process, base_url=f"http://127.0.0.1:{port}", log=log))
    return servers


def _register_again(tracking_server: str, version: str) -> None:
    """Register ``version``'s model once more, as the next version, through the server's
    REST API (logging the model a second time took 30 s here)."""
    api = f"{tracking_server}/api/2.0/mlflow/model-versions"
    known = httpx.get(f"{api}/get", params={"name": "dealer-risk", "version": version},
                      timeout=30).json()["model_version"]
    created = httpx.post(f"{api}/create", timeout=30, json={
        "name": "dealer-risk", "source": known["source"], "run_id": known["run_id"],
        # MLflow 3 keeps a logged model's id in its source, models:/<model id>.
        "model_id": known.get("model_id") or known["source"].removeprefix("models:/")})
    assert created.status_code == 200, created.text


def _browser(server: httpx.Client, cookie: str | None = None) -> httpx.Client:
    """A client of ``server``'s address holding the session cookie ``cookie``."""
    return httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False,
                        cookies={COOKIE_NAME: cookie} if cookie else None)


def _signed_in(server: httpx.Client, cookie: str) -> bool:
    with _browser(server, cookie) as browser:
        answer = browser.get("/login", params={"next": "/x"})
    return answer.status_code == 303 and answer.headers["location"] == "/x"


def _until(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` is true (AssertionError after ``timeout``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_two_servers_share_store_registry_sessions_and_audit(
    served_home: ServedHome, planted_world: dict[str, pd.DataFrame], postgres_url: str,
    tracking_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The store, its users and two servers, started first: they load while the test
    # fills the registry and the store, and answer 503 until then.
    engine = open_store(postgres_url)
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    _, admin = create_user(engine, "admin", Role.ADMIN, None, now)
    _, inspector = create_user(engine, "inspector", Role.INSPECTOR, None, now)
    env = {**os.environ, "DEALER_RISK_DATABASE_URL": postgres_url,
           "MLFLOW_TRACKING_URI": tracking_server, "DEALER_RISK_HOME": str(tmp_path / "home")}
    servers = _serve_two(env, tmp_path)
    clients = [httpx.Client(base_url=s.base_url, timeout=30, follow_redirects=False)
               for s in servers]
    a, b = clients
    as_admin = {"Authorization": f"Bearer {admin}"}
    as_inspector = {"Authorization": f"Bearer {inspector}"}
    try:
        # The registry: the session home's version 1, logged (version 1) and registered
        # again (version 2); the store: the planted world and version 1's list.
        local = served_home.settings.mlflow_tracking_uri
        bundle, _ = load_bundle(local, "models:/dealer-risk/1")
        run = version_run(local, "1")
        log_training_run(tracking_server, None, bundle, params=run["params"],
                         metrics=run["metrics"], tags=run["tags"])
        _register_again(tracking_server, "1")  # version 2
        set_champion(tracking_server, "1")
        load_world(postgres_url, planted_world)
        monkeypatch.setenv("DEALER_RISK_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("DEALER_RISK_DATABASE_URL", postgres_url)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
        get_settings.cache_clear()
        invoke("score", "--as-of", AS_OF, "--out", str(tmp_path / "scores-1.csv"))
        for server in servers:
            _wait(f"{server.base_url}/readyz", server.process, server.log)
        for client in clients:
            ready = client.get("/readyz").json()
            assert (ready["model_version"], ready["champion_version"]) == ("1", "1")

        # A promotion: A reloads when asked, B by its poll; then version 2's own list.
        invoke("promote", "2", "--force")
        assert a.post("/api/v1/models/reload", headers=as_admin).status_code == 200
        assert a.get("/readyz").json()["champion_version"] == "2"
        _until(lambda: b.get("/readyz").json()["champion_version"] == "2", LOAD_SECONDS)
        invoke("score", "--as-of", AS_OF, "--out", str(tmp_path / "scores-2.csv"))
        for client in clients:
            _until(lambda c=client: c.get("/readyz").json()["model_version"] == "2",
                   LOAD_SECONDS)
            assert not client.get("/readyz").json()["notes"]

        # Sessions: opened on A, good on B; signing out on B ends it on A at once.
        with _browser(a) as browser:
            assert sign_in(browser, inspector).status_code == 303
            cookie = browser.cookies[COOKIE_NAME]
        assert _signed_in(a, cookie) and _signed_in(b, cookie)
        with _browser(b, cookie) as browser:
            browser.get("/logout")
        assert not _signed_in(a, cookie) and not _signed_in(b, cookie)

        # Audit rows: concurrent audited reads on both, every answer with its row.
        numbers = [str(n) for n in planted_world["dealers"]["license_number"][:20]]
        paths = [f"/api/v1/dealers/{numbers[i % len(numbers)]}"
                 for i in range(REQUESTS_PER_SERVER)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(
                lambda job: job[0].get(job[1], headers=as_inspector).status_code,
                [(client, path) for client in clients for path in paths]))
        assert answers.count(200) == len(answers), sorted(set(answers))
        served = [b.get("/readyz").json()["served_by"], a.get("/readyz").json()["served_by"]]
        log = tables.audit_log
        with engine.connect() as connection:
            details = connection.execute(select(log.c.detail).where(
                log.c.action == "dealer.read", log.c.user_name == "inspector")).scalars().all()
        by_process = pd.Series([json.loads(d)["served_by"] for d in details]).value_counts()
        assert by_process.to_dict() == dict.fromkeys(served, REQUESTS_PER_SERVER)

        # A revocation through A: A refuses at once, B within its token cache's bound.
        with _browser(b) as browser:
            assert sign_in(browser, inspector).status_code == 303
            cookie = browser.cookies[COOKIE_NAME]
        assert b.get("/api/v1/dealers/ranked", headers=as_inspector).status_code == 200
        revoked = a.post("/api/v1/users/inspector/revoke", headers=as_admin)
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        assert a.get("/api/v1/dealers/ranked", headers=as_inspector).status_code == 401
        assert not _signed_in(b, cookie) and not _signed_in(a, cookie)
        took = _until(lambda: b.get("/api/v1/dealers/ranked",
                                    headers=as_inspector).status_code == 401,
                      TOKEN_CACHE_SECONDS + 2)
        assert took <= TOKEN_CACHE_SECONDS + 1
        with engine.connect() as connection:
            actions = connection.execute(select(log.c.action).where(
                log.c.action.in_(["users.revoke", "models.reload"]))).scalars().all()
        assert sorted(actions) == ["models.reload", "users.revoke"]
    finally:
        for client in clients:
            client.close()
        for server in servers:
            stop_server(server)
        engine.dispose()
        get_settings.cache_clear()
