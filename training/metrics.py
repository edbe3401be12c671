"""Metrics for a limited-capacity inspection list.

With a fixed number of inspections, what matters is how many of the top-ranked
licensees turn out serious (precision@k) and which share of all serious ones the list
finds (recall@k). Ranking ties are broken by row order so every metric is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: List sizes as fractions of the ranked population (1%, 2%, 5%, 10%).
DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10)


def _as_arrays(
    y_true: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[npt.NDArray[np.int_], FloatArray]:
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-d of one length, got {y.shape}, {s.shape}")
    return y, s


def top_k_mask(scores: npt.ArrayLike, k: int) -> npt.NDArray[np.bool_]:
    """A mask of the ``k`` highest scores; ties keep the earlier row first."""
    s = np.asarray(scores, dtype=float)
    k = max(0, min(int(k), s.size))
    order = np.argsort(-s, kind="stable")
    mask = np.zeros(s.size, dtype=bool)
    mask[order[:k]] = True
    return mask


def k_for_fraction(n: int, fraction: float) -> int:
    """The list size for ``fraction`` of ``n`` rows: at least one row when n > 0."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, round(n * fraction)) if n else 0


def precision_at_k(y_true: npt.ArrayLike, scores: npt.ArrayLike, k: int) -> float:
    """Share of the ``k`` top-ranked rows that are positive."""
    y, s = _as_arrays(y_true, scores)
    if k <= 0 or y.size == 0:
        return float("nan")
    mask = top_k_mask(s, k)
    return float(y[mask].mean())


def recall_at_k(y_true: npt.ArrayLike, scores: npt.ArrayLike, k: int) -> float:
    """Share of all positives that are among the ``k`` top-ranked rows."""
    y, s = _as_arrays(y_true, scores)
    positives = y.sum()
    if positives == 0:
        return float("nan")
    return float(y[top_k_mask(s, k)].sum() / positives)


def weighted_precision_at_fraction(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, weights: npt.ArrayLike, fraction: float
) -> float:
    """IPW precision of the top ``fraction`` of the weighted population.

    Rows are taken in score order until their weights reach ``fraction`` of the total
    weight; the estimate is the weighted share of positives among them. With every weight
    1 it is precision@k at ``k = ceil(fraction * n)``.
    """
    y = np.asarray(y_true, dtype=float)
    w = np.asarray(weights, dtype=float)
    if y.size == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    cumulative = np.cumsum(w[order])
    take = order[: int(np.searchsorted(cumulative, fraction * cumulative[-1])) + 1]
    return float((w[take] * y[take]).sum() / w[take].sum())


def weighted_calibration(
    y_true: npt.ArrayLike, probabilities: npt.ArrayLike, weights: npt.ArrayLike
) -> dict[str, float]:
    """Weighted Brier score and calibration in the large of calibrated probabilities.

    ``brier`` is the weighted mean squared error; ``mean_predicted`` and ``observed_rate``
    the weighted means of the probabilities and the outcomes (with inverse-probability
    weights, estimates over the population the inspections were drawn from).
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    w = np.asarray(weights, dtype=float)
    if y.size == 0:
        return {"brier": float("nan"), "mean_predicted": float("nan"),
                "observed_rate": float("nan")}
    return {"brier": float(np.average((p - y) ** 2, weights=w)),
            "mean_predicted": float(np.average(p, weights=w)),
            "observed_rate": float(np.average(y, weights=w))}


@dataclass(frozen=True)
class ReliabilityCurve:
    """Mean predicted probability against observed frequency, per probability bin."""

    mean_predicted: list[float]
    observed_rate: list[float]
    count: list[int]


def reliability_curve(
    y_true: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10
) -> ReliabilityCurve:
    """Bin by predicted-probability quantiles (equal counts), so sparse tails still show."""
    y, p = _as_arrays(y_true, probabilities)
    if y.size == 0:
        return ReliabilityCurve([], [], [])
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    predicted, observed, counts = [], [], []
    for b in np.unique(index):
        in_bin = index == b
        predicted.append(float(p[in_bin].mean()))
        observed.append(float(y[in_bin].mean()))
        counts.append(int(in_bin.sum()))
    return ReliabilityCurve(predicted, observed, counts)


def ranking_report(
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    capacity_fraction: float | None = None,
    probabilities: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Every list metric for one ranking, keyed as MLflow logs them.

    ``scores`` orders the rows; the Brier score needs ``probabilities`` (calibrated, in
    [0, 1]) and is NaN without them: a ranking score is no probability.
    ``capacity_fraction`` is the inspection capacity as a share of licensees, reported as
    ``precision_at_capacity`` and ``recall_at_capacity``.
    """
    y, s = _as_arrays(y_true, scores)
    n = y.size
    base_rate = float(y.mean()) if n else float("nan")
    report: dict[str, float] = {"rows": float(n), "positives": float(y.sum()),
                                "base_rate": base_rate}
    named = [(f"{round(f * 100):g}pct", f) for f in fractions]
    if capacity_fraction is not None:
        named.append(("capacity", capacity_fraction))
    for name, fraction in named:
        k = k_for_fraction(n, fraction)
        precision = precision_at_k(y, s, k)
        report[f"precision_at_{name}"] = precision
        report[f"recall_at_{name}"] = recall_at_k(y, s, k)
        report[f"lift_at_{name}"] = precision / base_rate if base_rate > 0 else float("nan")
    # scikit-learn here, not at the top: importing it takes half a second, and commands
    # that only read this module's helpers (a usage error of train, say) need none of it.
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    both_classes = 0 < y.sum() < n
    report["pr_auc"] = float(average_precision_score(y, s)) if both_classes else float("nan")
    report["roc_auc"] = float(roc_auc_score(y, s)) if both_classes else float("nan")
    report["brier"] = float("nan")
    if probabilities is not None and n:
        p = np.asarray(probabilities, dtype=float)
        if p.min() >= 0 and p.max() <= 1:
            report["brier"] = float(brier_score_loss(y, p))
    return report
