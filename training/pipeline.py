"""A training run: examples, temporal validation, baselines, calibration, final refit.

``train(tables, as_of, config)`` is a pure function of the event tables, the as-of date
and the experiment: it reads no clock and no environment, so the same inputs give the
same model, metrics and scores. Logging to MLflow is :mod:`training.tracking`'s job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.catalogue import CATALOGUE_VERSION, catalogue_frame, get_feature
from features.catalogue import monotone_directions as catalogue_directions
from features.pipelines.build import build_panel
from features.pipelines.tables import EventTables
from models.bundle import ModelBundle, fingerprint
from models.calibration import PlattCalibrator
from models.estimator import RiskModel
from training.baselines import Ranker, default_baselines
from training.experiment import ExperimentConfig
from training.fairness import fairness_audit
from training.folds import Fold, rolling_origin_folds
from training.labels import training_examples
from training.metrics import (
    ReliabilityCurve,
    ranking_report,
    reliability_curve,
    weighted_calibration,
    weighted_precision_at_fraction,
)
from training.search import SearchResult
from training.search import search as run_search

MODEL_NAME = "model"


@dataclass
class TrainingData:
    """Examples (one per inspection) with their features as of the opening date."""

    examples: pd.DataFrame  # inspection_id, license_number, opened, closed, outcome, label
    features: pd.DataFrame  # aligned with examples, every catalogue column
    groups: pd.DataFrame  # fairness groupings, aligned with examples
    model_columns: list[str]  # the features the model uses (the config may exclude some)
    # Inverse-probability weights aligned with examples (1/p for inspections from a plan),
    # or None when no plan selections were given: then nothing weighted is computed.
    ipw: np.ndarray | None = None
    weights_on: bool = False  # the experiment's [weights] inverse_probability

    @property
    def fit_weights(self) -> np.ndarray | None:
        """The weights the model and calibration use: the IPW weights only when switched on."""
        return self.ipw if self.weights_on else None

    @property
    def labels(self) -> np.ndarray:
        return self.examples["label"].to_numpy()


@dataclass
class TrainingResult:
    """Everything a run produces: the bundle, metrics, audits and held-out predictions."""

    bundle: ModelBundle
    config: ExperimentConfig
    as_of: dt.date
    fold_metrics: pd.DataFrame  # one row per (ranker, fold)
    summary: dict[str, float]  # means over folds, keyed for MLflow
    out_of_fold: pd.DataFrame  # held-out rows with every ranker's score
    fairness: pd.DataFrame
    reliability: ReliabilityCurve
    shap_importance: pd.DataFrame
    data_fingerprint: str
    notes: list[str] = field(default_factory=list)
    #: The hyperparameter search's trials, when the experiment's ``[search]`` is on; then
    #: ``config.model`` holds the chosen parameters.
    search: SearchResult | None = None


def sales_band(sales: pd.Series) -> pd.Series:
    """Sales-volume bands for the fairness audit (firearms a year)."""
    bands = pd.cut(
        sales.astype(float),
        bins=[-np.inf, 50, 250, 1000, np.inf],
        labels=["under 50", "50-249", "250-999", "1000+"],
        right=False,
    )
    return bands.astype("string").fillna("unknown")


def _groups(dealers: pd.DataFrame, license_numbers: pd.Series) -> pd.DataFrame:
    profile = dealers.drop_duplicates("license_number").set_index("license_number")
    rows = profile.reindex(license_numbers.to_numpy())

    def column(name: str) -> pd.Series:
        if name not in rows.columns:
            return pd.Series(["unknown"] * len(rows), dtype="string")
        return rows[name].astype("string").fillna("unknown").reset_index(drop=True)

    sales = (rows["annual_firearm_sales"] if "annual_firearm_sales" in rows.columns
             else pd.Series([np.nan] * len(rows)))
    return pd.DataFrame({
        "license_type": column("license_type"),
        "urbanicity": column("urbanicity"),
        "field_division": column("field_division"),
        "sales_band": sales_band(pd.Series(pd.to_numeric(sales, errors="coerce")))
        .reset_index(drop=True),
    })


def inverse_probability_weights(
    inspection_ids: pd.Series, selection: pd.DataFrame, config: ExperimentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Each inspection's weight and selection probability (NaN when from no plan).

    ``selection`` has ``inspection_id`` and ``selection_probability`` (the probability the
    plans selected the licensee, ``monitoring.outcomes.selection_probabilities``). A plan's
    inspection weighs ``1 / p``, capped at ``config.weights.max_weight``; any other
    inspection ``config.weights.unplanned_weight``.
    """
    probability = (selection.drop_duplicates("inspection_id")
                   .set_index("inspection_id")["selection_probability"]
                   .reindex(inspection_ids.to_numpy()).to_numpy(dtype=float))
    if (probability <= 0).any() or (probability > 1).any():
        raise ValueError("selection probabilities must be in (0, 1]")
    weights = np.where(np.isnan(probability), config.weights.unplanned_weight,
                       1.0 / np.where(np.isnan(probability), 1.0, probability))
    return np.minimum(weights, config.weights.max_weight), probability


def build_training_data(
    tables: EventTables, as_of: dt.date, config: ExperimentConfig,
    selection: pd.DataFrame | None = None,
) -> TrainingData:
    """One row per inspection closed before ``as_of``, featurised as of its opening.

    ``selection`` (optional): the inspections that came from stored plans with their
    selection probability; it gives every example its inverse-probability weight.
    """
    examples = training_examples(
        tables.inspections, as_of,
        duration_days=config.inspection_duration_days,
        duration_days_by_outcome=config.inspection_duration_days_by_outcome,
        label=config.label,
    )
    pairs = pd.DataFrame({"license_number": examples["license_number"],
                          "as_of": examples["opened"]}, index=examples.index)
    panel = build_panel(tables, pairs)
    # Inspections of licensees not yet licensed on the opening date have no features.
    examples = examples.loc[panel.index].reset_index(drop=True)
    features = panel.drop(columns=["license_number", "as_of"]).reset_index(drop=True)
    unknown = sorted(set(config.exclude_features) - set(features.columns))
    if unknown:
        raise ValueError(f"exclude_features names features not in the catalogue: {unknown}")
    # Baselines read their rule's column even when the model leaves it out.
    model_columns = [c for c in features.columns if c not in config.exclude_features]
    groups = _groups(tables.dealers, examples["license_number"])
    if config.weights.inverse_probability and selection is None:
        raise ValueError("inverse-probability weights need the plans' selection "
                         "probabilities (selection=...)")
    ipw = None
    if selection is not None:
        ipw, probability = inverse_probability_weights(examples["inspection_id"], selection,
                                                       config)
        examples["selection_probability"] = probability
    return TrainingData(examples, features, groups, model_columns, ipw=ipw,
                        weights_on=config.weights.inverse_probability)


def censoring_weights(opened: pd.Series, closed: pd.Series,
                      validation_days: int) -> npt.NDArray[np.float64]:
    """Weights that undo a validation fold's loss of long inspections, for calibration.

    A fold holds the inspections *opened* (closing minus the outcome's typical duration
    ``d``) on or after its origin and *closed* before its end, so of the inspections of an
    outcome that close during the fold's ``L`` days only those closing in its last
    ``L - d`` days are in it: a share ``(L - d) / L``, whatever the real durations, when
    closings are spread evenly over the year. Serious outcomes take longest (176 and 211
    days against 60 for a clean inspection), so a fold holds about half of its serious
    inspections but five in six of its clean ones, and a Platt map fitted on the folds as
    they are under-predicted about twofold on every score band (in the field and on the
    training inspections themselves). Weighing each held-out inspection by ``L / (L - d)``
    restores the outcomes' mix. The validation metrics stay unweighted: their levels
    carry the same loss, but every ranker is compared on the same inspections.
    """
    days = (pd.to_datetime(closed) - pd.to_datetime(opened)).dt.days.to_numpy(float)
    kept = np.maximum(validation_days - days, 1.0)
    return np.asarray(validation_days / kept, dtype=float)


def _risk_model(config: ExperimentConfig, features: list[str]) -> RiskModel:
    directions = catalogue_directions()
    return RiskModel(
        params=config.model.params,
        num_boost_round=config.model.num_boost_round,
        monotone={name: directions.get(name, 0) for name in features},
        balance_classes=config.model.balance_classes,
        seed=config.seed,
    )


def _evaluate_fold(
    data: TrainingData, fold: Fold, config: ExperimentConfig
) -> tuple[list[dict[str, Any]], pd.DataFrame] | None:
    closed, opened = data.examples["closed"], data.examples["opened"]
    train, valid = fold.train_mask(closed), fold.validation_mask(closed, opened)
    y = data.labels
    if y[train].sum() < 5 or valid.sum() == 0 or y[valid].sum() == 0:
        return None
    X_train, X_valid = data.features[train], data.features[valid]
    columns = data.model_columns
    fit_weights = data.fit_weights
    model = _risk_model(config, columns).fit(
        X_train[columns], y[train],
        sample_weight=None if fit_weights is None else fit_weights[train])
    scores: dict[str, np.ndarray] = {MODEL_NAME: model.predict_raw(X_valid[columns])}
    rankers: list[Ranker] = default_baselines(config.seed)
    for ranker in rankers:
        # The logistic baseline sees exactly the model's features; rules read their column.
        inputs = (X_train[columns], X_valid[columns]) if ranker.name == "logistic_regression" \
            else (X_train, X_valid)
        scores[ranker.name] = ranker.fit(inputs[0], y[train]).score(inputs[1])
    rows = []
    for name, score in scores.items():
        report = ranking_report(y[valid], score, capacity_fraction=config.capacity_share)
        if data.ipw is not None:
            report.update(_weighted_ranking(y[valid], score, data.ipw[valid], config))
        rows.append({"ranker": name, "fold": fold.number, "origin": fold.origin, **report})
    held_out = data.examples.loc[valid, ["inspection_id", "license_number", "opened",
                                         "closed", "label"]].copy()
    held_out["fold"] = fold.number
    if data.ipw is not None:
        held_out["weight"] = data.ipw[valid]
    for name, score in scores.items():
        held_out[f"score_{name}"] = score
    return rows, held_out


def _weighted_ranking(y: np.ndarray, score: np.ndarray, weights: np.ndarray,
                      config: ExperimentConfig) -> dict[str, float]:
    """Inverse-probability-weighted precision at 2% and at capacity of one ranking."""
    return {
        "ipw_precision_at_2pct": weighted_precision_at_fraction(y, score, weights, 0.02),
        "ipw_precision_at_capacity": weighted_precision_at_fraction(
            y, score, weights, config.capacity_share),
    }


def train(
    tables: EventTables, as_of: dt.date, config: ExperimentConfig,
    selection: pd.DataFrame | None = None, data: TrainingData | None = None,
) -> TrainingResult:
    """Validate on rolling origins, calibrate on held-out time, refit on all before as_of.

    ``selection`` (optional, ``monitoring.outcomes.selection_probabilities`` as of
    ``as_of``): the inspections that came from plans, with their selection probability.
    With it, the validation metrics gain inverse-probability-weighted figures (``ipw_*``);
    with ``[weights] inverse_probability`` the model and its calibration are fitted with
    those weights too. Without it the run is exactly what it was before weights existed.
    ``data``: the examples ``build_training_data(tables, as_of, config, selection)`` gives,
    when the caller has built them already (they are not built twice).
    """
    if data is None:
        data = build_training_data(tables, as_of, config, selection)
    y = data.labels
    if y.sum() < 10:
        raise ValueError(
            f"only {int(y.sum())} serious outcomes among {y.size} inspections closed before "
            f"{as_of}: too few to train; choose a later --as-of or load more history"
        )
    fold_rows: list[dict[str, Any]] = []
    held_out_parts: list[pd.DataFrame] = []
    notes: list[str] = []
    folds = rolling_origin_folds(as_of, config.n_folds, config.validation_days)
    searched = None
    if config.search.enabled:
        # Select the parameters on the same folds; everything after uses the chosen ones.
        searched = run_search(data.features[data.model_columns], y, data.examples["closed"],
                              data.examples["opened"], folds, config,
                              sample_weight=data.fit_weights)
        config = config.model_copy(update={"model": searched.model_config(config.model)})
        notes.append(f"search: {len(searched.trials)} trials, chose trial "
                     f"{searched.best.number} ({searched.metric} {searched.best.value:.3f})")
    for fold in folds:
        evaluated = _evaluate_fold(data, fold, config)
        if evaluated is None:
            notes.append(f"fold {fold.number} (origin {fold.origin}) skipped: too few labels")
            continue
        rows, held_out = evaluated
        fold_rows.extend(rows)
        held_out_parts.append(held_out)
    if not held_out_parts:
        raise ValueError("no validation fold had both training and validation labels")
    fold_metrics = pd.DataFrame(fold_rows)
    out_of_fold = pd.concat(held_out_parts, ignore_index=True)

    censoring = censoring_weights(out_of_fold["opened"], out_of_fold["closed"],
                                  config.validation_days)
    calibrator = PlattCalibrator.fit(
        out_of_fold[f"score_{MODEL_NAME}"], out_of_fold["label"],
        sample_weight=censoring * (out_of_fold["weight"].to_numpy() if data.weights_on
                                   else 1.0))
    model_features = data.features[data.model_columns]
    model = _risk_model(config, data.model_columns).fit(model_features, y,
                                                        sample_weight=data.fit_weights)

    # Raw log-odds have no Brier score; the model's is that of its calibrated probabilities.
    calibrated = calibrator.transform(out_of_fold[f"score_{MODEL_NAME}"])
    squared_error = (calibrated - out_of_fold["label"].to_numpy()) ** 2
    for fold_number, error in pd.Series(squared_error).groupby(out_of_fold["fold"]):
        is_row = (fold_metrics["ranker"] == MODEL_NAME) & (fold_metrics["fold"] == fold_number)
        fold_metrics.loc[is_row, "brier"] = float(error.mean())
        if data.ipw is not None:
            in_fold = (out_of_fold["fold"] == fold_number).to_numpy()
            weighted = weighted_calibration(out_of_fold["label"].to_numpy()[in_fold],
                                            calibrated[in_fold],
                                            out_of_fold["weight"].to_numpy()[in_fold])
            for key, value in weighted.items():
                fold_metrics.loc[is_row, f"ipw_{key}"] = value

    metric_columns = [c for c in fold_metrics.columns if c not in ("ranker", "fold", "origin")]
    means = fold_metrics.groupby("ranker", sort=False)[metric_columns].mean()
    summary: dict[str, float] = {}
    for ranker, row in means.iterrows():
        prefix = "" if ranker == MODEL_NAME else f"baseline_{ranker}_"
        summary.update({f"{prefix}{metric}": float(value) for metric, value in row.items()})
    for _, row in fold_metrics[fold_metrics["ranker"] == MODEL_NAME].iterrows():
        for metric in metric_columns:
            summary[f"fold{row['fold']}_{metric}"] = float(row[metric])
    summary["calibrated_brier"] = float(squared_error.mean())
    summary["training_inspections"] = float(y.size)
    summary["training_serious"] = float(y.sum())
    if searched is not None:
        summary["search_trials"] = float(len(searched.trials))
        summary["search_best_trial"] = float(searched.best.number)
        summary["search_best_value"] = float(searched.best.value)
    if data.ipw is not None:
        summary["plan_linked_inspections"] = float(
            data.examples["selection_probability"].notna().sum())
        summary["ipw_weight_sum"] = float(data.ipw.sum())
        summary["weights_inverse_probability"] = float(data.weights_on)

    groups = _groups(tables.dealers, out_of_fold["license_number"])
    fairness = fairness_audit(groups, out_of_fold["label"], out_of_fold[f"score_{MODEL_NAME}"],
                              top_fraction=config.fairness_top_share)
    reliability = reliability_curve(out_of_fold["label"], calibrated)

    bundle = ModelBundle(
        model=model,
        calibrator=calibrator,
        catalogue=[{str(key): value for key, value in row.items()}
                   for row in catalogue_frame().to_dict(orient="records")],
        metadata={
            "as_of": as_of.isoformat(),
            "experiment": config.name,
            "label": config.label,
            "catalogue_version": CATALOGUE_VERSION,
            "inspection_duration_days_by_outcome": config.inspection_duration_days_by_outcome,
        },
    )
    data_fingerprint = fingerprint(
        pd.concat([data.examples[["inspection_id", "label"]], model_features], axis=1)
    )
    bundle.metadata["data_fingerprint"] = data_fingerprint
    # Global importance from an evenly spaced sample: stable and cheap on large panels.
    step = max(1, len(model_features) // 20_000)
    explanation = bundle.explain(model_features.iloc[::step])
    importance = explanation.contributions.abs().mean().rename("mean_abs_shap").to_frame()
    importance["family"] = [str(get_feature(name).family) for name in importance.index]
    importance = importance.sort_values("mean_abs_shap", ascending=False)
    return TrainingResult(
        bundle=bundle, config=config, as_of=as_of, fold_metrics=fold_metrics,
        summary=summary, out_of_fold=out_of_fold, fairness=fairness, reliability=reliability,
        shap_importance=importance, data_fingerprint=data_fingerprint, notes=notes,
        search=searched,
    )
