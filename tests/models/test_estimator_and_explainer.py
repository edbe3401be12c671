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


def test_contributions_are_shap_tree_explainer_values() -> None:
    # shap's own TreeExplainer is the oracle for the values LightGBM computes for us.
    import shap

    X, y = _planted_world()
    model = RiskModel(num_boost_round=30).fit(X, y)
    ours = RiskExplainer(model).explain(X.iloc[:200])
    oracle = shap.TreeExplainer(model.booster_, model_output="raw",
                                feature_perturbation="tree_path_dependent")
    expected = np.asarray(oracle.shap_values(X.iloc[:200].to_numpy(), check_additivity=False))
    assert np.allclose(ours.contributions.to_numpy(), expected, atol=1e-9)
    assert ours.base_value == pytest.approx(
        float(np.asarray(oracle.expected_value).reshape(-1)[-1]), abs=1e-9)


def test_explaining_no_rows_gives_an_empty_explanation_with_the_base_value() -> None:
    X, y = _planted_world()
    explainer = RiskExplainer(RiskModel(num_boost_round=20).fit(X, y))
    empty = explainer.explain(X.iloc[:0])
    assert empty.contributions.shape == (0, 3)
    assert empty.raw_scores.shape == (0,)
    assert empty.base_value == explainer.explain(X.iloc[:5]).base_value


def test_explanations_that_do_not_add_up_are_refused() -> None:
    X, y = _planted_world()
    model = RiskModel(num_boost_round=20).fit(X, y)
    other = RiskModel(num_boost_round=20, seed=9).fit(X, 1 - y)

    class Mismatched(RiskModel):
        """Contributions from one booster, the margin from another."""

    mismatched = Mismatched()
    mismatched.feature_names_ = model.feature_names_
    mismatched.booster_ = _SplitBooster(model.booster_, other.booster_)  # type: ignore[assignment]
    with pytest.raises(ArithmeticError, match="add up"):
        RiskExplainer(mismatched).explain(X.iloc[:50])


class _SplitBooster:
    def __init__(self, contributions: object, margin: object) -> None:
        self._contributions, self._margin = contributions, margin

    def predict(self, matrix: np.ndarray, **kwargs: bool) -> np.ndarray:
        booster = self._contributions if kwargs.get("pred_contrib") else self._margin
        return np.asarray(booster.predict(matrix, **kwargs))  # type: ignore[attr-defined]


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
