"""The fairness audit: does the top of the list treat groups of licensees alike?

For each grouping (license type, urbanicity, field division, sales band) and each group:
the share of the group flagged in the top k, precision and false-positive rate among
the flagged, with Wilson confidence intervals, and each rate's ratio to the largest
group's. A ratio outside 0.8 to 1.25 (the four-fifths rule, both ways) is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.metrics import k_for_fraction, top_k_mask

DISPARITY_BOUNDS = (0.8, 1.25)
#: A group needs this many members before its rates are judged at all, and a precision
#: this many flagged members: below that a ratio outside the band is mostly chance.
MIN_GROUP_SIZE = 30
MIN_FLAGGED_FOR_PRECISION = 10
_Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = _Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (nan, nan) when there are no trials."""
    if trials == 0:
        return (float("nan"), float("nan"))
    p = successes / trials
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _ratio(value: float, reference: float) -> float:
    if reference == 0 or math.isnan(reference) or math.isnan(value):
        return float("nan")
    return value / reference


def fairness_audit(
    groups: pd.DataFrame,
    y_true: npt.ArrayLike,
    scores: npt.ArrayLike,
    top_fraction: float,
    group_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (grouping, group) with flagged share, precision, FPR and disparities.

    ``groups`` holds one column per grouping, aligned with ``y_true`` and ``scores``. The
    reference is the largest group other than ``unknown``. Every rate and ratio is
    reported; only groups of at least :data:`MIN_GROUP_SIZE` members are flagged, and a
    precision ratio only when both groups have :data:`MIN_FLAGGED_FOR_PRECISION` flagged
    members (``judged`` says whether the group was).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if len(groups) != y.size or y.size != s.size:
        raise ValueError("groups, y_true and scores must have one row per licensee")
    flagged = top_k_mask(s, k_for_fraction(y.size, top_fraction))
    rows: list[dict[str, object]] = []
    for column in group_columns or list(groups.columns):
        values = groups[column].astype("string").fillna("unknown").to_numpy()
        names, sizes = np.unique(values, return_counts=True)
        known = names != "unknown"
        largest = names[known][np.argmax(sizes[known])] if known.any() else names[np.argmax(sizes)]
        per_group: list[dict[str, object]] = []
        for name in names:
            member = values == name
            n = int(member.sum())
            n_flagged = int((flagged & member).sum())
            true_flagged = int((flagged & member & (y == 1)).sum())
            negatives = int((member & (y == 0)).sum())
            false_flagged = int((flagged & member & (y == 0)).sum())
            share_low, share_high = wilson_interval(n_flagged, n)
            precision_low, precision_high = wilson_interval(true_flagged, n_flagged)
            fpr_low, fpr_high = wilson_interval(false_flagged, negatives)
            per_group.append({
                "grouping": column,
                "group": str(name),
                "licensees": n,
                "flagged": n_flagged,
                "flagged_share": n_flagged / n if n else float("nan"),
                "flagged_share_ci_low": share_low,
                "flagged_share_ci_high": share_high,
                "precision": true_flagged / n_flagged if n_flagged else float("nan"),
                "precision_ci_low": precision_low,
                "precision_ci_high": precision_high,
                "false_positive_rate": false_flagged / negatives if negatives else float("nan"),
                "false_positive_rate_ci_low": fpr_low,
                "false_positive_rate_ci_high": fpr_high,
                "reference_group": str(largest),
            })
        reference = next(row for row in per_group if row["group"] == str(largest))
        for row in per_group:
            flags = []
            judged = int(row["licensees"]) >= MIN_GROUP_SIZE  # type: ignore[call-overload]
            for metric in ("flagged_share", "precision", "false_positive_rate"):
                ratio = _ratio(float(row[metric]), float(reference[metric]))  # type: ignore[arg-type]
                row[f"{metric}_ratio"] = ratio
                enough = judged and (metric != "precision" or min(
                    int(row["flagged"]), int(reference["flagged"])  # type: ignore[call-overload]
                ) >= MIN_FLAGGED_FOR_PRECISION)
                if enough and not math.isnan(ratio) and not (
                    DISPARITY_BOUNDS[0] <= ratio <= DISPARITY_BOUNDS[1]
                ):
                    flags.append(metric)
            row["judged"] = judged
            row["flags"] = ";".join(flags)
        rows.extend(per_group)
    return pd.DataFrame(rows)
