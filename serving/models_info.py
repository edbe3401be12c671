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
from training.fairness import DISPARITY_BOUNDS, MIN_FLAGGED_FOR_PRECISION, MIN_GROUP_SIZE

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


def _created_at(created: Any) -> dt.datetime | None:
    """A version's creation time: the registry gives ISO 8601 text (or epoch milliseconds)."""
    if created is None or created == "":
        return None
    if isinstance(created, int | float):
        return dt.datetime.fromtimestamp(created / 1000, dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(str(created))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


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
        versions.append(ModelVersionPublic(
            version=version, run_id=row.get("run_id"),
            created_at=_created_at(row.get("created")),
            is_champion=version == champion, is_serving=version == serving_version,
            trained_as_of=tags.get("as_of") or params.get("as_of"),
            experiment=tags.get("experiment"), selection_metric=metric,
            selection_metric_value=_number(run["metrics"].get(metric)) if metric else None,
        ))
    return champion, versions


# --- what the models page reads ----------------------------------------------------------

#: The metrics the models page shows, in reading order, with their names in words. The
#: ranking at the division's capacity comes first (that is what a plan inspects), then the
#: fixed shares of the list, then the whole-list measures. Any other metric follows,
#: named from its key.
METRIC_LABELS: dict[str, str] = {
    "precision_at_capacity": "Precision at capacity",
    "recall_at_capacity": "Recall at capacity",
    "lift_at_capacity": "Lift at capacity",
    **{f"{kind}_at_{share}pct": f"{kind.capitalize()} in the top {share}%"
       for kind in ("precision", "recall", "lift") for share in (1, 2, 5, 10)},
    "pr_auc": "Average precision (area under the precision-recall curve)",
    "roc_auc": "ROC AUC (chance a serious case outranks a clean one)",
    "brier": "Brier score (lower is better)",
}
_METRIC_ORDER = [
    "precision_at_capacity", "recall_at_capacity", "lift_at_capacity",
    *[f"{kind}_at_{share}pct" for kind in ("precision", "recall", "lift")
      for share in (1, 2, 5, 10)],
    "pr_auc", "roc_auc", "brier",
]
#: What each metric means, once, for the page's help text.
METRIC_HELP = (
    "Precision: the share of the top-ranked licensees whose inspection ended serious. "
    "Recall: the share of all serious outcomes found there. Lift: precision divided by "
    "the base rate. Capacity: the share of licensees the divisions can inspect in a year.")


#: Shorter names for column headings.
_SHORT_LABELS = {"pr_auc": "Average precision", "roc_auc": "ROC AUC", "brier": "Brier score"}


def metric_label(name: str, short: bool = False) -> str:
    """A metric's name in words ("precision_at_2pct" -> "Precision in the top 2%")."""
    if short and name in _SHORT_LABELS:
        return _SHORT_LABELS[name]
    return METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


def ordered_metrics(comparisons: list[MetricComparisonPublic],
                    selection_metric: str | None) -> list[dict[str, Any]]:
    """The comparisons in reading order, each with its label and whether it is the metric
    the experiment selects and promotes by."""
    rank = {name: index for index, name in enumerate(_METRIC_ORDER)}
    ordered = sorted(comparisons, key=lambda row: (rank.get(row.metric, len(rank)), row.metric))
    return [{"row": row, "label": metric_label(row.metric),
             "is_selection": row.metric == selection_metric} for row in ordered]


#: The metrics the version comparison shows beside the selection metric.
VERSION_METRICS = ("precision_at_capacity", "recall_at_capacity", "pr_auc", "roc_auc", "brier")


def version_comparison(tracking_uri: str, versions: list[ModelVersionPublic],
                       newest: int = 5) -> list[dict[str, Any]]:
    """The champion and the ``newest`` latest versions side by side, from their runs.

    Read from the runs MLflow logged (cached per version), so the page compares versions
    without opening MLflow. Newest first; the champion is always included.
    """
    chosen = [v for v in versions if v.is_champion or v.is_serving]
    for version in versions[:newest]:
        if version not in chosen:
            chosen.append(version)
    chosen.sort(key=lambda v: int(v.version) if v.version.isdigit() else -1, reverse=True)
    rows = []
    for version in chosen:
        try:
            metrics = run_details(tracking_uri, version.version)["metrics"]
        except Exception:  # a version whose run is gone: shown without numbers
            metrics = {}
        rows.append({"version": version,
                     "metrics": {name: _number(metrics.get(name)) for name in VERSION_METRICS}})
    return rows


# --- fairness: which flags are signal ----------------------------------------------------

#: The significance level of the signal rule, after the Holm correction.
SIGNAL_ALPHA = 0.05
_RATE_COUNTS = {"flagged_share": ("flagged", "licensees"),
                "precision": ("true_flagged", "flagged"),
                "false_positive_rate": ("false_flagged", "negatives")}


def _counts(row: FairnessRowPublic) -> dict[str, float]:
    """A row's counts behind its three rates (negatives estimated from the FPR)."""
    flagged = float(row.flagged or 0)
    licensees = float(row.licensees or 0)
    true_flagged = round((row.precision or 0.0) * flagged)
    false_flagged = flagged - true_flagged
    fpr = row.false_positive_rate
    negatives = false_flagged / fpr if fpr else licensees
    return {"flagged": flagged, "licensees": licensees, "true_flagged": true_flagged,
            "false_flagged": false_flagged, "negatives": negatives}


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _compare(group: dict[str, float], reference: dict[str, float],
             metric: str) -> tuple[float, float] | None:
    """(two-sided p of the difference, chance of a ratio outside the band) for one metric,
    or None when a rate has no denominator."""
    hits, total = _RATE_COUNTS[metric]
    x1, n1, x2, n2 = group[hits], group[total], reference[hits], reference[total]
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    if pooled <= 0 or pooled >= 1:
        return (1.0, 0.0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 2 * _normal_sf(abs(x1 / n1 - x2 / n2) / se)
    # Under "no difference" the log of the ratio is about normal with this spread (delta
    # method); the band is symmetric in logs (0.8 = 1 / 1.25).
    log_se = math.sqrt((1 - pooled) / pooled * (1 / n1 + 1 / n2))
    outside = 2 * _normal_sf(math.log(DISPARITY_BOUNDS[1]) / log_se)
    return (p_value, outside)


def fairness_guidance(rows: list[FairnessRowPublic]) -> dict[str, Any]:
    """Which of the audit's flags are signal, and how many flags chance alone would give.

    Every judged group is compared with its grouping's reference (the largest group) on
    each rate the audit judged. With no real difference a small group's ratio still falls
    outside 0.8-1.25 often: the sum of those chances is the number of flags expected by
    chance. A flag is *signal* when a two-proportion test of the group against the
    reference stays below :data:`SIGNAL_ALPHA` after Holm's correction for every
    comparison on the page (family-wise error, so one page's many groups do not make
    noise look like findings).
    """
    by_name = {(row.grouping, row.group): row for row in rows}
    tests: list[tuple[float, tuple[str, str, str]]] = []
    expected = 0.0
    for row in rows:
        extra = row.model_extra or {}
        reference_name = extra.get("reference_group")
        judged = bool(extra.get("judged", True))
        reference = by_name.get((row.grouping, str(reference_name)))
        if reference is None or reference is row or not judged:
            continue
        for metric in ("flagged_share", "precision", "false_positive_rate"):
            if metric == "precision" and min(row.flagged or 0, reference.flagged or 0) \
                    < MIN_FLAGGED_FOR_PRECISION:
                continue
            result = _compare(_counts(row), _counts(reference), metric)
            if result is None:
                continue
            p_value, outside = result
            expected += outside
            tests.append((p_value, (row.grouping, row.group, metric)))
    # Holm: the i-th smallest p (0-based) is compared with alpha / (m - i), stopping at
    # the first that fails.
    signal: set[tuple[str, str, str]] = set()
    for index, (p_value, key) in enumerate(sorted(tests)):
        if p_value > SIGNAL_ALPHA / (len(tests) - index):
            break
        signal.add(key)
    flags = {(row.grouping, row.group, flag) for row in rows for flag in row.flags}
    references = {}
    for row in rows:
        name = (row.model_extra or {}).get("reference_group")
        if name is not None:
            references[row.grouping] = str(name)
    return {
        "comparisons": len(tests),
        "flags": len(flags),
        "expected_by_chance": expected,
        "signal": {key for key in signal if key in flags},
        "references": references,
        "min_group_size": MIN_GROUP_SIZE,
        "bounds": DISPARITY_BOUNDS,
        "alpha": SIGNAL_ALPHA,
    }
