"""The API as users run it: ``dealer-risk serve`` in its own process, over real HTTP.

With ``--workers 2`` on PostgreSQL the workers share nothing but the store and MLflow: a
user added after they started works on both, and both write to one audit log.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from data.settings import get_settings
from data.store.engine import create_store_engine
from serving import tables
from tests.serving.conftest import (
    AS_OF,
    ServedHome,
    Server,
    add_user,
    invoke,
    load_world,
    start_server,
    stop_server,
)
from tests.serving.test_api import assert_explanation_is_exact


@pytest.fixture
def single_worker(served_home: ServedHome, tmp_path: Path) -> Iterator[Server]:
    server = start_server(served_home.env(), tmp_path / "serve.log")
    yield server
    stop_server(server)


def test_serve_answers_over_http(single_worker: Server, served_home: ServedHome) -> None:
    base = single_worker.base_url
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/healthz").json()["model_version"] == "1"
        assert http.get("/docs").status_code == 200
        assert "/api/v1/dealers/ranked" in http.get("/openapi.json").json()["paths"]
        assert http.get("/api/v1/dealers/ranked").status_code == 401
        page = http.get("/api/v1/dealers/ranked", params={"limit": 100},
                        headers=served_home.headers("supervisor")).json()
        assert (page["model_version"], page["as_of"], len(page["items"])) == ("1", AS_OF, 100)
        exported = http.get("/api/v1/dealers/ranked", params={"limit": 10},
                            headers={**served_home.headers("inspector"), "Accept": "text/csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        assert len(exported.text.strip().splitlines()) == 11
        for item in page["items"][:10]:
            body = http.get(f"/api/v1/dealers/{item['license_number']}/explanation",
                            headers=served_home.headers("supervisor")).json()
            assert_explanation_is_exact(body)
            assert body["score"] == item["score"]
        missing = http.get("/api/v1/dealers/0-00-000-00-XX-00000",
                           headers=served_home.headers("inspector"))
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.postgres
def test_two_workers_share_the_store(
    served_home: ServedHome, postgres_url: str, planted_world: dict[str, pd.DataFrame],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The store on PostgreSQL, the model in the session home's MLflow: score into the store.
    load_world(postgres_url, planted_world)
    monkeypatch.setenv("DEALER_RISK_HOME", str(served_home.home))
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", postgres_url)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    invoke("score", "--as-of", AS_OF, "--out", str(tmp_path / "scores.csv"))
    server = start_server(served_home.env(DEALER_RISK_DATABASE_URL=postgres_url),
                          tmp_path / "serve.log", "--workers", "2")
    try:
        # Added after both workers started, into the shared store only.
        token = add_user("shared_worker_user", "supervisor")
        get_settings.cache_clear()
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.base_url}/api/v1/dealers/ranked"

        def read(_: int) -> tuple[int, str]:
            # A fresh connection each time, so the kernel hands requests to either worker.
            # A worker still loading its state answers 503 (start_server waited for one
            # worker's /readyz only); a client retries those, as a load balancer would.
            deadline = time.monotonic() + 60
            while True:
                response = httpx.get(url, params={"limit": 100}, headers=headers, timeout=20)
                if response.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            return response.status_code, response.json().get("model_version", response.text)

        engine = create_store_engine(postgres_url)
        served_by: set[str] = set()
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):
                answers = list(pool.map(read, range(40)))
                assert set(answers) == {(200, "1")}
                served_by = _audit_workers(engine)
                if len(served_by) >= 2:
                    break
        engine.dispose()
        assert len(served_by) == 2, f"only {served_by} answered:\n{server.output()}"
        # The audit endpoint (on whichever worker) shows both workers' rows.
        log = httpx.get(f"{server.base_url}/api/v1/audit",
                        params={"user": "shared_worker_user", "limit": 1000},
                        headers=headers, timeout=20).json()
        assert {row["detail"]["served_by"] for row in log["items"]} == served_by
        assert all(row["model_version"] == "1" for row in log["items"])
        explanation = httpx.get(
            f"{server.base_url}/api/v1/dealers/{log_licensee(server, headers)}/explanation",
            headers=headers, timeout=20).json()
        assert_explanation_is_exact(explanation)
        assert math.isfinite(explanation["raw_score"])
    finally:
        stop_server(server)


def _audit_workers(engine: Engine) -> set[str]:
    """The workers (host:pid) that wrote audit rows for the shared user."""
    log = tables.audit_log
    with engine.connect() as connection:
        details = connection.execute(
            select(log.c.detail).where(log.c.user_name == "shared_worker_user")).scalars().all()
    return {json.loads(detail)["served_by"] for detail in details}


def log_licensee(server: Server, headers: dict[str, str]) -> str:
    page = httpx.get(f"{server.base_url}/api/v1/dealers/ranked", params={"limit": 1},
                     headers=headers, timeout=20).json()
    return str(page["items"][0]["license_number"])
