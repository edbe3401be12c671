"""Training examples: one row per historical inspection, with its label and opening date.

The contract gives only the date an inspection *closed* (its outcome became known). A
model that predicts "an inspection opened on T ends serious" must see features as of the
opening, not the closing: between the two the inspector is on site and the facts of that
visit (missing firearms, thefts found, the outcome itself) become known. We derive the
opening as the closing minus a typical duration. ATF's 2015-2017 inspection reports
(``inspection_assign_date`` to ``inspection_complete_date``, 1,919 reports) have a median
of 111 days and a 25th percentile of 60 days; the default of 120 days errs on the side of
older features, which can only cost accuracy, never leak.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from features.contract import SERIOUS_OUTCOMES

DEFAULT_INSPECTION_DURATION_DAYS = 120

#: Label definitions: the outcomes that count as positive.
LABELS: dict[str, tuple[str, ...]] = {
    "serious": SERIOUS_OUTCOMES,
    "warning_letter_or_worse": ("warning_letter", *SERIOUS_OUTCOMES),
    "any_violation": ("violations_cited", "warning_letter", *SERIOUS_OUTCOMES),
}


def training_examples(
    inspections: pd.DataFrame,
    as_of: dt.date,
    *,
    duration_days: int = DEFAULT_INSPECTION_DURATION_DAYS,
    label: str = "serious",
    inspection_types: Sequence[str] = ("compliance",),
) -> pd.DataFrame:
    """Inspections closed strictly before ``as_of``, with ``opened`` and ``label``.

    Returns columns ``inspection_id, license_number, opened, closed, outcome, label``,
    sorted by closing date then id so every later step is deterministic.
    """
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; choose one of {sorted(LABELS)}")
    closed = pd.to_datetime(inspections["inspection_date"])
    keep = (closed < pd.Timestamp(as_of)) & inspections["inspection_type"].isin(
        list(inspection_types)
    )
    rows = inspections.loc[keep, ["inspection_id", "license_number", "outcome"]].copy()
    rows["closed"] = closed[keep]
    rows["opened"] = rows["closed"] - pd.Timedelta(days=duration_days)
    rows["label"] = rows["outcome"].isin(list(LABELS[label])).astype(int)
    rows = rows.sort_values(["closed", "inspection_id"], kind="stable").reset_index(drop=True)
    return rows[["inspection_id", "license_number", "opened", "closed", "outcome", "label"]]
