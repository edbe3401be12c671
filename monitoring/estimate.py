"""The plan's estimate when a stratum has no inspected licensee: collapsed strata.

:func:`planning.estimate.serious_rate` gives no estimate when some stratum (a division's
risk picks, or its exploration sample) has no inspected licensee, which happens in the
field when a small division's one or two exploration picks were not inspected. Rather
than report nothing for the whole plan, :func:`estimate_serious_rate` then **collapses**
each empty stratum into its path: the stratum's ``N_h`` licensees take the share serious
among all inspected licensees of the same path in the plan (``m_p`` over ``n_p``), and add
``N_h² s_p² / n_p`` to the variance, with ``s_p²`` the Agresti-Coull-adjusted variance of
that path's outcomes (as in ``planning.estimate``). Every other stratum is estimated exactly
as ``serious_rate`` does, and with no empty stratum the result is ``serious_rate``'s own.
The imputed strata are listed, so a reader knows which divisions' shortfall was bridged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from planning.design import EXPLORATION, RISK
from planning.estimate import Z_95, RateEstimate, serious_rate


def _adjusted_spread(y: np.ndarray) -> float:
    share = (float(y.sum()) + 2.0) / (y.size + 4.0)
    return share * (1.0 - share)


def estimate_serious_rate(rows: pd.DataFrame, eligible_by_division: pd.Series
                          ) -> tuple[RateEstimate, list[str]]:
    """``serious_rate`` with empty strata collapsed into their path (module docstring).

    Returns the estimate and the collapsed strata as ``division/path``; the estimate is
    None only when a path with an empty stratum has no inspected licensee at all.
    """
    exact = serious_rate(rows, eligible_by_division)
    if exact.value is not None or exact.population == 0:
        return exact, []
    strata: list[tuple[str, str, int, np.ndarray]] = []
    population = 0
    for division, eligible in eligible_by_division.items():
        planned = rows[rows["field_division"] == division]
        if eligible <= 0 or planned.empty:
            continue
        population += int(eligible)
        risk = planned[planned["selected_by"] == RISK]
        explore = planned[planned["selected_by"] == EXPLORATION]
        for path, stratum, size in ((RISK, risk, len(risk)),
                                    (EXPLORATION, explore, int(eligible) - len(risk))):
            if size > 0:
                seen = stratum[stratum["inspected"].astype(bool)]
                strata.append((str(division), path, size,
                               seen["serious"].astype(float).to_numpy()))
    pooled = {path: np.concatenate([y for _, p, _, y in strata if p == path] or [np.empty(0)])
              for path in (RISK, EXPLORATION)}
    collapsed = [f"{division}/{path}" for division, path, _, y in strata if y.size == 0]
    if any(pooled[path].size == 0 for _, path, _, y in strata if y.size == 0):
        return RateEstimate(None, None, None, population, exact.observed), collapsed
    spread = {path: _adjusted_spread(y) for path, y in pooled.items() if y.size}
    # The observed strata's variance as serious_rate has it: one adjusted spread pooled
    # over every stratum with unobserved licensees.
    sampled = [y for _, _, size, y in strata if size > y.size and y.size]
    common = _adjusted_spread(np.concatenate(sampled)) if sampled else 0.0
    total = variance = 0.0
    for _, path, size, y in strata:
        if y.size == 0:
            total += size * float(pooled[path].mean())
            variance += size**2 * spread[path] / pooled[path].size
            continue
        total += size * float(y.mean())
        if size > y.size:
            variance += size**2 * (1 - y.size / size) * common / y.size
    rate = total / population
    half = Z_95 * math.sqrt(variance) / population
    return (RateEstimate(rate, max(0.0, rate - half), min(1.0, rate + half), population,
                         exact.observed), collapsed)
