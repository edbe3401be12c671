"""The hyperparameter search: bounded, deterministic, selecting on the rolling-origin folds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from features.pipelines.tables import EventTables
from models.registry import child_runs
from training.experiment import ExperimentConfig, ModelConfig, SearchConfig, load_experiment
from training.folds import rolling_origin_folds
from training.pipeline import build_training_data, train
from training.search import SEARCH_SPACE, search
from training.tracking import log_result

AS_OF = dt.date(2023, 1, 1)
SEARCHED = ExperimentConfig(
    seed=3, model=ModelConfig(num_boost_round=100, params={"learning_rate": 0.1}),
    search=SearchConfig(enabled=True, n_trials=5, startup_trials=2, parallel_trials=2),
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tables(planted_world: dict[str, pd.DataFrame]) -> EventTables:
    return EventTables.from_mapping(planted_world)


@pytest.fixture(scope="module")
def searched(tables: EventTables):  # type: ignore[no-untyped-def]
    return train(tables, AS_OF, SEARCHED)


def _run_search(tables: EventTables, config: ExperimentConfig):  # type: ignore[no-untyped-def]
    data = build_training_data(tables, AS_OF, config)
    return search(data.features[data.model_columns], data.labels, data.examples["closed"],
                  data.examples["opened"], rolling_origin_folds(AS_OF), config)


def test_search_is_deterministic_for_a_seed_and_stays_in_bounds(
    tables: EventTables, searched  # type: ignore[no-untyped-def]
) -> None:
    again = _run_search(tables, SEARCHED)
    assert [t.params for t in again.trials] == [t.params for t in searched.search.trials]
    assert [t.value for t in again.trials] == [t.value for t in searched.search.trials]
    assert again.best.number == searched.search.best.number
    for trial in again.trials:
        for name, value in trial.params.items():
            assert SEARCH_SPACE[name].low <= value <= SEARCH_SPACE[name].high
    other = _run_search(tables, SEARCHED.model_copy(
        update={"search": SEARCHED.search.model_copy(update={"seed": 99})}))
    assert [t.params for t in other.trials[1:]] != [t.params for t in again.trials[1:]]


def test_first_trial_is_the_experiments_own_parameters(searched) -> None:  # type: ignore[no-untyped-def]
    first = searched.search.trials[0]
    assert first.number == 0
    assert first.params["learning_rate"] == 0.1
    assert first.params["num_boost_round"] == 100
    assert searched.search.best.value >= first.value


def test_training_with_the_search_uses_and_records_the_choice(searched) -> None:  # type: ignore[no-untyped-def]
    best = searched.search.best
    assert len(searched.search.trials) == 5
    assert set(best.fold_values) == {1, 2, 3}
    # Selected by precision at the configured capacity, mean over the folds.
    assert best.value == pytest.approx(sum(best.fold_values.values()) / 3)
    assert best.value == max(t.value for t in searched.search.trials)
    model = searched.config.model
    assert model.num_boost_round == best.params["num_boost_round"]
    assert model.params["num_leaves"] == best.params["num_leaves"]
    assert searched.summary["search_trials"] == 5
    assert searched.summary["search_best_value"] == best.value
    flat = searched.config.flat_params()
    assert flat["lgb_learning_rate"] == best.params["learning_rate"]
    assert flat["search_enabled"] is True


def test_each_trial_is_a_child_run_of_the_training_run(
    searched, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logged = log_result(searched, tracking, tmp_path / "artifacts", git_commit="test")
    children = sorted(child_runs(tracking, logged.run_id),
                      key=lambda run: int(run["tags"]["search_trial"]))
    assert [run["name"] for run in children] == [f"trial-{n}" for n in range(5)]
    chosen = [run for run in children if run["tags"]["search_chosen"] == "true"]
    assert len(chosen) == 1
    best = searched.search.best
    assert chosen[0]["tags"]["search_trial"] == str(best.number)
    assert float(chosen[0]["params"]["num_leaves"]) == best.params["num_leaves"]
    assert chosen[0]["metrics"]["search_precision_at_capacity"] == pytest.approx(best.value)
    assert "fold3_precision_at_capacity" in chosen[0]["metrics"]


def test_search_is_off_by_default_and_in_its_own_experiment() -> None:
    default = load_experiment(ROOT / "experiments" / "default.toml")
    assert default.search.enabled is False
    switched = load_experiment(ROOT / "experiments" / "search.toml")
    assert switched.search.enabled is True
    assert switched.search.metric == "precision_at_capacity"
    # The search experiment starts from the default's parameters, and training without
    # an experiment file trains the default's (the chosen) model.
    assert switched.model == default.model
    assert ExperimentConfig().model == default.model


def test_an_unknown_search_metric_is_refused() -> None:
    with pytest.raises(ValueError, match=r"search\.metric must be one of"):
        ExperimentConfig(search=SearchConfig(metric="precision_at_3pct"))
