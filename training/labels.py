"""Training examples: one row per historical inspection, with its label and opening date.

The contract gives only the date an inspection *closed* (its outcome became known). A
model that predicts "an inspection opened on T ends serious" must see features as of the
opening, not the closing: between the two the inspector is on site and the facts of that
visit (missing firearms, thefts found, the outcome itself) become known. We derive the
opening as the closing minus a typical duration **for that outcome**.

Why per outcome: inspections that end badly take longer (ATF's 2015-2017 reports,
``inspection_assign_date`` to ``inspection_complete_date``: warning letters a median of
about 105 days, warning conferences 176, revocations 211; the generator uses the same
medians and 60 and 80 days for clean and cited inspections). One duration for all would put
the derived opening of serious inspections systematically *after* their real opening and
that of clean ones before it, so "time since" and windowed features would carry part of
the label. Subtracting each outcome's typical duration makes the error independent of the
label on average; only the outcome's ordinary spread remains.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from data.contract import SERIOUS_OUTCOMES

DEFAULT_INSPECTION_DURATION_DAYS = 120

#: Typical days from opening to closing by outcome (see the module docstring).
DEFAULT_DURATION_DAYS_BY_OUTCOME: dict[str, int] = {
    "no_violations": 60,
    "violations_cited": 80,
    "warning_letter": 105,
    "warning_conference": 176,
    "revocation": 211,
}

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
    duration_days_by_outcome: dict[str, int] | None = None,
    label: str = "serious",
    inspection_types: Sequence[str] = ("compliance",),
) -> pd.DataFrame:
    """Inspections closed strictly before ``as_of``, with ``opened`` and ``label``.

    ``opened`` is the closing date minus the outcome's typical duration
    (``duration_days_by_outcome``, default :data:`DEFAULT_DURATION_DAYS_BY_OUTCOME`), or
    ``duration_days`` for an outcome it does not list.

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
    durations = duration_days_by_outcome if duration_days_by_outcome is not None \
        else DEFAULT_DURATION_DAYS_BY_OUTCOME
    days = rows["outcome"].map(durations).fillna(duration_days).astype("int64")
    rows["opened"] = rows["closed"] - pd.to_timedelta(days.to_numpy(), unit="D")
    rows["label"] = rows["outcome"].isin(list(LABELS[label])).astype(int)
    rows = rows.sort_values(["closed", "inspection_id"], kind="stable").reset_index(drop=True)
    return rows[["inspection_id", "license_number", "opened", "closed", "outcome", "label"]]
