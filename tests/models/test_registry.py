"""Model versions round-trip through MLflow and load in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.registry import (
    champion_version,
    list_model_versions,
    load_bundle,
    log_training_run,
    set_champion,
    version_run,
)


def _bundle() -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(9)
    X = pd.DataFrame({"traces_3y": rng.poisson(2, 600).astype(float)})
    y = (rng.random(600) < 0.03 * (1 + X["traces_3y"])).astype(int)
    model = RiskModel(num_boost_round=20, monotone={"traces_3y": 1}).fit(X, y)
    calibrator = PlattCalibrator.fit(model.predict_raw(X), y)
    return ModelBundle(model, calibrator, [{"name": "traces_3y"}], {"as_of": "2022-01-01"}), X


def test_versions_register_promote_and_load_in_a_fresh_process(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert list_model_versions(tracking) == {"versions": [], "champion": None}
    bundle, X = _bundle()
    first = log_training_run(
        tracking, tmp_path / "artifacts", bundle,
        params={"seed": 0}, metrics={"precision_at_2pct": 0.3}, tags={"git_commit": "abc"},
    )
    second = log_training_run(
        tracking, tmp_path / "artifacts", bundle,
        params={"seed": 0}, metrics={"precision_at_2pct": 0.4}, tags={"git_commit": "abc"},
    )
    assert (first.version, second.version) == ("1", "2")
    assert champion_version(tracking) is None
    set_champion(tracking, "2")
    listed = list_model_versions(tracking)
    assert [row["version"] for row in listed["versions"]] == ["1", "2"]
    assert listed["champion"] == "2"
    assert version_run(tracking, "1")["metrics"]["precision_at_2pct"] == 0.3
    assert (tmp_path / "artifacts").is_dir()  # artifacts stay under the given root

    loaded, version = load_bundle(tracking)
    assert version == "2"
    pd.testing.assert_frame_equal(loaded.score(X), bundle.score(X))

    script = (
        "import json, sys, mlflow, mlflow.pyfunc, pandas as pd\n"
        f"mlflow.set_tracking_uri({tracking!r})\n"
        "model = mlflow.pyfunc.load_model('models:/dealer-risk@champion')\n"
        "X = pd.DataFrame({'traces_3y': [0.0, 3.0, 8.0]})\n"
        "print(json.dumps(model.predict(X)['score'].tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    fresh = json.loads(result.stdout.strip().splitlines()[-1])
    expected = bundle.score(pd.DataFrame({"traces_3y": [0.0, 3.0, 8.0]}))["score"].tolist()
    assert np.allclose(fresh, expected, atol=1e-12)
