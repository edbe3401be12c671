"""The run's artifacts: a model card in Markdown, plots and tables.

Everything here is written from a :class:`~training.pipeline.TrainingResult`, into a
folder that :mod:`models.registry` logs as the run's artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.catalogue import CATALOGUE_VERSION
from training.metrics import k_for_fraction, precision_at_k
from training.pipeline import MODEL_NAME, TrainingResult


def _pyplot() -> Any:  # matplotlib is not type-checked (pyproject)
    """matplotlib's pyplot on the Agg backend (no display on servers and in CI).

    Imported when a chart is drawn, not with this module: a third of a second that every
    ``dealer-risk`` command importing the training pipeline would pay.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_HEADLINE = ("precision_at_1pct", "precision_at_2pct", "precision_at_5pct", "precision_at_10pct",
             "precision_at_capacity", "recall_at_2pct", "recall_at_capacity", "lift_at_2pct",
             "pr_auc", "roc_auc", "brier")


def markdown(frame: pd.DataFrame, index: bool = True, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (no extra dependency for one format)."""
    table = frame.reset_index() if index else frame

    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def comparison_table(result: TrainingResult) -> pd.DataFrame:
    """Mean validation metrics of the model and every baseline, one row per ranker."""
    metrics = [m for m in _HEADLINE if m in result.fold_metrics.columns]
    table = result.fold_metrics.groupby("ranker", sort=False)[metrics].mean()
    return table


def _plot_precision_curve(result: TrainingResult, path: Path) -> None:
    plt = _pyplot()
    held_out = result.out_of_fold
    fractions = np.linspace(0.005, 0.3, 60)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for column in [c for c in held_out.columns if c.startswith("score_")]:
        name = column.removeprefix("score_")
        values = [precision_at_k(held_out["label"], held_out[column],
                                 k_for_fraction(len(held_out), f)) for f in fractions]
        axis.plot(fractions * 100, values, label=name, linewidth=2.5 if name == MODEL_NAME else 1)
    axis.set_xlabel("share of inspected licensees on the list (%)")
    axis.set_ylabel("precision (share ending serious)")
    axis.set_title("Precision at k, held-out years")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_reliability(result: TrainingResult, path: Path) -> None:
    plt = _pyplot()
    curve = result.reliability
    figure, axis = plt.subplots(figsize=(5, 5))
    top = max([*curve.mean_predicted, *curve.observed_rate, 0.05]) * 1.1
    axis.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect calibration")
    axis.plot(curve.mean_predicted, curve.observed_rate, marker="o", label="calibrated model")
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed share serious")
    axis.set_title("Reliability, held-out years")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_shap_summary(result: TrainingResult, path: Path) -> None:
    plt = _pyplot()
    top = result.shap_importance.head(15).iloc[::-1]
    figure, axis = plt.subplots(figsize=(7, 5.5))
    axis.barh(top.index, top["mean_abs_shap"])
    axis.set_xlabel("mean |SHAP value| (log-odds)")
    axis.set_title("Global feature importance")
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_fairness(result: TrainingResult, path: Path) -> None:
    plt = _pyplot()
    table = result.fairness
    figure, axis = plt.subplots(figsize=(8, 0.3 * len(table) + 1.2))
    labels = table["grouping"] + ": " + table["group"]
    colours = ["tab:red" if flags else "tab:blue" for flags in table["flags"]]
    axis.barh(labels, table["flagged_share_ratio"].fillna(0), color=colours)
    axis.axvline(0.8, color="grey", linestyle="--")
    axis.axvline(1.25, color="grey", linestyle="--")
    axis.set_xlabel("flagged share relative to the largest group (red: outside 0.8-1.25)")
    axis.tick_params(axis="y", labelsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def model_card(result: TrainingResult, extra_sections: list[str] | None = None) -> str:
    """The model card: data, method, metrics beside baselines, fairness, limits."""
    comparison = comparison_table(result)
    summary = result.summary
    flagged = result.fairness[result.fairness["flags"] != ""]
    lines = [
        f"# dealer-risk model card: experiment `{result.config.name}`, as of {result.as_of}",
        "",
        "Scores inform whom to inspect; they are never evidence of wrongdoing.",
        "",
        "## Data",
        f"- Training rows: {int(summary['training_inspections']):,} compliance inspections "
        f"closed before {result.as_of}, {int(summary['training_serious']):,} "
        # The count is of the run's own label's positives, "serious" only by default.
        f"{'serious' if result.config.label == 'serious' else 'positive'} "
        f"(label `{result.config.label}`).",
        "- Features as of each inspection's opening, taken as its closing date minus the "
        "outcome's typical duration ("
        + ", ".join(f"{outcome} {days} days" for outcome, days
                    in result.config.inspection_duration_days_by_outcome.items())
        + f"); feature catalogue "
        f"`{CATALOGUE_VERSION}`; training-data fingerprint `{result.data_fingerprint}`.",
        "",
        "## Method",
        "- LightGBM, monotone constraints from the catalogue's expected directions, classes "
        f"balanced by weight, seed {result.config.seed}.",
        f"- Rolling-origin validation: {result.config.n_folds} folds of "
        f"{result.config.validation_days} days ending at the as-of date; final model refit "
        "on every inspection before it.",
        f"- Calibration: {result.bundle.calibrator.describe()}; Brier score of calibrated "
        f"held-out predictions {summary['calibrated_brier']:.4f}.",
        "",
        "## Validation (mean over folds)",
        "",
        markdown(comparison),
        "",
        "## Selection bias",
        "Labels exist only for licensees the regulator chose to inspect, and it chooses "
        "partly by risk. The metrics above are measured on inspected licensees only; they "
        "describe how well the list orders licensees like those inspected, not the whole "
        "population. Where selection propensities are known (the synthetic world records "
        "them), an inverse-propensity-weighted estimate is reported below.",
        "",
        "## Fairness audit",
        f"Top {result.config.fairness_top_share:.0%} of held-out inspections by score; "
        f"{len(flagged)} of {len(result.fairness)} groups have a disparity ratio outside "
        "0.8-1.25 (see `fairness.csv` for every rate with its 95% interval).",
        "",
    ]
    if len(flagged):
        lines += [flagged[["grouping", "group", "licensees", "flagged_share",
                           "flagged_share_ratio", "precision", "flags"]]
                  .pipe(markdown, index=False), ""]
    lines += ["## Most important features (mean |SHAP|, log-odds)", "",
              markdown(result.shap_importance.head(10), digits=4), ""]
    if result.notes:
        lines += ["## Notes", *[f"- {note}" for note in result.notes], ""]
    lines += list(extra_sections or [])
    return "\n".join(lines)


def write_artifacts(
    result: TrainingResult, folder: Path, extra_sections: list[str] | None = None
) -> Path:
    """Write the model card, plots and tables into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.md").write_text(model_card(result, extra_sections))
    result.fold_metrics.to_csv(folder / "fold_metrics.csv", index=False)
    comparison_table(result).to_csv(folder / "baseline_comparison.csv")
    result.fairness.to_csv(folder / "fairness.csv", index=False)
    result.shap_importance.to_csv(folder / "shap_importance.csv")
    result.shap_importance.groupby("family")["mean_abs_shap"].sum().sort_values(
        ascending=False
    ).to_csv(folder / "shap_family_importance.csv")
    pd.DataFrame({
        "mean_predicted": result.reliability.mean_predicted,
        "observed_rate": result.reliability.observed_rate,
        "count": result.reliability.count,
    }).to_csv(folder / "reliability.csv", index=False)
    _plot_precision_curve(result, folder / "precision_at_k.png")
    _plot_reliability(result, folder / "reliability.png")
    _plot_shap_summary(result, folder / "shap_summary.png")
    _plot_fairness(result, folder / "fairness.png")
    return folder
