"""Calibration: mapping the model's log-odds to a probability one can read as such.

Class weighting during training shifts the raw margin, so raw scores are not
probabilities. A logistic (Platt) map ``score = 1 / (1 + exp(-(slope * raw + intercept)))``
fitted on held-out time fixes that. It is monotone, so it never changes the ranking, and
it is two numbers a supervisor can read, unlike a step function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class PlattCalibrator:
    """``score = sigmoid(slope * raw_score + intercept)``."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, raw_scores: npt.ArrayLike, y_true: npt.ArrayLike,
            sample_weight: npt.ArrayLike | None = None) -> PlattCalibrator:
        """Fit on held-out raw scores and outcomes (barely regularised logistic fit).

        ``sample_weight`` (optional) weighs each outcome, e.g. by inverse selection
        probability; without it every outcome counts once.
        """
        raw = np.asarray(raw_scores, dtype=float).reshape(-1, 1)
        labels = np.asarray(y_true).astype(int)
        if labels.min() == labels.max():
            raise ValueError("calibration needs both serious and non-serious outcomes")
        from sklearn.linear_model import LogisticRegression  # ~0.5 s: only when fitting

        model = LogisticRegression(C=1e6, max_iter=1000).fit(
            raw, labels, sample_weight=None if sample_weight is None
            else np.asarray(sample_weight, dtype=float))
        slope = float(model.coef_[0, 0])
        # A negative slope would reverse the ranking: the held-out data are too few or
        # the model is worse than useless; refuse rather than silently flip the list.
        if slope <= 0:
            raise ValueError(f"calibration slope {slope:.3f} is not positive")
        return cls(slope=slope, intercept=float(model.intercept_[0]))

    def transform(self, raw_scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Probabilities for raw scores."""
        raw = np.asarray(raw_scores, dtype=float)
        return np.asarray(1.0 / (1.0 + np.exp(-(self.slope * raw + self.intercept))))

    def describe(self) -> str:
        """The map in words and numbers, for explanations and the model card."""
        return (
            f"score = 1 / (1 + exp(-({self.slope:.6f} * raw_score + {self.intercept:.6f}))), "
            "a logistic (Platt) calibration fitted on held-out inspections"
        )
