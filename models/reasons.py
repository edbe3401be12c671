"""Reason texts: the top SHAP contributions of a score, in the catalogue's plain words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
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


def _top_positive(
    contributions: npt.NDArray[np.float64], count: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per row, the columns of the ``count`` largest contributions, and how many are > 0.

    A stable sort on the negated values puts the largest first and breaks ties by column,
    so the choice is deterministic. Row ``i``'s reasons are ``columns[i, :kept[i]]``: the
    sorted contributions are positive up to the first one that is not.
    """
    columns = np.argsort(-contributions, axis=1, kind="stable")[:, :count]
    top = np.take_along_axis(contributions, columns, axis=1)
    kept = np.cumprod(~(top <= 0), axis=1).sum(axis=1)
    return columns, kept


def top_reasons(
    contributions: pd.DataFrame, values: pd.DataFrame, count: int = 3
) -> list[list[Reason]]:
    """For each row, up to ``count`` features that raised the score most, largest first.

    Only positive contributions are reasons to inspect; a low-risk licensee may have none.
    Ties are broken by feature order so the texts are deterministic.
    """
    matrix = contributions.to_numpy(dtype=float)
    names: Sequence[str] = list(contributions.columns)
    columns, kept = _top_positive(matrix, count)
    value_matrix = values[list(names)].to_numpy(dtype=float)
    result: list[list[Reason]] = []
    for row, (chosen, size) in enumerate(zip(columns, kept, strict=True)):
        reasons = []
        for column in chosen[:size]:
            name = names[column]
            raw = value_matrix[row, column]
            value = None if np.isnan(raw) else float(raw)
            reasons.append(Reason(
                feature=name,
                family=str(get_feature(name).family),
                value=value,
                shap_value=float(matrix[row, column]),
                text=describe(name, value),
            ))
        result.append(reasons)
    return result


def top_reason_texts(
    contributions: npt.NDArray[np.float64], values: npt.NDArray[np.float64],
    features: Sequence[str], count: int = 3,
) -> list[list[str]]:
    """The texts of :func:`top_reasons`, for a whole list at once.

    Parameters
    ----------
    contributions, values : ndarray of shape (licensees, features)
        SHAP contributions and feature values (NaN = unknown), columns in ``features``
        order.
    features : sequence of str
        The catalogue names of the columns.
    count : int
        At most this many reasons per licensee.

    Returns
    -------
    list of list of str
        Per row, the same texts, in the same order, as ``[r.text for r in
        top_reasons(...)[row]]``. Each distinct (feature, value) is described once: a
        list of 80,000 licensees has far fewer distinct values than reasons.

    Examples
    --------
    >>> top_reason_texts(np.array([[0.5, -0.1]]), np.array([[12.0, 0.0]]),
    ...                  ["traces_3y", "never_inspected"])
    [['12 crime guns sold by this licensee were traced in the last 3 years.']]
    """
    contributions = np.asarray(contributions, dtype=float)
    values = np.asarray(values, dtype=float)
    rows = contributions.shape[0]
    columns, kept = _top_positive(contributions, count)
    width = columns.shape[1]
    texts = np.empty((rows, width), dtype=object)
    used = np.arange(width)[np.newaxis, :] < kept[:, np.newaxis]
    chosen_rows, slots = np.nonzero(used)
    chosen_columns = columns[chosen_rows, slots]
    chosen_values = values[chosen_rows, chosen_columns]
    for column in np.unique(chosen_columns):
        name = features[column]
        here = np.flatnonzero(chosen_columns == column)
        own = chosen_values[here]
        missing = np.isnan(own)
        if missing.any():
            texts[chosen_rows[here[missing]], slots[here[missing]]] = describe(name, None)
        known = here[~missing]
        # Distinct bit patterns, not distinct floats: -0.0 and 0.0 are described apart,
        # exactly as a per-value call would describe them.
        distinct, inverse = np.unique(chosen_values[known].view(np.int64), return_inverse=True)
        described = np.empty(distinct.size, dtype=object)
        described[:] = [describe(name, float(value)) for value in distinct.view(np.float64)]
        texts[chosen_rows[known], slots[known]] = described[inverse.reshape(-1)]
    return [row[:size] for row, size in zip(texts.tolist(), kept.tolist(), strict=True)]
