"""Rolling-origin temporal validation.

Each fold trains on inspections that *closed* before its origin ``t`` (so every training
label was known at ``t``) and validates on inspections that *opened* on or after ``t`` and
closed within the year after it: a model trained at ``t`` can only ever score inspections
that open from ``t`` on. Origins step back one validation window at a time from the as-of
date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd


@dataclass(frozen=True)
class Fold:
    """One rolling-origin split, by closing date."""

    number: int
    origin: dt.date  # training: closed < origin
    validation_end: dt.date  # validation: opened >= origin and closed < validation_end

    def train_mask(self, closed: pd.Series) -> npt.NDArray[np.bool_]:
        return np.asarray(closed < pd.Timestamp(self.origin))

    def validation_mask(self, closed: pd.Series, opened: pd.Series) -> npt.NDArray[np.bool_]:
        return np.asarray(
            (opened >= pd.Timestamp(self.origin)) & (closed < pd.Timestamp(self.validation_end))
        )


def rolling_origin_folds(
    as_of: dt.date, n_folds: int = 3, validation_days: int = 365
) -> list[Fold]:
    """``n_folds`` folds, oldest first; the newest validates on the year before ``as_of``."""
    if n_folds < 1:
        raise ValueError("n_folds must be at least 1")
    folds = []
    for number in range(n_folds):
        back = n_folds - number
        origin = as_of - dt.timedelta(days=validation_days * back)
        folds.append(Fold(number + 1, origin, origin + dt.timedelta(days=validation_days)))
    return folds
