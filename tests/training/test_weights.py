"""Inverse-probability weights for inspections that came from a plan (issue 14, item 6)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.pipelines.tables import EventTables
from monitoring.outcomes import selection_probabilities
from planning.plans import PlanInfo
from training.experiment import ExperimentConfig, ModelConfig, WeightsConfig
from training.pipeline import MODEL_NAME, build_training_data, train

AS_OF = dt.date(2023, 1, 1)
FAST = ExperimentConfig(seed=3, model=ModelConfig(num_boost_round=60))
WEIGHTED = FAST.model_copy(update={"weights": WeightsConfig(inverse_probability=True)})


def _plan(plan_id: int, as_of: dt.date) -> PlanInfo:
    return PlanInfo(
        plan_id=plan_id, list_id=1, model_name="dealer-risk", model_version="1", as_of=as_of,
        period_start=as_of, period_end=as_of + dt.timedelta(days=364), seed=0, options={},
        summary={}, created_by="test", created_at=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))


def _plan_rows(inspections: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """A plan over the licensees inspected for compliance in the year from ``start``:
    the first tenth as risk picks (p = 1), the rest as exploration (p = 0.05)."""
    dates = pd.to_datetime(inspections["inspection_date"])
    inside = (inspections["inspection_type"] == "compliance") & (
        dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(start) + pd.Timedelta(days=365))
    numbers = inspections.loc[inside, "license_number"].drop_duplicates().sort_values()
    numbers = numbers.reset_index(drop=True)
    risk = numbers.index < len(numbers) // 10
    return pd.DataFrame({
        "license_number": numbers,
        "field_division": "Test",
        "selected_by": np.where(risk, "risk", "exploration"),
        "selection_probability": np.where(risk, 1.0, 0.05),
    })


@pytest.fixture(scope="module")
def tables(planted_world: dict[str, pd.DataFrame]) -> EventTables:
    return EventTables.from_mapping(planted_world)


@pytest.fixture(scope="module")
def plan_2021(tables: EventTables) -> tuple[PlanInfo, pd.DataFrame]:
    start = dt.date(2021, 1, 1)
    return _plan(1, start), _plan_rows(tables.inspections, start)


@pytest.fixture(scope="module")
def selection(tables: EventTables, plan_2021: tuple[PlanInfo, pd.DataFrame]) -> pd.DataFrame:
    return selection_probabilities([plan_2021], tables.inspections, AS_OF)


def test_plan_inspections_weigh_one_over_their_selection_probability(
    tables: EventTables, selection: pd.DataFrame
) -> None:
    assert len(selection) > 100 and set(selection["selection_probability"]) == {1.0, 0.05}
    data = build_training_data(tables, AS_OF, WEIGHTED, selection)
    assert data.ipw is not None
    probability = selection.set_index("inspection_id")["selection_probability"]
    linked = data.examples["inspection_id"].isin(probability.index).to_numpy()
    expected = 1.0 / probability.reindex(data.examples["inspection_id"][linked]).to_numpy()
    assert np.array_equal(data.ipw[linked], expected)
    assert (data.ipw[~linked] == 1.0).all()
    assert np.array_equal(data.fit_weights, data.ipw)  # type: ignore[arg-type]


def test_an_inspection_in_two_plans_takes_the_chance_of_either(tables: EventTables) -> None:
    start = dt.date(2021, 1, 1)
    rows = _plan_rows(tables.inspections, start).head(3).assign(selection_probability=0.2)
    both = selection_probabilities([(_plan(1, start), rows), (_plan(2, start), rows)],
                                   tables.inspections, AS_OF)
    assert np.allclose(both["selection_probability"], 1 - 0.8 ** 2)
    assert set(both["plans"]) == {2}


def test_weights_switched_off_train_the_model_of_today(
    tables: EventTables, selection: pd.DataFrame
) -> None:
    today = train(tables, AS_OF, FAST)
    off = train(tables, AS_OF, FAST, selection=selection)
    data = build_training_data(tables, AS_OF, FAST)
    raw = today.bundle.model.predict_raw(data.features)
    assert np.array_equal(off.bundle.model.predict_raw(data.features), raw)
    assert off.bundle.calibrator == today.bundle.calibrator
    # Off, the weighted figures are only added beside today's, never changing them.
    assert {k: v for k, v in off.summary.items() if k in today.summary} == pytest.approx(
        today.summary, nan_ok=True)
    assert "ipw_precision_at_capacity" in off.summary and "ipw_brier" in off.summary
    assert "ipw_precision_at_capacity" not in today.summary


def test_weights_on_without_any_plan_change_nothing(tables: EventTables) -> None:
    no_plans = selection_probabilities([], tables.inspections, AS_OF)
    today = train(tables, AS_OF, FAST)
    on = train(tables, AS_OF, WEIGHTED, selection=no_plans)
    data = build_training_data(tables, AS_OF, FAST)
    assert np.array_equal(on.bundle.model.predict_raw(data.features),
                          today.bundle.model.predict_raw(data.features))


def test_weighted_run_is_point_in_time_and_deterministic(
    tables: EventTables, plan_2021: tuple[PlanInfo, pd.DataFrame], selection: pd.DataFrame
) -> None:
    weighted = train(tables, AS_OF, WEIGHTED, selection=selection)
    # A plan made on the as-of date, and a plan whose outcomes close on or after it.
    late_plan = _plan(2, AS_OF), _plan_rows(tables.inspections, dt.date(2022, 1, 1))
    late_plan[1]["selection_probability"] = 0.01
    later = selection_probabilities([plan_2021, late_plan], tables.inspections, AS_OF)
    assert later.equals(selection)
    outcome_after = tables.inspections.head(30).assign(
        inspection_id=lambda f: "LATE-" + f["inspection_id"], inspection_type="compliance",
        inspection_date=pd.Timestamp(AS_OF))
    with_late = pd.concat([tables.inspections, outcome_after], ignore_index=True)
    assert selection_probabilities([plan_2021], with_late, AS_OF).equals(selection)
    again = train(tables, AS_OF, WEIGHTED, selection=later)
    data = build_training_data(tables, AS_OF, FAST)
    raw = weighted.bundle.model.predict_raw(data.features)
    assert np.array_equal(again.bundle.model.predict_raw(data.features), raw)
    assert pd.Series(again.summary).equals(pd.Series(weighted.summary))
    # And the weights did reach the model and its calibration.
    unweighted = train(tables, AS_OF, FAST, selection=selection)
    assert not np.array_equal(unweighted.bundle.model.predict_raw(data.features), raw)
    assert weighted.summary["weights_inverse_probability"] == 1.0
    assert weighted.out_of_fold["weight"].max() == pytest.approx(20.0)
    assert f"score_{MODEL_NAME}" in weighted.out_of_fold


def test_weights_on_need_the_selection(tables: EventTables) -> None:
    with pytest.raises(ValueError, match="selection probabilities"):
        build_training_data(tables, AS_OF, WEIGHTED)
