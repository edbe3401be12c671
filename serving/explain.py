"""Explanations and what-if scores, assembled from the state's precomputed arrays.

An explanation reads one row of arrays computed at load; only a what-if runs the model.
Either way ``base_value + sum(shap_value) == raw_score`` holds to 1e-6 (TreeSHAP on the
raw margin is exact, and ``models.explainer`` checks it), and ``score`` is the calibration
of ``raw_score``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic_core

from features.catalogue import describe
from features.pipelines.peers import percentile_among
from models.reasons import top_reason_texts
from serving.problems import ParameterError
from serving.schemas import (
    CalibrationPublic,
    ExplanationPublic,
    WhatIfPublic,
)
from serving.state import ServingState, contribution_orders

Floats = npt.NDArray[np.float64]


def _optional(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def calibration(state: ServingState) -> CalibrationPublic:
    """How the state's model maps raw_score to score."""
    calibrator = state.bundle.calibrator
    return CalibrationPublic(slope=calibrator.slope, intercept=calibrator.intercept,
                             description=calibrator.describe())


@functools.lru_cache(maxsize=16)
def _calibration_body(slope: float, intercept: float, description: str) -> dict[str, Any]:
    # One per model version; the answer's dict is shared, never mutated.
    return CalibrationPublic(slope=slope, intercept=intercept,
                             description=description).model_dump()


def _parts(
    state: ServingState, values: Floats, contributions: Floats, percentiles: Floats,
    order: npt.NDArray[np.int16] | None = None, sentences: list[str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """Contributions and family roll-ups as plain dicts, largest absolute value first.

    ``order`` and ``sentences`` are the row's precomputed column order and value sentences
    (computed here when absent, as for a what-if). Plain dicts, serialised or validated
    once with the whole answer: building 55 models one by one costs more than the rest of
    the request.
    """
    table = state.explanations
    if order is None:
        order = contribution_orders(contributions[np.newaxis, :], list(table.features))[0]
    names, families_of = table.features, table.families
    value_list, shap_list = values.tolist(), contributions.tolist()
    percentile_list = percentiles.tolist()
    if sentences is None:
        sentences = [describe(name, None if math.isnan(value) else value)
                     for name, value in zip(names, value_list, strict=True)]
    rows = []
    totals: dict[str, list[float]] = {}
    for column in order.tolist():
        name, family, shap_value = names[column], families_of[column], shap_list[column]
        value, percentile = value_list[column], percentile_list[column]
        rows.append({"feature": name, "family": family,
                     "value": None if value != value else value,  # NaN is unknown
                     "shap_value": shap_value, "description": sentences[column],
                     "peer_percentile": None if percentile != percentile else percentile})
        totals.setdefault(family, []).append(shap_value)
    sums: list[tuple[float, str, int]] = [
        (math.fsum(parts), family, len(parts)) for family, parts in totals.items()
    ]
    sums.sort(key=lambda item: (-abs(item[0]), item[1]))
    families = [{"family": family, "shap_value": total, "features": count}
                for total, family, count in sums]
    return rows, families, math.fsum(shap_list)


def _explanation(state: ServingState, license_number: str) -> dict[str, Any] | None:
    table = state.explanations
    row = table.positions.get(license_number)
    if row is None:
        return None
    sentences = table.sentences.of_row(table.sentence_codes[row].tolist())
    contributions, families, total = _parts(
        state, table.feature_values[row], table.contributions[row], table.peer_percentiles[row],
        table.orders[row], sentences)
    listed = state.ranked.positions.get(license_number)
    return {
        "model_version": state.model_version, "as_of": state.as_of,
        "license_number": license_number,
        "score": float(table.scores[row]), "raw_score": float(table.raw_scores[row]),
        "base_value": table.base_value, "contributions_total": total,
        "contributions": contributions, "families": families,
        "calibration": _calibration_body(state.bundle.calibrator.slope,
                                         state.bundle.calibrator.intercept,
                                         state.bundle.calibrator.describe()),
        "rank": int(state.ranked.ranks[listed]) if listed is not None else None,
        "percentile": float(state.ranked.percentiles[listed]) if listed is not None else None,
        # What speaks for the licensee, from its stored contributions: about 0.02 ms for
        # one row, where writing them for a whole list of 80,000 cost `score` 0.33 s.
        "lowering_reasons": top_reason_texts(
            table.contributions[row:row + 1], table.feature_values[row:row + 1],
            table.features, raises=False)[0],
    }


def explain_licensee(state: ServingState, license_number: str) -> ExplanationPublic | None:
    """The stored explanation of one licensee, or None when it is not scored."""
    body = _explanation(state, license_number)
    return None if body is None else ExplanationPublic.model_validate(body)


def explanation_json(state: ServingState, license_number: str) -> bytes | None:
    """:func:`explain_licensee` as the API's JSON body, or None when it is not scored.

    Serialised straight from plain data: validating the 55 contributions again on the way
    out doubled the request's cost under load, and the shape is fixed by construction
    (the tests hold it to ``ExplanationPublic`` and to the OpenAPI schema).
    """
    body = _explanation(state, license_number)
    return None if body is None else pydantic_core.to_json(body)


def _peer_percentiles(state: ServingState, row: int, values: Floats) -> Floats:
    """Peer percentiles of a changed row among the same license type's listed values.

    The changed licensee's new value replaces its old one among its peers, and the one
    definition of a peer percentile (``features.pipelines.peers``) ranks it there.
    """
    table = state.explanations
    peers = table.feature_values[table.license_types == table.license_types[row]]
    own = int((table.license_types[:row] == table.license_types[row]).sum())
    percentiles = np.full(values.size, np.nan)
    for column, value in enumerate(values.tolist()):
        if math.isnan(value):
            continue
        column_values = peers[:, column].copy()
        column_values[own] = value
        percentiles[column] = percentile_among(value, column_values)
    return percentiles


def what_if(
    state: ServingState, license_number: str, changes: Mapping[str, float | None]
) -> WhatIfPublic | None:
    """Score and explain a licensee with ``changes`` applied; None when it is not scored."""
    table = state.explanations
    row = table.positions.get(license_number)
    if row is None:
        return None
    column_of = {name: i for i, name in enumerate(table.features)}
    for name in changes:
        if name not in column_of:
            raise ParameterError(f"changes.{name}", f"not a feature of model version "
                                 f"{state.model_version}")
    values = table.feature_values[row].copy()
    for name, value in changes.items():
        values[column_of[name]] = math.nan if value is None else float(value)
    frame = pd.DataFrame([values], columns=list(table.features), index=[license_number])
    explanation = state.bundle.explain(frame)
    contributions = explanation.contributions[list(table.features)].to_numpy(dtype=float)[0]
    raw = float(explanation.raw_scores[0])
    score = float(state.bundle.calibrator.transform(np.asarray([raw]))[0])
    parts, families, total = _parts(state, values, contributions,
                                     _peer_percentiles(state, row, values))
    ranked = state.ranked
    others = ranked.license_numbers != license_number
    # The list orders by raw score, then license number; the changed licensee slots in.
    ahead = others & ((ranked.raw_scores > raw)
                      | ((ranked.raw_scores == raw) & (ranked.license_numbers < license_number)))
    listed = ranked.positions.get(license_number)
    return WhatIfPublic.model_validate({
        "model_version": state.model_version, "as_of": state.as_of,
        "license_number": license_number,
        "changes": [
            {"feature": name,
             "from_value": _optional(table.feature_values[row, column_of[name]]),
             "to_value": _optional(values[column_of[name]])}
            for name in changes
        ],
        "score": score, "raw_score": raw, "base_value": float(explanation.base_value),
        "contributions_total": total, "contributions": parts, "families": families,
        "calibration": calibration(state),
        "current_score": float(table.scores[row]),
        "current_raw_score": float(table.raw_scores[row]),
        "current_rank": int(ranked.ranks[listed]) if listed is not None else None,
        "rank_if_rescored": int(ahead.sum()) + 1,
    })
