"""The risk model: gradient-boosted trees with monotone constraints.

Monotone constraints come from the feature catalogue's expected directions, so the
model can never say that *more* short time-to-crime traces make a dealer *less* risky;
that keeps explanations believable to inspectors and the model robust to noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    import lightgbm as lgb

#: LightGBM settings that make a fit reproducible on any machine for one seed.
_DETERMINISTIC = {
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "monotone_constraints_method": "advanced",
}


class RiskModel:
    """LightGBM classifier of a serious inspection outcome, in log-odds.

    Parameters
    ----------
    params : dict, optional
        LightGBM parameters overriding :data:`DEFAULT_PARAMS`.
    num_boost_round : int
        Number of trees.
    monotone : mapping of feature name to +1, -1 or 0
        Expected direction per feature; features not named are unconstrained.
    balance_classes : bool
        Weight positives by negatives/positives so rare serious outcomes are learned.
    seed : int
        Seed for bagging and feature sampling; the fit is deterministic for a seed.

    Examples
    --------
    >>> X = pd.DataFrame({"traces_3y": [0, 1, 5, 9] * 50})
    >>> y = (X["traces_3y"] > 4).astype(int)
    >>> model = RiskModel(num_boost_round=5, monotone={"traces_3y": 1}).fit(X, y)
    >>> bool(model.predict_raw(X)[2] > model.predict_raw(X)[0])
    True
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        num_boost_round: int = 300,
        monotone: Mapping[str, int] | None = None,
        balance_classes: bool = True,
        seed: int = 0,
    ) -> None:
        self.params = dict(params or {})
        self.num_boost_round = num_boost_round
        self.monotone = dict(monotone or {})
        self.balance_classes = balance_classes
        self.seed = seed

    def _lightgbm_params(self, features: Sequence[str]) -> dict[str, Any]:
        params = {**DEFAULT_PARAMS, **self.params, **_DETERMINISTIC, "seed": self.seed}
        params["monotone_constraints"] = [int(self.monotone.get(name, 0)) for name in features]
        return params

    def fit(
        self,
        X: pd.DataFrame,
        y: npt.ArrayLike,
        sample_weight: npt.ArrayLike | None = None,
    ) -> RiskModel:
        """Fit on a feature frame and 0/1 labels; returns ``self``."""
        labels = np.asarray(y).astype(int)
        weights = np.ones(labels.size) if sample_weight is None else np.asarray(
            sample_weight, dtype=float
        )
        positives = labels.sum()
        if self.balance_classes and 0 < positives < labels.size:
            weights = weights * np.where(labels == 1, (labels.size - positives) / positives, 1.0)
        self.feature_names_ = list(X.columns)
        import lightgbm as lgb  # here, not at the top: commands that never fit skip ~1 s

        dataset = lgb.Dataset(
            X.to_numpy(dtype=float), label=labels, weight=weights,
            feature_name=self.feature_names_, free_raw_data=True,
        )
        self.booster_ = lgb.train(
            self._lightgbm_params(self.feature_names_), dataset,
            num_boost_round=self.num_boost_round,
        )
        return self

    @classmethod
    def from_booster(cls, booster: lgb.Booster, **kwargs: Any) -> RiskModel:
        """A fitted model around a stored booster (``kwargs`` restore the parameters)."""
        model = cls(**kwargs)
        model.booster_ = booster
        model.feature_names_ = list(booster.feature_name())
        return model

    def _matrix(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        missing = [name for name in self.feature_names_ if name not in X.columns]
        if missing:
            raise KeyError(f"features missing from the input: {missing}")
        return X[self.feature_names_].to_numpy(dtype=float)

    def predict_raw(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The raw margin (log-odds, before calibration) per row."""
        raw = self.booster_.predict(self._matrix(X), raw_score=True)
        return np.asarray(raw, dtype=float)

    def predict_contributions(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """LightGBM's own per-feature contributions (last column: the bias)."""
        contributions = self.booster_.predict(self._matrix(X), pred_contrib=True)
        return np.asarray(contributions, dtype=float)
