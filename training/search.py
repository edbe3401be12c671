"""Model selection by temporal validation: a bounded hyperparameter search.

Each trial is one set of LightGBM parameters from :data:`SEARCH_SPACE`; it trains the
risk model on every rolling-origin fold (``training.folds``: fit on inspections closed
before the origin, score those opened in the year after it) and is worth the mean over
folds of the experiment's ``search.metric`` (precision at the configured capacity by
default). The sampler is Optuna's TPE, seeded: the first trial is the experiment's own
parameters (so the search never ends below them), ``startup_trials`` are drawn at
random, the rest by TPE. Trials are asked in batches of ``parallel_trials`` and
evaluated in threads (LightGBM fits release the GIL and run one thread each); the order
of asking and telling is fixed, so the same data, config and seed give the same trials
and the same choice on any machine.

What a search chose is written back into ``experiments/default.toml`` by hand (with a
comment naming the search), so default training does not pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.catalogue import monotone_directions
from models.estimator import DEFAULT_PARAMS, RiskModel
from training.experiment import ExperimentConfig, ModelConfig
from training.folds import Fold
from training.metrics import ranking_report


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its range and scale."""

    low: float
    high: float
    log: bool = False
    integer: bool = False
    step: int | None = None


#: The searched parameters and their bounds. ``num_boost_round`` is the number of trees
#: (not a LightGBM parameter); the others are LightGBM's. Every other parameter keeps the
#: experiment's value.
SEARCH_SPACE: dict[str, Dimension] = {
    "learning_rate": Dimension(0.02, 0.15, log=True),
    "num_boost_round": Dimension(100, 500, integer=True, step=50),
    "num_leaves": Dimension(4, 31, integer=True),
    "min_child_samples": Dimension(20, 400, log=True, integer=True),
    "feature_fraction": Dimension(0.4, 1.0),
    "lambda_l2": Dimension(0.1, 50.0, log=True),
}


@dataclass(frozen=True)
class Trial:
    """One evaluated parameter set."""

    number: int
    params: dict[str, Any]  # the searched parameters, num_boost_round included
    fold_values: dict[int, float]  # the search metric per fold number
    value: float  # mean over folds (NaN when no fold could be evaluated)
    metrics: dict[str, float] = field(default_factory=dict)  # mean of each fold metric


@dataclass(frozen=True)
class SearchResult:
    """Every trial in order and the chosen one."""

    metric: str
    seed: int
    trials: list[Trial]
    best: Trial

    def model_config(self, base: ModelConfig) -> ModelConfig:
        """``base`` with the chosen parameters."""
        return apply_params(base, self.best.params)


def apply_params(base: ModelConfig, params: dict[str, Any]) -> ModelConfig:
    """``base`` with searched ``params`` (``num_boost_round`` and LightGBM parameters)."""
    lightgbm = {k: v for k, v in params.items() if k != "num_boost_round"}
    return base.model_copy(update={
        "num_boost_round": int(params.get("num_boost_round", base.num_boost_round)),
        "params": {**base.params, **lightgbm},
    })


def _base_params(config: ExperimentConfig) -> dict[str, Any]:
    """The experiment's own values of the searched parameters, clipped into the space."""
    values = {**DEFAULT_PARAMS, **config.model.params,
              "num_boost_round": config.model.num_boost_round}
    out: dict[str, Any] = {}
    for name, dim in SEARCH_SPACE.items():
        value = min(max(float(values[name]), dim.low), dim.high)
        if dim.step is not None:
            value = dim.low + round((value - dim.low) / dim.step) * dim.step
        out[name] = round(value) if dim.integer else value
    return out


def _distributions() -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, dim in SEARCH_SPACE.items():
        if dim.integer:
            out[name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log,
                                        step=dim.step or 1)
        else:
            out[name] = FloatDistribution(dim.low, dim.high, log=dim.log)
    return out


def evaluate_params(
    params: dict[str, Any], X: pd.DataFrame, y: npt.NDArray[Any], closed: pd.Series,
    opened: pd.Series, folds: list[Fold], config: ExperimentConfig,
    sample_weight: npt.NDArray[Any] | None = None,
) -> tuple[dict[int, float], dict[str, float]]:
    """The search metric per fold and every fold metric's mean, for one parameter set."""
    model_config = apply_params(config.model, params)
    directions = monotone_directions()
    monotone = {name: directions.get(name, 0) for name in X.columns}
    values: dict[int, float] = {}
    reports: list[dict[str, float]] = []
    for fold in folds:
        train, valid = fold.train_mask(closed), fold.validation_mask(closed, opened)
        if y[train].sum() < 5 or valid.sum() == 0 or y[valid].sum() == 0:
            continue  # as training skips it
        model = RiskModel(params=model_config.params,
                          num_boost_round=model_config.num_boost_round, monotone=monotone,
                          balance_classes=model_config.balance_classes, seed=config.seed)
        model.fit(X[train], y[train],
                  sample_weight=None if sample_weight is None else sample_weight[train])
        report = ranking_report(y[valid], model.predict_raw(X[valid]),
                                capacity_fraction=config.capacity_share)
        values[fold.number] = float(report[config.search.metric])
        reports.append(report)
    means = {key: float(np.mean([r[key] for r in reports])) for key in reports[0]} \
        if reports else {}
    return values, means


def search(
    X: pd.DataFrame, y: npt.NDArray[Any], closed: pd.Series, opened: pd.Series,
    folds: list[Fold], config: ExperimentConfig,
    sample_weight: npt.NDArray[Any] | None = None,
    progress: Callable[[Trial], None] | None = None,
) -> SearchResult:
    """Run the experiment's search over ``folds`` and return every trial and the best.

    ``X`` holds the model's features of every training example, ``y`` their labels and
    ``closed``/``opened`` their dates (what the folds split on).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = config.search
    seed = config.seed if settings.seed is None else settings.seed
    sampler = optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=min(settings.startup_trials, settings.n_trials))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(_base_params(config))
    distributions = _distributions()
    trials: list[Trial] = []

    def run(params: dict[str, Any]) -> tuple[dict[int, float], dict[str, float]]:
        return evaluate_params(params, X, y, closed, opened, folds, config, sample_weight)

    with ThreadPoolExecutor(max_workers=settings.parallel_trials) as pool:
        while len(trials) < settings.n_trials:
            size = min(settings.parallel_trials, settings.n_trials - len(trials))
            asked = [study.ask(distributions) for _ in range(size)]
            evaluated = list(pool.map(run, [dict(trial.params) for trial in asked]))
            for trial, (fold_values, metrics) in zip(asked, evaluated, strict=True):
                value = float(np.mean(list(fold_values.values()))) if fold_values else math.nan
                if math.isnan(value):
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
                done = Trial(number=trial.number, params=dict(trial.params),
                             fold_values=fold_values, value=value, metrics=metrics)
                trials.append(done)
                if progress is not None:
                    progress(done)
    scored = [trial for trial in trials if not math.isnan(trial.value)]
    if not scored:
        raise ValueError("the search could not evaluate any trial: no fold had labels")
    # The first of the best values wins a tie: deterministic, and the experiment's own
    # parameters (trial 0) are kept unless a trial is strictly better.
    best = max(scored, key=lambda trial: (trial.value, -trial.number))
    return SearchResult(metric=settings.metric, seed=seed, trials=trials, best=best)
