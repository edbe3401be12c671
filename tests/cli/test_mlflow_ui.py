"""``dealer-risk mlflow-ui`` opens MLflow on the project's own runs and versions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.registry import EXPERIMENT_KIND, EXPERIMENT_NAME, log_training_run

DEALER_RISK = Path(sys.executable).with_name("dealer-risk")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _register_one_version(home: Path) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"traces_3y": rng.poisson(2, 200).astype(float)})
    y = (rng.random(200) < 0.1 * (1 + X["traces_3y"])).astype(int)
    model = RiskModel(num_boost_round=5, monotone={"traces_3y": 1}).fit(X, y)
    bundle = ModelBundle(model, PlattCalibrator.fit(model.predict_raw(X), y),
                         [{"name": "traces_3y"}], {"as_of": "2022-01-01"})
    log_training_run(f"sqlite:///{home / 'mlflow.db'}", home / "mlflow-artifacts", bundle,
                     params={}, metrics={}, tags={},
                     description="label serious, as of 2022-01-01")


def test_mlflow_ui_serves_the_projects_tracking_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _register_one_version(home)
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "DEALER_RISK_DATABASE_URL")}
    # Started from another folder: the settings, not the working directory, pick the store.
    process = subprocess.Popen(
        [str(DEALER_RISK), "mlflow-ui", "--port", str(port)], cwd=tmp_path,
        env={**env, "DEALER_RISK_HOME": str(home)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=base, timeout=5) as http:
            while True:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                try:
                    health = http.get("/health")
                    if health.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "mlflow-ui did not answer /health"
                time.sleep(0.5)
            assert health.text.strip() == "OK"
            version = http.get("/api/2.0/mlflow/model-versions/get",
                               params={"name": "dealer-risk", "version": "1"}).json()
            assert version["model_version"]["description"] == "label serious, as of 2022-01-01"
            experiment = http.get("/api/2.0/mlflow/experiments/get-by-name",
                                  params={"experiment_name": EXPERIMENT_NAME}).json()
            tags = {tag["key"]: tag["value"] for tag in experiment["experiment"]["tags"]}
            assert tags["mlflow.experimentKind"] == EXPERIMENT_KIND
        assert not (tmp_path / "mlruns").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
