"""Logging a training run to MLflow: params, metrics, tags, artifacts, model version."""

from __future__ import annotations

import tempfile
from pathlib import Path

from features.catalogue import CATALOGUE_VERSION
from models.registry import LoggedRun, log_training_run
from training.pipeline import TrainingResult
from training.report import write_artifacts


def log_result(
    result: TrainingResult,
    tracking_uri: str,
    artifact_root: Path | None,
    *,
    git_commit: str,
    extra_tags: dict[str, str] | None = None,
    extra_sections: list[str] | None = None,
) -> LoggedRun:
    """Log ``result`` as one MLflow run and register its model; returns the version."""
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
        return log_training_run(
            tracking_uri, artifact_root, result.bundle,
            params=params, metrics=result.summary, tags=tags, artifacts_dir=artifacts,
            run_name=f"{result.config.name}-{result.as_of.isoformat()}",
        )
