"""Logging a training run to MLflow: params, metrics, tags, artifacts, model version."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from features.catalogue import CATALOGUE_VERSION
from models.registry import ChildRun, LoggedRun, log_child_runs, log_training_run
from training.pipeline import TrainingResult
from training.report import write_artifacts
from training.search import SearchResult


def log_result(
    result: TrainingResult,
    tracking_uri: str,
    artifact_root: Path | None,
    *,
    git_commit: str,
    extra_tags: dict[str, str] | None = None,
    extra_sections: list[str] | None = None,
    started_at: dt.datetime | None = None,
) -> LoggedRun:
    """Log ``result`` as one MLflow run and register its model; returns the version.

    ``started_at``, when training began, is the run's start time (else: now).
    """
    params = {**result.config.flat_params(), "as_of": result.as_of.isoformat()}
    tags = {
        "git_commit": git_commit,
        "catalogue_version": CATALOGUE_VERSION,
        "data_fingerprint": result.data_fingerprint,
        "as_of": result.as_of.isoformat(),
        "experiment": result.config.name,
        "selection_metric": result.config.selection_metric,
        **(extra_tags or {}),
    }
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = write_artifacts(result, Path(scratch) / "report", extra_sections)
        logged = log_training_run(
            tracking_uri, artifact_root, result.bundle,
            params=params, metrics=result.summary, tags=tags, artifacts_dir=artifacts,
            run_name=f"{result.config.name}-{result.as_of.isoformat()}",
            description=version_description(result), started_at=started_at,
        )
    if result.search is not None:
        log_child_runs(tracking_uri, logged.run_id, search_child_runs(result.search))
    return logged


def search_child_runs(searched: SearchResult) -> list[ChildRun]:
    """One MLflow child run per search trial: its parameters and fold metrics."""
    children = []
    for trial in searched.trials:
        metrics = {f"search_{searched.metric}": trial.value,
                   **{f"fold{number}_{searched.metric}": value
                      for number, value in trial.fold_values.items()},
                   **trial.metrics}
        children.append(ChildRun(
            name=f"trial-{trial.number}", params=trial.params, metrics=metrics,
            tags={"search_trial": str(trial.number), "search_seed": str(searched.seed),
                  "search_chosen": str(trial.number == searched.best.number).lower()}))
    return children


def version_description(result: TrainingResult) -> str:
    """The registered version's description: the model card's summary in one paragraph."""
    summary = result.summary
    model = summary.get("precision_at_capacity", float("nan"))
    rule = summary.get("baseline_demand_letter_2_precision_at_capacity", float("nan"))
    share = result.config.capacity_share
    return (f"Experiment {result.config.name}, label {result.config.label}, as of "
            f"{result.as_of.isoformat()}: validation precision at capacity (top {share:.0%}) "
            f"{model:.3f} against {rule:.3f} for the Demand Letter 2 rule; "
            f"{int(summary.get('training_inspections', 0)):,} training inspections.")
