"""A saved bundle loads back and scores and explains identically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.bundle import ModelBundle, fingerprint
from models.calibration import PlattCalibrator
from models.estimator import RiskModel


def _bundle() -> tuple[ModelBundle, pd.DataFrame]:
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"traces_3y": rng.poisson(2, 800).astype(float),
                      "noise": rng.normal(size=800)})
    y = (rng.random(800) < 0.05 + 0.05 * X["traces_3y"].clip(0, 5)).astype(int)
    model = RiskModel(num_boost_round=30, monotone={"traces_3y": 1}).fit(X, y)
    calibrator = PlattCalibrator.fit(model.predict_raw(X), y)
    catalogue = [{"name": "traces_3y", "family": "traces"}, {"name": "noise", "family": "x"}]
    return ModelBundle(model, calibrator, catalogue, {"as_of": "2023-01-01"}), X


def test_saved_bundle_scores_and_explains_identically(tmp_path: Path) -> None:
    bundle, X = _bundle()
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.features == ["traces_3y", "noise"]
    pd.testing.assert_frame_equal(loaded.score(X), bundle.score(X))
    original, again = bundle.explain(X), loaded.explain(X)
    assert again.base_value == original.base_value
    pd.testing.assert_frame_equal(again.contributions, original.contributions)
    assert loaded.metadata == {"as_of": "2023-01-01"}
    assert loaded.model.monotone == {"traces_3y": 1}


def test_fingerprint_changes_with_any_value() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    changed = frame.copy()
    changed.loc[1, "b"] = 4.5
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame) != fingerprint(changed)
