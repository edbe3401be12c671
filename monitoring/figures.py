"""The formulas monitoring reports: Wilson intervals, a rate ratio's interval, and PSI."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planning.estimate import Z_95

#: A bin's share is floored at this before the PSI's logarithm (an empty bin would be
#: infinite otherwise).
PSI_FLOOR = 1e-4
#: Reference quantile bins of a feature's known values for its PSI (deciles).
PSI_BINS = 10


@dataclass(frozen=True)
class Interval:
    """A value with its 95% interval; all None when there is nothing to estimate from."""

    value: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


NO_INTERVAL = Interval(None, None, None)


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval:
    """The share ``successes / trials`` with its Wilson score interval.

    >>> round(wilson(5, 50).ci_low, 4), round(wilson(5, 50).ci_high, 4)
    (0.0435, 0.2136)
    """
    if trials <= 0:
        return NO_INTERVAL
    share = successes / trials
    denominator = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / denominator
    half = z * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2)) / denominator
    return Interval(share, max(0.0, centre - half), min(1.0, centre + half))


def rate_ratio(x1: int, n1: int, x0: int, n0: int) -> Interval:
    """``(x1/n1) / (x0/n0)`` with the Katz log interval (0.5 added to empty cells).

    None when either group has no trials, or the ratio's denominator has no successes
    and no interval can be put on the ratio.
    """
    if n1 <= 0 or n0 <= 0 or x0 <= 0:
        return NO_INTERVAL
    ratio = (x1 / n1) / (x0 / n0)
    a, b = (x1, x0) if x1 > 0 else (0.5, x0 + 0.5)
    c1, c0 = (n1, n0) if x1 > 0 else (n1 + 0.5, n0 + 0.5)
    spread = math.sqrt(1 / a - 1 / c1 + 1 / b - 1 / c0)
    centre = math.log((a / c1) / (b / c0))
    return Interval(ratio, math.exp(centre - Z_95 * spread), math.exp(centre + Z_95 * spread))


def population_stability(reference: npt.ArrayLike, current: npt.ArrayLike,
                         bins: int = PSI_BINS) -> float:
    """The population stability index of ``current`` against ``reference``.

    Bins are the reference's quantiles of its known values (``bins`` of them; ties merge
    bins, so a feature that is mostly zero gets fewer), plus one bin for unknown values
    (NaN). ``PSI = Σ (c_b - r_b) ln(c_b / r_b)`` over the bins' shares, each floored at
    :data:`PSI_FLOOR`. 0 is identical; 0.1 and 0.25 are the usual watch and act levels.
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    known = ref[~np.isnan(ref)]
    edges = (np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))
             if known.size else np.empty(0))

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        index = np.searchsorted(edges, values[~missing], side="right")
        counts = np.bincount(index, minlength=edges.size + 1).astype(float)
        counts = np.append(counts, missing.sum())
        return np.maximum(counts / values.size, PSI_FLOOR)

    r, c = shares(ref), shares(cur)
    return float(np.sum((c - r) * np.log(c / r)))
