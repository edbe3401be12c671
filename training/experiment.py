"""Experiment configs: one TOML file per experiment under ``experiments/``.

A file names only what it changes; everything else comes from ``experiments/default.toml``
semantics, encoded here as the model's defaults so a config outside the repository works.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from training.labels import (
    DEFAULT_DURATION_DAYS_BY_OUTCOME,
    DEFAULT_INSPECTION_DURATION_DAYS,
    LABELS,
)

#: Metrics promotion can compare: every mean list metric training logs (higher is better).
SELECTION_METRICS = frozenset(
    [f"{kind}_at_{size}" for kind in ("precision", "recall", "lift")
     for size in ("1pct", "2pct", "5pct", "10pct", "capacity")] + ["pr_auc", "roc_auc"]
)


#: The default experiment's LightGBM parameters, as ``experiments/default.toml`` has them:
#: chosen by the search of ``experiments/search.toml`` (see the comment there).
DEFAULT_MODEL_PARAMS: dict[str, Any] = {
    "learning_rate": 0.043,
    "num_leaves": 12,
    "min_child_samples": 305,
    "feature_fraction": 0.53,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.66,
}


class ModelConfig(BaseModel):
    """LightGBM settings of the risk model."""

    model_config = ConfigDict(extra="forbid")

    num_boost_round: int = Field(100, ge=1)
    balance_classes: bool = True
    params: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_MODEL_PARAMS))


class WeightsConfig(BaseModel):
    """Inverse-probability weights for inspections that came from a stored plan.

    With ``inverse_probability``, an inspection linked to a plan (monitoring's rule) weighs
    ``1 / selection_probability`` in LightGBM's fit, in the Platt calibration and in the
    weighted validation metrics; an inspection from no plan weighs ``unplanned_weight``.
    Off by default: see docs/model.md ("Learning from the loop") for what it measured.
    """

    model_config = ConfigDict(extra="forbid")

    inverse_probability: bool = False
    unplanned_weight: float = Field(1.0, gt=0)
    #: Weights above this are cut to it: one exploration pick must not outweigh a division.
    max_weight: float = Field(1000.0, ge=1)


class SearchConfig(BaseModel):
    """A bounded hyperparameter search on the rolling-origin folds (``training.search``).

    Off by default: ``experiments/default.toml`` carries the parameters a search chose, so
    default training costs what it did before the search existed. ``experiments/search.toml``
    switches it on. Each trial trains the model (no baselines) on every validation fold and
    scores it by the mean of ``metric`` over the folds; the best trial's parameters are
    then used for calibration and the final refit.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    #: Trials in all, the first ``startup_trials`` drawn at random, the rest by TPE.
    n_trials: int = Field(24, ge=1, le=200)
    startup_trials: int = Field(8, ge=1)
    #: Trials evaluated at once (threads; LightGBM releases the GIL): 2 for 2 cores.
    parallel_trials: int = Field(2, ge=1, le=16)
    #: The fold metric the search maximises; "capacity" is the experiment's capacity_share.
    metric: str = "precision_at_capacity"
    #: Seed of the sampler; the experiment's ``seed`` when not given.
    seed: int | None = None


class ExperimentConfig(BaseModel):
    """Everything that decides a training run besides the data and the as-of date."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    description: str = ""
    seed: int = 7
    label: str = "serious"
    inspection_duration_days: int = Field(DEFAULT_INSPECTION_DURATION_DAYS, ge=0)
    inspection_duration_days_by_outcome: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_DURATION_DAYS_BY_OUTCOME)
    )
    n_folds: int = Field(3, ge=1)
    validation_days: int = Field(365, ge=30)
    selection_metric: str = "precision_at_2pct"
    capacity_share: float = Field(0.12, gt=0, le=1)
    fairness_top_share: float = Field(0.05, gt=0, le=1)
    exclude_features: list[str] = Field(default_factory=list)
    model: ModelConfig = Field(default_factory=ModelConfig)
    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)

    def model_post_init(self, _context: Any) -> None:
        if self.label not in LABELS:
            raise ValueError(f"label must be one of {sorted(LABELS)}, got {self.label!r}")
        if self.selection_metric not in SELECTION_METRICS:
            # A typo here would silently disable promotion's comparison.
            raise ValueError(f"selection_metric must be one of {sorted(SELECTION_METRICS)}, "
                             f"got {self.selection_metric!r}")
        if self.search.metric not in SELECTION_METRICS:
            raise ValueError(f"search.metric must be one of {sorted(SELECTION_METRICS)}, "
                             f"got {self.search.metric!r}")

    def flat_params(self) -> dict[str, Any]:
        """The config as flat key/value pairs for MLflow's params."""
        flat: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            if key == "weights":
                flat.update({f"weights_{k}": v for k, v in value.items()})
            elif key == "search":
                flat.update({f"search_{k}": v for k, v in value.items()})
            elif key == "model":
                flat["num_boost_round"] = value["num_boost_round"]
                flat["balance_classes"] = value["balance_classes"]
                flat.update({f"lgb_{k}": v for k, v in value["params"].items()})
            else:
                flat[key] = value
        return flat


def load_experiment(path: Path | None) -> ExperimentConfig:
    """Read an experiment file; ``None`` gives the defaults."""
    if path is None:
        return ExperimentConfig()
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return ExperimentConfig.model_validate(data)
