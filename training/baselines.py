"""Baselines the model must beat, trained and evaluated exactly like it.

- ``random``: the order an inspector without a list would follow (seeded).
- ``demand_letter_2``: today's rule: licensees meeting Demand Letter 2 first, then by the
  number of short time-to-crime traces that rule counts.
- ``trace_count``: most crime-gun traces in the last 3 years first.
- ``traces_per_sales``: highest traces per 1,000 sales first (volume-adjusted).
- ``logistic_regression``: a linear model on the same features as the risk model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FloatArray = npt.NDArray[np.float64]


class Ranker(Protocol):
    """Anything that learns from a feature frame and ranks rows (higher = inspect first)."""

    name: str

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> Ranker: ...

    def score(self, X: pd.DataFrame) -> FloatArray: ...


def _column(X: pd.DataFrame, name: str) -> FloatArray:
    # Missing (e.g. no sales volume, so no rate) ranks last, not first.
    return np.asarray(X[name].astype(float).fillna(-1.0).to_numpy(), dtype=np.float64)


class RandomOrder:
    """A seeded random order: the floor any list must clear."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> RandomOrder:  # noqa: ARG002
        return self

    def score(self, X: pd.DataFrame) -> FloatArray:
        return np.random.default_rng(self.seed).random(len(X))


class ColumnRule:
    """Rank by one feature, ties broken by a second; learns nothing."""

    def __init__(self, name: str, column: str, tie_break: str | None = None) -> None:
        self.name = name
        self.column = column
        self.tie_break = tie_break

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> ColumnRule:  # noqa: ARG002
        return self

    def score(self, X: pd.DataFrame) -> FloatArray:
        primary = _column(X, self.column)
        if self.tie_break is None:
            return primary
        secondary = _column(X, self.tie_break)
        # The secondary value, squashed into (0, 1), orders rows within a primary value.
        return primary + (np.arctan(np.maximum(secondary, 0)) / np.pi * 2) * 0.999


class LogisticBaseline:
    """Logistic regression on the model's features: median-imputed, standardised."""

    name = "logistic_regression"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: npt.ArrayLike) -> LogisticBaseline:
        # scikit-learn here, not at the top: planning imports this module for the Demand
        # Letter 2 rule, and scikit-learn's import alone takes half a second.
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline_: Pipeline = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(class_weight="balanced", max_iter=2000, random_state=self.seed),
        )
        self.pipeline_.fit(X.astype(float).to_numpy(), np.asarray(y).astype(int))
        return self

    def score(self, X: pd.DataFrame) -> FloatArray:
        return np.asarray(self.pipeline_.predict_proba(X.astype(float).to_numpy())[:, 1])


def demand_letter_2_rule() -> ColumnRule:
    """Today's rule: licensees meeting Demand Letter 2 first, then by its counted traces.

    Training reports it as a baseline; a plan reports what the rule's plan would find.
    """
    return ColumnRule("demand_letter_2", "meets_demand_letter_2_previous_year",
                      tie_break="demand_letter_2_traces_previous_year")


def default_baselines(seed: int = 0) -> list[Ranker]:
    """The five baselines every training run reports beside the model."""
    return [
        RandomOrder(seed),
        demand_letter_2_rule(),
        ColumnRule("trace_count", "traces_3y"),
        ColumnRule("traces_per_sales", "traces_per_1k_sales_3y"),
        LogisticBaseline(seed),
    ]
