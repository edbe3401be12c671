"""Evaluation against a synthetic world's hidden truth.

On generated data the truth is known: each inspection's true probability of ending
serious when it opened, and the probability with which the regulator's rule selected it.
That gives two things real data cannot:

- a **ceiling**: precision@k of a list ranked by true risk, so the model's precision can be
  read as the share of the gap from random to the best possible list that it closes;
- an **inverse-propensity-weighted** estimate: inspections chosen by a risk rule are
  over-represented among the labels; weighting each by 1/propensity estimates precision
  over the licensees the regulator would have inspected at random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.metrics import k_for_fraction, precision_at_k, weighted_precision_at_fraction
from training.pipeline import TrainingResult

TRUTH_RANKER = "truth_ceiling"

__all__ = [
    "TRUTH_RANKER",
    "gap_closed_table",
    "mean_truth_at_fraction",
    "truth_evaluation",
    "weighted_precision_at_fraction",
]


def mean_truth_at_fraction(scores: np.ndarray, truth: np.ndarray, fraction: float) -> float:
    """Mean true probability among the top ``fraction`` of rows by ``scores``.

    The list holds ``ceil(fraction * n)`` rows. Rows tied with the last one taken are
    taken at random in expectation: the tied group contributes its mean for every slot
    it fills, so a rule that scores most rows alike (Demand Letter 2 gives most
    licensees 0) is not flattered or punished by the tie order.
    """
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    if scores.shape != truth.shape or scores.size == 0:
        raise ValueError("scores and truth must be non-empty and of one length")
    if np.isnan(truth).any():
        raise ValueError("truth has missing values")
    k = k_for_fraction(scores.size, fraction)
    # Missing scores rank last, as the baselines' rules do.
    scores = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-scores, kind="stable")
    threshold = scores[order[k - 1]]
    above = scores > threshold
    tied = scores == threshold
    slots = k - int(above.sum())
    total = truth[above].sum() + slots * truth[tied].mean()
    return float(total / k)


def gap_closed_table(
    scores: dict[str, np.ndarray], truth: np.ndarray,
    fractions: tuple[float, ...] = (0.01, 0.02, 0.05),
) -> pd.DataFrame:
    """Per ranker and list size: mean true probability in the list and the gap closed.

    ``truth`` is each eligible licensee's true probability of a serious finding, and
    ``scores`` each ranker's scores of the same licensees. "Random" is the eligible mean
    (what a random list finds in expectation), the ceiling the list ranked by the truth
    itself; ``gap_closed = (ranker - random) / (ceiling - random)``.
    """
    truth = np.asarray(truth, dtype=float)
    random_ = float(truth.mean())
    rows = []
    for fraction in fractions:
        ceiling = mean_truth_at_fraction(truth, truth, fraction)
        for name, values in scores.items():
            mean = mean_truth_at_fraction(values, truth, fraction)
            rows.append({
                "ranker": name, "fraction": fraction, "mean_true_probability": mean,
                "random": random_, "ceiling": ceiling,
                "gap_closed": (mean - random_) / (ceiling - random_)
                if ceiling > random_ else float("nan"),
            })
    return pd.DataFrame(rows)


def truth_evaluation(
    result: TrainingResult, inspection_truth: pd.DataFrame, fraction: float = 0.02
) -> tuple[dict[str, float], str]:
    """Metrics against the truth (keyed for MLflow) and a model-card section.

    The truth file knows each inspection's probability of a *serious* outcome, so only a
    run of that label can be put beside it. "Random" is each fold's base rate (what a
    random list is expected to find), not one random draw.
    """
    if result.config.label != "serious":
        raise ValueError(f"the truth file ranks by the serious label; this run's label is "
                         f"{result.config.label!r}")
    held_out = result.out_of_fold.merge(
        inspection_truth[["inspection_id", "propensity", "true_serious_probability"]],
        on="inspection_id", how="left", validate="one_to_one",
    )
    if held_out["true_serious_probability"].isna().any():
        raise ValueError("the truth file does not cover every held-out inspection")
    held_out[f"score_{TRUTH_RANKER}"] = held_out["true_serious_probability"]
    rankers = [c.removeprefix("score_") for c in held_out.columns if c.startswith("score_")]
    name = f"{round(fraction * 100):g}pct"
    rows = []
    for fold, part in held_out.groupby("fold"):
        rows.append({"fold": fold, "ranker": "random (base rate)",
                     "precision": float(part["label"].mean()),
                     "ipw_precision": float(np.average(part["label"],
                                                       weights=1.0 / part["propensity"]))})
        k = k_for_fraction(len(part), fraction)
        for ranker in rankers:
            scores = part[f"score_{ranker}"]
            rows.append({
                "fold": fold, "ranker": ranker,
                "precision": precision_at_k(part["label"], scores, k),
                "ipw_precision": weighted_precision_at_fraction(
                    part["label"], scores, 1.0 / part["propensity"], fraction),
            })
    table = pd.DataFrame(rows).groupby("ranker", sort=False)[["precision", "ipw_precision"]].mean()
    precision = table["precision"].astype(float)
    model, random_, ceiling = (float(precision[r])
                               for r in ("model", "random (base rate)", TRUTH_RANKER))
    gap_closed = (model - random_) / (ceiling - random_) if ceiling > random_ else float("nan")
    metrics = {
        f"truth_ceiling_precision_at_{name}": float(ceiling),
        f"truth_gap_closed_at_{name}": float(gap_closed),
        f"ipw_precision_at_{name}": float(table["ipw_precision"]["model"]),
        f"truth_ceiling_ipw_precision_at_{name}": float(table["ipw_precision"][TRUTH_RANKER]),
    }
    best_baseline = str(precision.drop(index=["model", TRUTH_RANKER, "random (base rate)"])
                        .idxmax())
    lines = [
        "## Against the synthetic world's truth",
        "",
        f"Precision@{fraction:.0%} of held-out inspections, mean over folds, beside the ceiling "
        "of a list ranked by each inspection's true probability of ending serious, and the "
        "inverse-propensity-weighted (IPW) estimate that undoes the regulator's risk-based "
        "selection of whom to inspect.",
        "",
        "| ranker | precision | IPW precision |",
        "|---|---|---|",
        *[f"| {r} | {v['precision']:.3f} | {v['ipw_precision']:.3f} |"
          for r, v in table.iterrows()],
        "",
        f"The model closes {gap_closed:.0%} of the gap from random ({random_:.3f}) to the "
        f"ceiling ({ceiling:.3f}); the best baseline is `{best_baseline}` "
        f"({precision[best_baseline]:.3f}).",
        "",
    ]
    return metrics, "\n".join(lines)
