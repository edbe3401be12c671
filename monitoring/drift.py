"""Drift: how far the licensees on a date have moved from the model's training population.

The **reference** is the licensee population the champion was trained on, as of its
training date (the ``as_of`` its MLflow run records): the feature values of the champion's
own stored list as of that date when there is one (the scored list holds every licensee's
feature values and score), otherwise the feature table rebuilt from the store as of that
date and scored with the champion (point in time: the store's later rows do not enter).
The **current** population is the feature table as of the monitoring date, scored with
the champion. Each feature, and the score, gets a population stability index
(:func:`monitoring.figures.population_stability`), flagged at :data:`PSI_WATCH` and
:data:`PSI_ACT`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.pipelines.families import SHRUNK_RATES
from features.pipelines.tables import EventTables
from monitoring.figures import population_stability

#: PSI at or above this is worth watching (the usual 0.1).
PSI_WATCH = 0.10
#: PSI at or above this has moved enough to act on: retraining is recommended (0.25).
PSI_ACT = 0.25
#: The name the score's own drift row carries.
SCORE_ROW = "score"

STABLE, WATCH, ACT = "stable", "watch", "act"


@dataclass(frozen=True)
class Population:
    """Licensees' model features and scores on one date."""

    as_of: dt.date
    source: str  # "stored list <id>" or "feature table rebuilt from the store"
    features: pd.DataFrame  # index license_number, the model's features in its order
    scores: pd.Series  # calibrated score, same index


def level(psi: float) -> str:
    """``stable``, ``watch`` or ``act`` for a PSI value (NaN is stable: nothing to say)."""
    if psi >= PSI_ACT:
        return ACT
    if psi >= PSI_WATCH:
        return WATCH
    return STABLE


def drift_rows(reference: Population, current: Population) -> list[dict[str, Any]]:
    """One row per model feature and one for the score: PSI, flagged, level.

    ``flagged`` is true from the watch level (0.1) up; ``level`` says which.

    The shrunk rates (:data:`features.pipelines.families.SHRUNK_RATES`) get no row: a
    shrunk rate is its raw rate pulled toward a prior the peers refit every year, so every
    licensee with no events moves together whenever the peers' pooled rate moves a little,
    which PSI on quantile bins reads as the whole distribution moving (a world stable
    through 2024 gave PSI 0.62 on one of them). Their licensees' own drift is that of the
    raw counts and rates they are built from, which have rows of their own.
    """
    rows = []
    names = [*(name for name in reference.features.columns if name not in SHRUNK_RATES),
             SCORE_ROW]
    for name in names:
        if name == SCORE_ROW:
            ref, cur = reference.scores.to_numpy(float), current.scores.to_numpy(float)
        else:
            ref = reference.features[name].to_numpy(float)
            cur = (current.features[name].to_numpy(float) if name in current.features
                   else np.full(len(current.features), np.nan))
        psi = population_stability(ref, cur)
        psi = 0.0 if np.isnan(psi) else psi
        rows.append({"feature": name, "psi": round(psi, 6), "flagged": psi >= PSI_WATCH,
                     "level": level(psi)})
    return rows


def first_known_event(tables: EventTables) -> pd.Series:
    """Each licensee's earliest known-date of any trace, multiple sale, theft or loss
    report or inspection (licensees without one are absent)."""
    parts = []
    for frame, column in ((tables.traces, "trace_date"), (tables.multiple_sales, "report_date"),
                          (tables.theft_loss, "report_date"),
                          (tables.inspections, "inspection_date")):
        if frame is None or frame.empty:
            continue
        # Per table first, grouped on the licensees' numbers (factorize hashes each
        # distinct license once): millions of traces, tens of thousands of licensees.
        codes, uniques = pd.factorize(frame["license_number"])
        known = pd.Series(pd.to_datetime(frame[column]).to_numpy())
        valid = codes >= 0
        earliest = known[valid].groupby(codes[valid]).min()
        parts.append(pd.DataFrame({
            "license_number": pd.Index(uniques).astype(str)[earliest.index.to_numpy()],
            "known": earliest.to_numpy()}))
    if not parts:
        return pd.Series(dtype="datetime64[ns]")
    return pd.concat(parts).groupby("license_number")["known"].min()


def no_history_share(first_event: pd.Series, licensees: pd.Index, as_of: dt.date
                     ) -> float | None:
    """The share of ``licensees`` with no trace, multiple sale, theft or loss report or
    inspection known before ``as_of``: those the model can judge only by their profile.

    ``first_event`` comes from :func:`first_known_event`.
    """
    if len(licensees) == 0:
        return None
    first = first_event.reindex(pd.Index(licensees.astype(str)))
    with_history = (first < pd.Timestamp(as_of)).fillna(False).to_numpy(dtype=bool)
    return float(1.0 - with_history.mean())
