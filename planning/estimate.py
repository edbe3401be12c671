"""The unbiased estimate of the serious rate among a plan's eligible licensees.

The plan is a stratified design (``planning.design``): in each division, the risk picks
are a census of the top scores (inclusion probability 1) and the exploration picks a simple
random sample without replacement of ``n_d`` of the other ``N_d`` eligible licensees
(probability ``n_d / N_d``). With ``y_i = 1`` for a serious outcome, the Horvitz-Thompson
estimate of the number of eligible licensees whose inspection would end serious is

    T = Σ_risk y_i  +  Σ_d (N_d / n_d) Σ_{i ∈ exploration_d} y_i

and of the rate ``R = T / N`` (``N`` eligible licensees in divisions with capacity). Its
variance comes from the exploration strata only (the census part has none):

    Var(T) = Σ_d N_d² (1 - n_d / N_d) s_d² / n_d

with ``s_d²`` estimated, for every division alike, as ``p̃(1 - p̃)`` with ``p̃ = (x + 2) /
(n + 4)`` the Agresti-Coull-adjusted share serious over all ``n`` exploration outcomes of
the plan (``x`` serious): each division samples only a few licensees, and a rare outcome
often leaves a division's own sample variance at zero. The
95% interval is ``R ± 1.96 √Var(T) / N``, clipped to [0, 1]. Planned licensees that were
not inspected are treated as missing at random within their stratum: the stratum's mean is
taken over the inspected ones (``n_d`` then counts those), which is the Hájek form of the
same estimate and unbiased when the shortfall does not depend on the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planning.design import EXPLORATION, RISK

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class RateEstimate:
    """An estimated rate with its 95% interval and what it rests on."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    population: int  # eligible licensees the rate is about
    observed: int  # inspected planned licensees it is estimated from


def serious_rate(rows: pd.DataFrame, eligible_by_division: pd.Series) -> RateEstimate:
    """Estimate the serious rate among eligible licensees from a plan's outcomes.

    ``rows`` has one row per planned licensee: ``field_division``, ``selected_by``,
    ``inspected`` (bool) and ``serious`` (bool, meaningful where inspected).
    ``eligible_by_division`` gives ``N`` per division (the plan's eligible counts).
    The estimate is None when some stratum has no inspected licensee.
    """
    inspected = rows["inspected"].astype(bool).to_numpy()
    keys = ["field_division", "selected_by"]
    planned = rows.groupby(keys).size().to_dict()
    per_division = rows.groupby("field_division").size().to_dict()
    seen = rows.loc[inspected, keys].assign(
        serious=rows.loc[inspected, "serious"].astype(float).to_numpy())
    # Per stratum: inspected licensees and their serious outcomes (a NaN outcome stays NaN).
    grouped = seen.groupby(keys)["serious"]
    seen_count = grouped.size().to_dict()
    serious_count = grouped.agg(_sum_keeping_nan).to_dict()
    # (stratum size, inspected, serious among them): one groupby, not a filter per division.
    strata: list[tuple[int, int, float]] = []
    population = 0
    for division, eligible in eligible_by_division.items():
        if eligible <= 0 or not per_division.get(division, 0):
            continue  # no capacity: outside the estimate
        population += int(eligible)
        risk = int(planned.get((division, RISK), 0))
        for selected_by, size in ((RISK, risk), (EXPLORATION, int(eligible) - risk)):
            if size > 0:
                key = (division, selected_by)
                strata.append((size, int(seen_count.get(key, 0)),
                               float(serious_count.get(key, 0.0))))
    observed = sum(count for _, count, _ in strata)
    if population == 0 or any(count == 0 for _, count, _ in strata):
        return RateEstimate(None, None, None, population, observed)
    sampled = [(count, serious) for size, count, serious in strata if size > count]
    pooled_count = sum(count for count, _ in sampled)
    pooled_serious = sum(serious for _, serious in sampled)
    # One variance for every sampled stratum: the Agresti-Coull-adjusted share serious
    # over all of the plan's exploration outcomes (two added of each kind). A division
    # samples only a few licensees, and a rare outcome often gives none serious, whose
    # own variance (zero) would claim a certainty the sample does not have.
    adjusted = (pooled_serious + 2.0) / (pooled_count + 4.0)
    spread = adjusted * (1.0 - adjusted)
    total = 0.0
    variance = 0.0
    for size, count, serious in strata:
        total += size * (serious / count)
        if size > count:  # a census has no sampling variance
            variance += size**2 * (1 - count / size) * spread / count
    rate = total / population
    half = Z_95 * math.sqrt(variance) / population
    return RateEstimate(rate, max(0.0, rate - half), min(1.0, rate + half), population,
                        observed)


def _sum_keeping_nan(outcomes: pd.Series) -> float:
    """The serious outcomes of a stratum; NaN if one is unknown (pandas' sum would skip it)."""
    return float(np.sum(outcomes.to_numpy(dtype=float)))


def naive_rate(rows: pd.DataFrame) -> float | None:
    """The share serious among inspected planned licensees, ignoring the design."""
    seen = rows[rows["inspected"].astype(bool)]
    return float(seen["serious"].astype(float).mean()) if len(seen) else None
