"""SHAP explanations of the raw margin (log-odds).

Explaining the margin, not the calibrated probability, keeps the explanation exact and
additive: ``base_value + sum(contributions) == raw_score`` for every licensee. The
calibrated score is then a fixed, monotone function of that sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import shap

from models.estimator import RiskModel


@dataclass(frozen=True)
class Explanation:
    """SHAP contributions per row and feature, plus the shared base value."""

    base_value: float
    contributions: pd.DataFrame  # rows aligned with the input, one column per feature
    raw_scores: npt.NDArray[np.float64]


class RiskExplainer:
    """TreeSHAP on a fitted :class:`RiskModel`'s raw output."""

    def __init__(self, model: RiskModel) -> None:
        self.model = model
        self._explainer = shap.TreeExplainer(
            model.booster_, model_output="raw", feature_perturbation="tree_path_dependent"
        )

    def explain(self, X: pd.DataFrame) -> Explanation:
        """Contributions for every row of ``X``; additivity is checked, not assumed."""
        matrix = X[self.model.feature_names_].to_numpy(dtype=float)
        values = np.asarray(self._explainer.shap_values(matrix, check_additivity=False))
        expected = np.asarray(self._explainer.expected_value, dtype=float).reshape(-1)
        base_value = float(expected[-1])
        raw = self.model.predict_raw(X)
        gap = np.abs(base_value + values.sum(axis=1) - raw)
        if gap.size and gap.max() > 1e-6:
            raise ArithmeticError(f"SHAP values do not add up to the raw score (gap {gap.max()})")
        contributions = pd.DataFrame(values, index=X.index, columns=self.model.feature_names_)
        return Explanation(base_value=base_value, contributions=contributions, raw_scores=raw)
