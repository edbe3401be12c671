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
    strata: list[tuple[int, np.ndarray]] = []  # (stratum size, observed outcomes)
    population = 0
    for division, eligible in eligible_by_division.items():
        planned = rows[rows["field_division"] == division]
        if eligible <= 0 or planned.empty:
            continue  # no capacity: outside the estimate
        population += int(eligible)
        risk = planned[planned["selected_by"] == RISK]
        explore = planned[planned["selected_by"] == EXPLORATION]
        for stratum, size in ((risk, len(risk)), (explore, int(eligible) - len(risk))):
            if size > 0:
                seen = stratum[stratum["inspected"].astype(bool)]
                strata.append((size, seen["serious"].astype(float).to_numpy()))
    observed = sum(int(y.size) for _, y in strata)
    if population == 0 or any(y.size == 0 for _, y in strata):
        return RateEstimate(None, None, None, population, observed)
    sampled = [y for size, y in strata if size > y.size]
    pooled = np.concatenate(sampled) if sampled else np.empty(0)
    # One variance for every sampled stratum: the Agresti-Coull-adjusted share serious
    # over all of the plan's exploration outcomes (two added of each kind). A division
    # samples only a few licensees, and a rare outcome often gives none serious, whose
    # own variance (zero) would claim a certainty the sample does not have.
    adjusted = (float(pooled.sum()) + 2.0) / (pooled.size + 4.0)
    spread = adjusted * (1.0 - adjusted)
    total = 0.0
    variance = 0.0
    for size, y in strata:
        total += size * float(y.mean())
        if size > y.size:  # a census has no sampling variance
            variance += size**2 * (1 - y.size / size) * spread / y.size
    rate = total / population
    half = Z_95 * math.sqrt(variance) / population
    return RateEstimate(rate, max(0.0, rate - half), min(1.0, rate + half), population,
                        observed)


def naive_rate(rows: pd.DataFrame) -> float | None:
    """The share serious among inspected planned licensees, ignoring the design."""
    seen = rows[rows["inspected"].astype(bool)]
    return float(seen["serious"].astype(float).mean()) if len(seen) else None
