"""Inspections linked to the plans that chose the licensees (the contract's rule).

An inspection counts for a plan when it is a **compliance** inspection of a **planned**
licensee that **closes** (its ``inspection_date``, when its outcome became known) inside the
plan's period or within :data:`GRACE_DAYS` after its last day, and is known strictly
before the monitoring date. A licensee with more than one such inspection counts once, by
the first to close. A planned licensee with none is **pending** while the window (period
plus grace) is still open on the monitoring date, and **not inspected** once it has closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.contract import SERIOUS_OUTCOMES
from planning.plans import PlanInfo, read_plan_rows, stored_plans

#: Days after a period's last day in which an inspection still counts for the plan: an
#: inspection opened late in the period closes weeks or months later (a serious one
#: takes a median of about six months), and the contract counts it by its closing date.
GRACE_DAYS = 90

INSPECTED = "inspected"
PENDING = "pending"
NOT_INSPECTED = "not_inspected"


def window_end(plan: PlanInfo) -> dt.date:
    """The last day an inspection can close and still count for ``plan``."""
    return plan.period_end + dt.timedelta(days=GRACE_DAYS)


def window_closed(plan: PlanInfo, as_of: dt.date) -> bool:
    """True when every day of the plan's window is known before ``as_of``."""
    return window_end(plan) < as_of


def link_outcomes(
    plan: PlanInfo, rows: pd.DataFrame, inspections: pd.DataFrame, as_of: dt.date,
    marks: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per planned licensee with what the field found by ``as_of``.

    ``rows`` are the plan's stored rows (``planning.plans.read_plan_rows``);
    ``inspections`` the contract's inspections (only those known before ``as_of`` are
    used). Adds ``inspected`` (bool), ``serious`` (bool, False when not inspected),
    ``inspection_id``, ``inspection_date``, ``outcome`` and ``status`` (``inspected``,
    ``pending`` or ``not_inspected``) and ``mark_reason``: the reason an inspector marked
    the licensee "not inspected" (``marks``, reasons by license number; None when
    unmarked). A mark never changes ``status``: a marked licensee that was inspected all
    the same counts as inspected, and monitoring counts marked licensees separately.
    """
    day = pd.Timestamp(as_of)
    dates = pd.to_datetime(inspections["inspection_date"])
    inside = (
        (inspections["inspection_type"] == "compliance")
        & (dates < day)
        & (dates >= pd.Timestamp(plan.period_start))
        & (dates <= pd.Timestamp(window_end(plan)))
        & inspections["license_number"].isin(set(rows["license_number"]))
    )
    found = (inspections.loc[inside, ["license_number", "inspection_id", "inspection_date",
                                      "outcome"]]
             .assign(inspection_date=dates[inside])
             .sort_values(["inspection_date", "inspection_id"], kind="stable")
             .drop_duplicates("license_number", keep="first")
             .set_index("license_number"))
    linked = rows.reset_index(drop=True).copy()
    matched = found.reindex(linked["license_number"])
    linked["inspection_id"] = matched["inspection_id"].to_numpy(dtype=object)
    linked["inspection_date"] = matched["inspection_date"].to_numpy()
    linked["outcome"] = matched["outcome"].to_numpy(dtype=object)
    linked["inspected"] = matched["inspection_id"].notna().to_numpy(dtype=bool)
    linked["serious"] = matched["outcome"].isin(SERIOUS_OUTCOMES).to_numpy(dtype=bool)
    waiting = NOT_INSPECTED if window_closed(plan, as_of) else PENDING
    linked["status"] = np.where(linked["inspected"], INSPECTED, waiting)
    reasons = marks if marks is not None else pd.Series(dtype=object)
    found_reasons = reasons.reindex(linked["license_number"]).to_numpy(dtype=object)
    linked["mark_reason"] = pd.Series([None if pd.isna(r) else str(r) for r in found_reasons],
                                      index=linked.index, dtype=object)
    return linked


def selection_probabilities(
    plans: Sequence[tuple[PlanInfo, pd.DataFrame]], inspections: pd.DataFrame,
    as_of: dt.date,
) -> pd.DataFrame:
    """Each inspection known before ``as_of`` that came from a plan made before it, with the
    probability that the plans selected its licensee.

    ``plans`` pairs each plan with its stored rows; an inspection comes from a plan when
    :func:`link_outcomes` links it (the same rule as monitoring). Plans made on or after
    ``as_of`` are ignored, so nothing known later changes the result. An inspection linked
    to more than one plan (overlapping windows) gets the probability of being selected by
    at least one, ``1 - prod(1 - p)``, as the plans draw independently. Returns columns
    ``inspection_id``, ``selection_probability`` and ``plans`` (how many linked it), sorted
    by id.
    """
    parts = []
    for plan, rows in plans:
        if plan.as_of >= as_of or rows.empty:
            continue
        linked = link_outcomes(plan, rows, inspections, as_of)
        parts.append(linked.loc[linked["inspected"], ["inspection_id", "selection_probability"]])
    if not parts:
        return pd.DataFrame({"inspection_id": pd.Series(dtype=object),
                             "selection_probability": pd.Series(dtype=float),
                             "plans": pd.Series(dtype="int64")})
    joined = pd.concat(parts, ignore_index=True)
    joined["missed"] = 1.0 - joined["selection_probability"].astype(float)
    grouped = joined.groupby("inspection_id", sort=True).agg(
        first=("selection_probability", "first"), missed=("missed", "prod"),
        plans=("missed", "size"))
    # One plan: its own probability exactly (1 - (1 - p) is not p in floating point).
    probability = np.where(grouped["plans"] == 1, grouped["first"].astype(float),
                           1.0 - grouped["missed"].to_numpy())
    return pd.DataFrame({"inspection_id": grouped.index.to_numpy(dtype=object),
                         "selection_probability": probability,
                         "plans": grouped["plans"].to_numpy(dtype="int64")})


def stored_selection_probabilities(
    engine: Engine, inspections: pd.DataFrame, as_of: dt.date,
) -> pd.DataFrame:
    """:func:`selection_probabilities` over every plan in the store made before ``as_of``."""
    plans = [plan for plan in stored_plans(engine, limit=100_000) if plan.as_of < as_of]
    return selection_probabilities(
        [(plan, read_plan_rows(engine, plan.plan_id)) for plan in plans], inspections, as_of)
