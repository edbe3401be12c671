"""What the models endpoints report: versions, metrics beside baselines, fairness.

All of it comes from MLflow through ``models.registry``. A version's run never changes
once logged, so its details are cached per process by version.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from models.registry import download_run_artifact, list_model_versions, version_run
from serving.schemas import FairnessRowPublic, MetricComparisonPublic, ModelVersionPublic

#: Metrics that describe the training data rather than a ranking; no baseline has them.
_NOT_COMPARED = ("calibrated_brier", "training_inspections", "training_serious", "rows",
                 "positives", "base_rate")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def metric_comparisons(metrics: dict[str, float]) -> list[MetricComparisonPublic]:
    """Each model metric beside ``baseline_<name>_<metric>`` for every baseline."""
    model_metrics = sorted(
        name for name in metrics
        if not name.startswith(("baseline_", "fold")) and name not in _NOT_COMPARED
    )
    baselines: dict[str, dict[str, float | None]] = {name: {} for name in model_metrics}
    # Longest metric name first, so "precision_at_2pct" is not read as a suffix of a
    # shorter metric's name.
    by_length = sorted(model_metrics, key=len, reverse=True)
    for key, value in metrics.items():
        if not key.startswith("baseline_"):
            continue
        rest = key.removeprefix("baseline_")
        for metric in by_length:
            if rest.endswith("_" + metric):
                baselines[metric][rest[: -len(metric) - 1]] = _number(value)
                break
    return [
        MetricComparisonPublic(metric=name, model=_number(metrics[name]),
                               baselines=dict(sorted(baselines[name].items())))
        for name in model_metrics
    ]


def fairness_rows(table: pd.DataFrame) -> list[FairnessRowPublic]:
    """The fairness artifact's rows (NaN as null, flags as a list)."""
    rows = []
    for record in table.to_dict(orient="records"):
        clean = {str(key): (None if isinstance(value, float) and math.isnan(value) else value)
                 for key, value in record.items()}
        flags = clean.pop("flags", None)
        clean["flags"] = [flag for flag in str(flags or "").split(";") if flag]
        clean["grouping"] = str(clean.get("grouping"))
        clean["group"] = str(clean.get("group"))
        rows.append(FairnessRowPublic.model_validate(clean))
    return rows


@functools.lru_cache(maxsize=32)
def run_details(tracking_uri: str, version: str) -> dict[str, Any]:
    """A version's run, metrics, fairness table and model card (cached: runs are immutable)."""
    run = version_run(tracking_uri, version)
    details: dict[str, Any] = {**run, "fairness": [], "model_card_markdown": None}
    with tempfile.TemporaryDirectory(prefix="dealer-risk-artifacts-") as scratch:
        try:
            path = download_run_artifact(tracking_uri, run["run_id"], "fairness.csv",
                                         Path(scratch))
            details["fairness"] = fairness_rows(pd.read_csv(path))
        except Exception:  # a run logged without the artifact: report none, not a 500
            details["fairness"] = []
        try:
            path = download_run_artifact(tracking_uri, run["run_id"], "model_card.md",
                                         Path(scratch))
            details["model_card_markdown"] = path.read_text()
        except Exception:
            details["model_card_markdown"] = None
    return details


def model_versions(tracking_uri: str, serving_version: str | None) -> tuple[
        str | None, list[ModelVersionPublic]]:
    """The champion and every registered version with its headline metric."""
    listed = list_model_versions(tracking_uri)
    champion = listed["champion"]
    versions = []
    for row in listed["versions"]:
        version = str(row["version"])
        try:
            run = run_details(tracking_uri, version)
        except Exception:
            run = {"tags": {}, "params": {}, "metrics": {}}
        tags, params = run["tags"], run["params"]
        metric = tags.get("selection_metric") or params.get("selection_metric")
        created = row.get("created")
        versions.append(ModelVersionPublic(
            version=version, run_id=row.get("run_id"),
            created_at=dt.datetime.fromtimestamp(created / 1000, dt.UTC) if created else None,
            is_champion=version == champion, is_serving=version == serving_version,
            trained_as_of=tags.get("as_of") or params.get("as_of"),
            experiment=tags.get("experiment"), selection_metric=metric,
            selection_metric_value=_number(run["metrics"].get(metric)) if metric else None,
        ))
    return champion, versions
