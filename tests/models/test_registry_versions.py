"""What a data scientist reads about a version in MLflow: description, duration, dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.registry import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_NAME,
    ModelNotFound,
    _client,
    list_model_versions,
    log_training_run,
    version_run,
)


def _bundle() -> ModelBundle:
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"traces_3y": rng.poisson(2, 300).astype(float)})
    y = (rng.random(300) < 0.05 * (1 + X["traces_3y"])).astype(int)
    model = RiskModel(num_boost_round=10, monotone={"traces_3y": 1}).fit(X, y)
    calibrator = PlattCalibrator.fit(model.predict_raw(X), y)
    return ModelBundle(model, calibrator, [{"name": "traces_3y"}], {"as_of": "2022-01-01"})


def test_a_version_carries_its_description_its_training_start_and_iso_dates(
    tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=95)
    logged = log_training_run(
        tracking, tmp_path / "artifacts", _bundle(), params={"seed": 0},
        metrics={"precision_at_2pct": 0.3}, tags={}, description="label serious, as of 2022",
        started_at=started,
    )
    client = _client(tracking)
    version = client.get_model_version("dealer-risk", logged.version)
    assert version.description == "label serious, as of 2022"
    run = client.get_run(logged.run_id)
    # The run lasts from when training began, not from when logging began.
    assert run.info.start_time == int(started.timestamp() * 1000)
    assert (run.info.end_time - run.info.start_time) / 1000 >= 95
    # MLflow's UI opens the experiment as model training, not as a GenAI application.
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    listed = list_model_versions(tracking)["versions"]
    created = dt.datetime.fromisoformat(listed[0]["created"])
    assert abs((created - dt.datetime.now(dt.UTC)).total_seconds()) < 300
    assert listed[0]["description"] == "label serious, as of 2022"
    # Registration is quiet: MLflow's own "Successfully registered model" stays off stderr.
    assert "Successfully registered" not in capfd.readouterr().err


def test_an_unknown_version_is_a_model_not_found(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ModelNotFound, match=r"no version '7' \(no version yet"):
        version_run(tracking, "7")
    log_training_run(tracking, tmp_path / "artifacts", _bundle(), params={}, metrics={},
                     tags={})
    with pytest.raises(ModelNotFound, match=r"no version '7' \(versions 1\)"):
        version_run(tracking, "7")
