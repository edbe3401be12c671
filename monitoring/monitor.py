"""``dealer-risk monitor``'s figures: what the plans found, calibration, drift, retraining.

:func:`monitor` reads what it needs from the store and the model registry and returns one
JSON-ready dict (the contract's "Monitoring output", with more keys). The pieces are pure
functions of frames (:func:`plan_figures`, :func:`calibration`, :func:`retrain_reasons`),
so tests and pages can use them without a store. Every figure and rule is defined in
``docs/monitoring.md``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from features.io import load_tables
from features.pipelines.build import build_features
from models.bundle import ModelBundle
from models.registry import champion_version, load_bundle, version_run
from monitoring.drift import (
    ACT,
    PSI_ACT,
    PSI_WATCH,
    Population,
    drift_rows,
    first_known_event,
    no_history_share,
)
from monitoring.enforcement import enforcement_figures
from monitoring.estimate import estimate_serious_rate
from monitoring.figures import Interval, rate_ratio, wilson
from monitoring.outcomes import (
    GRACE_DAYS,
    NOT_INSPECTED,
    PENDING,
    link_outcomes,
    window_closed,
    window_end,
)
from planning.design import EXPLORATION, RISK, SELECTION_PATHS
from planning.estimate import naive_rate
from planning.marks import marks_frame, read_marks
from planning.plans import MARK_REASONS, PlanInfo, read_plan_rows, stored_plans
from scoring.lists import latest_list, read_score_list
from scoring.score import ScoredList

#: Score bands of the field calibration (calibrated score, right-closed).
CALIBRATION_BANDS = (0.0, 0.02, 0.05, 0.10, 0.20, 0.40, 1.0)
#: A band counts for the retraining rule only with at least this many inspections.
MIN_BAND_INSPECTIONS = 20
#: A model older than this (days from its training date to the monitoring date) should be
#: retrained: one year's plan plus the grace period in which its last outcomes arrive.
MAX_MODEL_AGE_DAYS = 365 + GRACE_DAYS
#: Retrain when the compliance inspections closed since the training date reach this
#: share of the inspections the model was trained on.
NEW_LABEL_SHARE = 0.25


class MonitorError(ValueError):
    """Monitoring cannot run as asked (no champion, no plans); the message says what to do."""


def _count(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> int:
    return int(np.asarray(mask, dtype=bool).sum()) if len(frame) else 0


def path_figures(linked: pd.DataFrame) -> dict[str, Any]:
    """Planned, inspected, serious, predicted serious, pending, not inspected, hit rate."""
    inspected = linked["inspected"].to_numpy(dtype=bool)
    serious = linked["serious"].to_numpy(dtype=bool) & inspected
    status = linked["status"].to_numpy(dtype=object)
    hits, seen = int(serious.sum()), int(inspected.sum())
    reasons = (linked["mark_reason"].to_numpy(dtype=object) if "mark_reason" in linked
               else np.full(len(linked), None, dtype=object))
    marked = np.array([not pd.isna(reason) for reason in reasons], dtype=bool)
    by_reason = {reason: int(((reasons == reason) & marked & ~inspected).sum())
                 for reason in MARK_REASONS}
    return {
        "planned": len(linked),
        "inspected": seen,
        "serious": hits,
        "predicted_serious": round(float(linked["score"].to_numpy(float)[inspected].sum()), 6),
        "pending": _count(linked, status == PENDING),
        "not_inspected": _count(linked, status == NOT_INSPECTED),
        "hit_rate": wilson(hits, seen).as_dict(),
        # Inspected and found nothing serious, beside the licensees an inspector marked
        # "not inspected" (by reason): the two are never mixed (docs/monitoring.md).
        "inspected_not_serious": seen - hits,
        "marked_not_inspected": int((marked & ~inspected).sum()),
        "marked_not_inspected_by_reason": by_reason,
        "marked_but_inspected": int((marked & inspected).sum()),
    }


def plan_figures(plan: PlanInfo, linked: pd.DataFrame, as_of: dt.date) -> dict[str, Any]:
    """One plan's part of the output, from its linked rows (:func:`link_outcomes`)."""
    by_selection = {path: path_figures(linked[linked["selected_by"] == path])
                    for path in SELECTION_PATHS}
    for path in sorted(set(linked["selected_by"]) - set(SELECTION_PATHS)):
        by_selection[str(path)] = path_figures(linked[linked["selected_by"] == path])
    risk, explore = by_selection[RISK], by_selection[EXPLORATION]
    lift = rate_ratio(risk["serious"], risk["inspected"], explore["serious"],
                      explore["inspected"])
    eligible = pd.Series({str(d["field_division"]): int(d["eligible"])
                          for d in plan.divisions if int(d.get("capacity", 1)) > 0})
    estimate, collapsed = estimate_serious_rate(linked, eligible)
    naive = naive_rate(linked)
    seen = int(linked["inspected"].sum())
    naive_interval = wilson(int(linked["serious"].sum()), seen) if naive is not None \
        else Interval(None, None, None)
    divisions = []
    for (division, path), part in linked.groupby(["field_division", "selected_by"], sort=True):
        figures = path_figures(part)
        divisions.append({"field_division": str(division), "selected_by": str(path),
                          **{k: v for k, v in figures.items() if k != "hit_rate"}})
    return {
        "plan_id": str(plan.plan_id),
        "list_id": plan.list_id,
        "model_version": plan.model_version,
        "period_start": plan.period_start.isoformat(),
        "period_end": plan.period_end.isoformat(),
        "window_end": window_end(plan).isoformat(),
        "window_closed": window_closed(plan, as_of),
        "by_selection": by_selection,
        "lift_risk_over_exploration": lift.as_dict(),
        "estimated_serious_rate": {
            "value": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
            "eligible": estimate.population, "observed": estimate.observed,
            "collapsed_strata": collapsed},
        "naive_rate": naive_interval.as_dict(),
        "by_division": divisions,
    }


def calibration(linked: Sequence[pd.DataFrame]) -> dict[str, Any]:
    """Predicted against observed serious rates by score band, over inspected licensees.

    Each band gives the mean plan score (``predicted``), the observed share serious with
    its 95% Wilson interval, and ``outside``: with at least :data:`MIN_BAND_INSPECTIONS`
    inspections, the prediction lies outside the band's interval widened for the number of
    bands tested (Bonferroni: 95% over all bands together, so a calibrated model raises
    it in about one monitoring in twenty, not one band in twenty).
    """
    frames = [frame[frame["inspected"]] for frame in linked]
    seen = pd.concat(frames) if frames else pd.DataFrame(columns=["score", "serious"])
    scores = seen["score"].to_numpy(dtype=float)
    serious = seen["serious"].to_numpy(dtype=bool)
    edges = np.asarray(CALIBRATION_BANDS)
    band = np.clip(np.searchsorted(edges, scores, side="left") - 1, 0, edges.size - 2)
    counted = [b for b in range(edges.size - 1)
               if int((band == b).sum()) >= MIN_BAND_INSPECTIONS]
    z_wide = statistics.NormalDist().inv_cdf(1 - 0.025 / max(1, len(counted)))
    bands = []
    for b in range(edges.size - 1):
        inside = band == b
        n, hits = int(inside.sum()), int(serious[inside].sum())
        predicted = float(scores[inside].mean()) if n else None
        observed = wilson(hits, n)
        wide = wilson(hits, n, z=z_wide)
        outside = bool(n >= MIN_BAND_INSPECTIONS and predicted is not None
                       and wide.ci_low is not None and wide.ci_high is not None
                       and not wide.ci_low <= predicted <= wide.ci_high)
        bands.append({"band": f"({edges[b]:.2f}, {edges[b + 1]:.2f}]", "score_low": edges[b],
                      "score_high": edges[b + 1], "inspected": n, "serious": hits,
                      "predicted": predicted, "predicted_serious": float(scores[inside].sum()),
                      "observed": observed.value, "ci_low": observed.ci_low,
                      "ci_high": observed.ci_high, "outside": outside})
    return {"inspected": len(seen), "serious": int(serious.sum()),
            "predicted_serious": float(scores.sum()), "bands": bands,
            "outside": any(b["outside"] for b in bands)}


@dataclass(frozen=True)
class ModelRecord:
    """What the registry says about the champion: version, training date, labels used."""

    version: str
    trained_as_of: dt.date
    training_inspections: int | None


def retrain_reasons(
    model: ModelRecord, as_of: dt.date, field_calibration: dict[str, Any],
    drift: list[dict[str, Any]], new_labels: int,
) -> list[str]:
    """The documented reasons to retrain that hold on ``as_of`` (empty: none)."""
    reasons = []
    for band in field_calibration["bands"]:
        if band["outside"]:
            reasons.append(
                f"calibration: score band {band['band']} predicted "
                f"{band['predicted']:.3f} but {band['serious']} of {band['inspected']} "
                f"inspections were serious ({band['observed']:.3f}, 95% "
                f"{band['ci_low']:.3f}-{band['ci_high']:.3f})")
    moved = [row for row in drift if row["level"] == ACT]
    if moved:
        names = ", ".join(f"{row['feature']} {row['psi']:.2f}" for row in moved[:8])
        more = f" and {len(moved) - 8} more" if len(moved) > 8 else ""
        reasons.append(f"drift: PSI at or above {PSI_ACT} for {names}{more}")
    age = (as_of - model.trained_as_of).days
    if age > MAX_MODEL_AGE_DAYS:
        reasons.append(f"age: the model was trained as of {model.trained_as_of}, {age} days "
                       f"before {as_of} (limit {MAX_MODEL_AGE_DAYS})")
    if model.training_inspections:
        needed = NEW_LABEL_SHARE * model.training_inspections
        if new_labels >= needed:
            reasons.append(f"labels: {new_labels:,} compliance inspections closed since "
                           f"{model.trained_as_of}, at least {NEW_LABEL_SHARE:.0%} of the "
                           f"{model.training_inspections:,} the model was trained on")
    return reasons


def model_record(tracking_uri: str) -> ModelRecord:
    """The champion's version, training date and training inspections, from MLflow."""
    version = champion_version(tracking_uri)
    if version is None:
        raise MonitorError("no champion model: run `dealer-risk promote VERSION` first")
    run = version_run(tracking_uri, version)
    trained = run["params"].get("as_of") or run["tags"].get("as_of")
    if not trained:
        raise MonitorError(f"version {version}'s run records no training as_of")
    count = run["metrics"].get("training_inspections")
    return ModelRecord(version=version, trained_as_of=dt.date.fromisoformat(str(trained)),
                       training_inspections=None if count is None else int(count))


def _scored(bundle: ModelBundle, features: pd.DataFrame, as_of: dt.date, source: str
            ) -> Population:
    values = features[bundle.features].astype(float)
    return Population(as_of=as_of, source=source, features=values,
                      scores=bundle.score(values)["score"])


def _stored_population(scored: ScoredList, bundle: ModelBundle, as_of: dt.date, source: str
                       ) -> Population:
    """A stored list's licensees, feature values and scores as a drift population."""
    values = pd.DataFrame(scored.feature_values, columns=list(scored.features),
                          index=pd.Index(scored.rows["license_number"].astype(str),
                                         name="license_number"))
    return Population(as_of=as_of, source=source,
                      features=values.reindex(columns=bundle.features),
                      scores=pd.Series(scored.rows["score"].to_numpy(float), index=values.index))


def monitor(engine: Engine, tracking_uri: str, as_of: dt.date) -> dict[str, Any]:
    """Every figure of ``dealer-risk monitor --as-of as_of`` (see ``docs/monitoring.md``).

    Reads the store with SQLAlchemy first (plans, the reference list) and with the
    columnar path last, never both at once. Raises :class:`MonitorError` when there is no
    champion or no plan made before ``as_of``.
    """
    model = model_record(tracking_uri)
    plans = [plan for plan in stored_plans(engine, limit=1000) if plan.as_of < as_of]
    if not plans:
        raise MonitorError(f"no plan made before {as_of}: run `dealer-risk plan --as-of "
                           "DATE --out FILE` first")
    plans.sort(key=lambda plan: (plan.as_of, plan.plan_id))
    plan_rows = {plan.plan_id: read_plan_rows(engine, plan.plan_id) for plan in plans}
    marks = read_marks(engine)
    listing = latest_list(engine, model_version=model.version, servable=True,
                          on_or_before=model.trained_as_of)
    reference_list = (read_score_list(engine, listing.list_id)
                      if listing is not None and listing.as_of == model.trained_as_of else None)
    # A list the champion scored as of the monitoring date already holds the feature table
    # drift needs (the score step stores every licensee's values): no rebuild.
    current_listing = latest_list(engine, model_version=model.version, servable=True,
                                  on_or_before=as_of)
    current_list = (read_score_list(engine, current_listing.list_id)
                    if current_listing is not None and current_listing.as_of == as_of
                    else None)
    bundle, _ = load_bundle(tracking_uri, f"models:/dealer-risk/{model.version}")
    tables = load_tables(engine, known_before=as_of)  # the columnar read, last

    inspections = tables.inspections
    linked = {plan.plan_id: link_outcomes(plan, plan_rows[plan.plan_id], inspections, as_of,
                                          marks_frame(marks, plan.plan_id))
              for plan in plans}
    plan_output = [plan_figures(plan, linked[plan.plan_id], as_of) for plan in plans]
    field = calibration([linked[p.plan_id] for p in plans if p.model_version == model.version])

    if current_list is not None and current_listing is not None:
        current = _stored_population(current_list, bundle, as_of,
                                     f"stored list {current_listing.list_id}")
    else:
        current = _scored(bundle, build_features(tables, as_of), as_of,
                          f"feature table as of {as_of}")
    if reference_list is not None:
        reference = _stored_population(reference_list, bundle, model.trained_as_of,
                                       f"stored list {listing.list_id if listing else ''}")
    else:
        reference = _scored(bundle, build_features(tables, model.trained_as_of),
                            model.trained_as_of, "feature table rebuilt from the store")
    drift = drift_rows(reference, current)
    first_event = first_known_event(tables)
    dates = pd.to_datetime(inspections["inspection_date"])
    new_labels = int(((inspections["inspection_type"] == "compliance")
                      & (dates >= pd.Timestamp(model.trained_as_of))
                      & (dates < pd.Timestamp(as_of))).sum())
    reasons = retrain_reasons(model, as_of, field, drift, new_labels)
    return {
        "as_of": as_of.isoformat(),
        "model_version": model.version,
        "model_trained_as_of": model.trained_as_of.isoformat(),
        "model_age_days": (as_of - model.trained_as_of).days,
        "grace_days": GRACE_DAYS,
        "plans": plan_output,
        "calibration": field,
        "drift": drift,
        "drift_reference": {"as_of": reference.as_of.isoformat(), "source": reference.source,
                            "licensees": len(reference.features),
                            "current_licensees": len(current.features),
                            "current_source": current.source,
                            "watch": PSI_WATCH, "act": PSI_ACT},
        "no_history_share": {
            "reference": no_history_share(first_event, reference.features.index,
                                          reference.as_of),
            "current": no_history_share(first_event, current.features.index, as_of)},
        "new_labelled_inspections": new_labels,
        "training_inspections": model.training_inspections,
        "retrain_recommended": bool(reasons),
        "reasons": reasons,
        "enforcement": enforcement_figures(tables, list(linked.values()), as_of),
    }


def flat_metrics(output: dict[str, Any]) -> dict[str, float]:
    """The output's numbers as MLflow metric names (``plan<id>_<path>_<figure>``, ...)."""
    metrics: dict[str, float] = {}

    def put(name: str, value: object) -> None:
        if isinstance(value, bool):
            metrics[name] = float(value)
        elif isinstance(value, int | float) and value == value:
            metrics[name] = float(value)

    for plan in output["plans"]:
        prefix = f"plan{plan['plan_id']}"
        for path, figures in plan["by_selection"].items():
            for key in ("planned", "inspected", "serious", "predicted_serious", "pending",
                        "not_inspected", "marked_not_inspected"):
                put(f"{prefix}_{path}_{key}", figures[key])
            put(f"{prefix}_{path}_hit_rate", figures["hit_rate"]["value"])
        for key in ("value", "ci_low", "ci_high"):
            put(f"{prefix}_estimated_serious_rate_{key}", plan["estimated_serious_rate"][key])
            put(f"{prefix}_naive_rate_{key}", plan["naive_rate"][key])
            put(f"{prefix}_lift_{key}", plan["lift_risk_over_exploration"][key])
    for index, band in enumerate(output["calibration"]["bands"]):
        put(f"calibration_band{index}_inspected", band["inspected"])
        put(f"calibration_band{index}_predicted", band["predicted"])
        put(f"calibration_band{index}_observed", band["observed"])
    for row in output["drift"]:
        put(f"psi_{row['feature']}", row["psi"])
    put("psi_flagged_features", sum(row["flagged"] for row in output["drift"]))
    put("no_history_share_current", output["no_history_share"]["current"])
    put("no_history_share_reference", output["no_history_share"]["reference"])
    put("new_labelled_inspections", output["new_labelled_inspections"])
    put("model_age_days", output["model_age_days"])
    put("retrain_recommended", output["retrain_recommended"])
    return metrics
