"""Reason texts: the top SHAP contributions of a score, in the catalogue's plain words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import describe, get_feature


@dataclass(frozen=True)
class Reason:
    """One reason a licensee scores high: a feature that raised its score."""

    feature: str
    family: str
    value: float | None
    shap_value: float
    text: str


def top_reasons(
    contributions: pd.DataFrame, values: pd.DataFrame, count: int = 3
) -> list[list[Reason]]:
    """For each row, up to ``count`` features that raised the score most, largest first.

    Only positive contributions are reasons to inspect; a low-risk licensee may have none.
    Ties are broken by feature order so the texts are deterministic.
    """
    matrix = contributions.to_numpy(dtype=float)
    names: Sequence[str] = list(contributions.columns)
    # Stable sort on the negated values: the largest contribution first, ties by column.
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :count]
    value_matrix = values[list(names)].to_numpy(dtype=float)
    result: list[list[Reason]] = []
    for row, columns in enumerate(order):
        reasons = []
        for column in columns:
            shap_value = matrix[row, column]
            if shap_value <= 0:
                break
            name = names[column]
            raw = value_matrix[row, column]
            value = None if np.isnan(raw) else float(raw)
            reasons.append(Reason(
                feature=name,
                family=str(get_feature(name).family),
                value=value,
                shap_value=float(shap_value),
                text=describe(name, value),
            ))
        result.append(reasons)
    return result
