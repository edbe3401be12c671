"""Training end to end on a small world with a planted signal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.pipelines.tables import EventTables
from tests.conftest import make_planted_world
from training.experiment import ExperimentConfig, ModelConfig
from training.folds import Fold
from training.pipeline import MODEL_NAME, build_training_data, censoring_weights, train

AS_OF = dt.date(2023, 1, 1)
FAST = ExperimentConfig(seed=3, model=ModelConfig(num_boost_round=60))


@pytest.fixture(scope="module")
def result(planted_world: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    return train(EventTables.from_mapping(planted_world), AS_OF, FAST)


def test_model_beats_random_and_trace_count_on_held_out_years(result) -> None:  # type: ignore[no-untyped-def]
    summary = result.summary
    assert summary["roc_auc"] > 0.7
    assert summary["precision_at_10pct"] > 2 * summary["baseline_random_precision_at_10pct"]
    assert set(result.fold_metrics["fold"]) == {1, 2, 3}
    assert set(result.fold_metrics["ranker"]) == {
        MODEL_NAME, "random", "demand_letter_2", "trace_count", "traces_per_sales",
        "logistic_regression",
    }


def test_model_ranks_better_than_trace_count_over_three_planted_worlds(
    result,  # type: ignore[no-untyped-def]
) -> None:
    # About 190 held-out rows a fold, so one world's ROC-AUC moves by about 0.02 with its
    # draw (seed 0's model and trace count are 0.01 apart): the comparison pools three.
    summaries = [result.summary] + [
        train(EventTables.from_mapping(make_planted_world(seed=seed)), AS_OF, FAST).summary
        for seed in (1, 2)
    ]
    model = np.mean([summary["roc_auc"] for summary in summaries])
    trace_count = np.mean([summary["baseline_trace_count_roc_auc"] for summary in summaries])
    assert model > trace_count + 0.03


def test_calibrated_probabilities_match_the_held_out_rate(result) -> None:  # type: ignore[no-untyped-def]
    held_out = result.out_of_fold
    calibrated = result.bundle.calibrator.transform(held_out[f"score_{MODEL_NAME}"])
    assert calibrated.mean() == pytest.approx(held_out["label"].mean(), abs=0.02)
    assert result.summary["calibrated_brier"] < held_out["label"].mean()


def test_fairness_audit_covers_every_grouping(result) -> None:  # type: ignore[no-untyped-def]
    assert set(result.fairness["grouping"]) == {
        "license_type", "urbanicity", "field_division", "sales_band",
    }


def test_training_is_deterministic_for_a_seed(
    planted_world: dict[str, pd.DataFrame], result  # type: ignore[no-untyped-def]
) -> None:
    again = train(EventTables.from_mapping(planted_world), AS_OF, FAST)
    data = build_training_data(EventTables.from_mapping(planted_world), AS_OF, FAST)
    first = result.bundle.model.predict_raw(data.features)
    assert np.array_equal(again.bundle.model.predict_raw(data.features), first)
    assert again.data_fingerprint == result.data_fingerprint


def test_rows_known_on_or_after_as_of_change_nothing(
    planted_world: dict[str, pd.DataFrame], result  # type: ignore[no-untyped-def]
) -> None:
    later = {name: frame.copy() for name, frame in planted_world.items()}
    late_inspections = planted_world["inspections"].head(50).copy()
    late_inspections["inspection_id"] = "LATE-" + late_inspections["inspection_id"]
    late_inspections["inspection_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=3)
    late_inspections["outcome"] = "revocation"
    later["inspections"] = pd.concat([later["inspections"], late_inspections])
    late_traces = planted_world["traces"].head(200).copy()
    late_traces["trace_id"] = "LATE-" + late_traces["trace_id"]
    late_traces["trace_date"] = pd.Timestamp(AS_OF)
    later["traces"] = pd.concat([later["traces"], late_traces])
    again = train(EventTables.from_mapping(later), AS_OF, FAST)
    assert again.data_fingerprint == result.data_fingerprint
    assert pd.Series(again.summary).equals(pd.Series(result.summary))


def test_features_are_taken_at_the_opening_not_the_closing(
    planted_world: dict[str, pd.DataFrame]
) -> None:
    data = build_training_data(EventTables.from_mapping(planted_world), AS_OF, FAST)
    # An inspection closed on D has its features as of D minus its outcome's typical
    # duration: its own closing (and so its own outcome) is never among the inspections
    # its features count.
    opened = data.examples["opened"]
    durations = data.examples["outcome"].map(FAST.inspection_duration_days_by_outcome)
    assert (data.examples["closed"] - opened).dt.days.eq(durations).all()
    since = data.features["days_since_last_inspection"]
    assert (since.dropna() > 0).all()


def test_too_few_serious_outcomes_is_a_clear_error(planted_world: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="too few"):
        train(EventTables.from_mapping(planted_world), dt.date(2014, 3, 1), FAST)


def test_censoring_weights_restore_the_outcomes_mix_a_fold_loses() -> None:
    # A year of inspections closing evenly, a quarter serious (200 days) and the rest clean
    # (60 days), each dated open = close - its outcome's typical duration, as labels do.
    rng = np.random.default_rng(3)
    origin, days = pd.Timestamp("2023-01-01"), 365
    closed = origin + pd.to_timedelta(rng.uniform(0, days, 40_000), unit="D")
    serious = rng.random(closed.size) < 0.25
    opened = closed - pd.to_timedelta(np.where(serious, 200, 60), unit="D")
    fold = Fold(1, origin.date(), (origin + pd.Timedelta(days=days)).date())
    kept = fold.validation_mask(pd.Series(closed), pd.Series(opened))
    assert serious[kept].mean() < 0.17  # the fold alone: serious inspections lost
    weights = censoring_weights(pd.Series(opened[kept]), pd.Series(closed[kept]), days)
    assert np.average(serious[kept], weights=weights) == pytest.approx(0.25, abs=0.01)
