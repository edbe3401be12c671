"""The registry works through an MLflow tracking server backed by PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.registry import list_model_versions, load_bundle, log_training_run, set_champion

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 whose backend store is a fresh PG schema."""
    port = _free_port()
    backend = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", str(tmp_path / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_register_promote_and_load_through_a_server(mlflow_server: str) -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"traces_3y": rng.poisson(2, 500).astype(float)})
    y = (rng.random(500) < 0.04 * (1 + X["traces_3y"])).astype(int)
    model = RiskModel(num_boost_round=10, monotone={"traces_3y": 1}).fit(X, y)
    bundle = ModelBundle(model, PlattCalibrator.fit(model.predict_raw(X), y), [], {})
    logged = log_training_run(mlflow_server, None, bundle, params={"seed": 1},
                              metrics={"precision_at_2pct": 0.5}, tags={"git_commit": "t"})
    assert logged.version == "1"
    set_champion(mlflow_server, logged.version)
    assert list_model_versions(mlflow_server)["champion"] == "1"
    loaded, version = load_bundle(mlflow_server)
    assert version == "1"
    pd.testing.assert_frame_equal(loaded.score(X), bundle.score(X))
