"""The model is monotone, deterministic, calibrated and exactly explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from models.explainer import RiskExplainer


def _planted_world(seed: int = 0, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "short_ttc_traces_3y": rng.poisson(1.0, n).astype(float),
        "days_since_last_inspection": rng.uniform(0, 3000, n),
        "noise": rng.normal(size=n),
    })
    logit = -3.5 + 0.8 * X["short_ttc_traces_3y"] + 0.0004 * X["days_since_last_inspection"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def test_fit_is_deterministic_for_a_seed() -> None:
    X, y = _planted_world()
    first = RiskModel(num_boost_round=50, seed=3).fit(X, y).predict_raw(X)
    second = RiskModel(num_boost_round=50, seed=3).fit(X, y).predict_raw(X)
    assert np.array_equal(first, second)


def test_monotone_constraint_holds_along_the_constrained_feature() -> None:
    X, y = _planted_world()
    model = RiskModel(num_boost_round=80, monotone={"short_ttc_traces_3y": 1}).fit(X, y)
    probe = pd.DataFrame({
        "short_ttc_traces_3y": np.arange(0, 15, dtype=float),
        "days_since_last_inspection": 1000.0,
        "noise": 0.3,
    })
    raw = model.predict_raw(probe)
    assert np.all(np.diff(raw) >= -1e-12)
    assert raw[-1] > raw[0]


def test_shap_contributions_plus_base_value_equal_the_raw_score() -> None:
    X, y = _planted_world()
    model = RiskModel(num_boost_round=60).fit(X, y)
    explanation = RiskExplainer(model).explain(X.iloc[:500])
    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - model.predict_raw(X.iloc[:500]))) < 1e-6
    # The planted driver matters more than noise.
    importance = explanation.contributions.abs().mean()
    assert importance["short_ttc_traces_3y"] > importance["noise"]


def test_shap_matches_lightgbm_pred_contrib() -> None:
    X, y = _planted_world()
    model = RiskModel(num_boost_round=30).fit(X, y)
    ours = RiskExplainer(model).explain(X.iloc[:200]).contributions.to_numpy()
    native = model.predict_contributions(X.iloc[:200])[:, :-1]
    assert np.allclose(ours, native, atol=1e-6)


def test_platt_calibration_is_monotone_and_matches_the_base_rate() -> None:
    X, y = _planted_world()
    model = RiskModel(num_boost_round=60).fit(X[:2000], y[:2000])
    raw_holdout = model.predict_raw(X[2000:])
    calibrator = PlattCalibrator.fit(raw_holdout, y[2000:])
    probabilities = calibrator.transform(raw_holdout)
    assert np.all(np.diff(probabilities[np.argsort(raw_holdout)]) >= 0)
    # Class weighting inflates raw scores; the calibrated mean is near the true rate.
    assert probabilities.mean() == pytest.approx(y[2000:].mean(), abs=0.02)
    assert "raw_score" in calibrator.describe()


def test_calibration_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="both"):
        PlattCalibrator.fit([0.1, 0.2, 0.3], [0, 0, 0])
