"""Serving reads the stored list and never calls the model at load."""

from __future__ import annotations

import numpy as np
import pytest

import serving.state
from data.store import open_store
from features.catalogue import describe
from models.bundle import ModelBundle
from models.estimator import RiskModel
from scoring.lists import latest_list, read_score_list
from serving.state import load_state, value_sentences
from tests.serving.conftest import ServedHome


def test_loading_the_state_reads_the_stored_list_without_calling_the_model(
    served_home: ServedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the model was called at load")

    for owner, method in ((ModelBundle, "explain"), (ModelBundle, "score"),
                          (RiskModel, "predict_raw"), (RiskModel, "predict_contributions")):
        monkeypatch.setattr(owner, method, refuse)
    settings = served_home.settings
    engine = open_store(settings.database_url)
    try:
        state = load_state(engine, settings.mlflow_tracking_uri, "1")
        listing = latest_list(engine, servable=True)
        assert listing is not None
        stored = read_score_list(engine, listing.list_id)
    finally:
        engine.dispose()
    assert (state.list_id, state.model_version, state.as_of) == (
        listing.list_id, "1", listing.as_of)
    assert state.notes == ()
    table = state.explanations
    np.testing.assert_array_equal(table.contributions, stored.contributions)
    np.testing.assert_array_equal(table.feature_values, stored.feature_values)
    assert table.base_value == stored.base_value
    assert list(state.ranked.license_numbers) == stored.rows["license_number"].tolist()
    assert state.synthetic_licensees == len(stored)


def test_value_sentences_are_the_catalogues_written_once_per_distinct_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = ["traces_3y", "time_to_crime_median_days_3y"]
    values = np.array([[12.0, np.nan], [0.0, 400.0], [12.0, np.nan], [1.0, 400.0]])
    written: list[tuple[str, object]] = []

    def counting(name: str, value: float | None) -> str:
        written.append((name, value))
        return describe(name, value)

    monkeypatch.setattr(serving.state, "describe", counting)
    sentences, codes = value_sentences(values, names)
    assert written == []  # nothing is written at load
    rows = [sentences.of_row(codes[row].tolist()) for row in range(len(values))]
    assert rows == [[describe(name, None if np.isnan(value) else value)
                     for name, value in zip(names, row, strict=True)] for row in values]
    # Each distinct value once: 12, 0, 1 and unknown, 400 (rows 0 and 2 repeat row 0's).
    assert sorted(written, key=str) == sorted(
        [("traces_3y", 12.0), ("traces_3y", 0.0), ("traces_3y", 1.0),
         ("time_to_crime_median_days_3y", None), ("time_to_crime_median_days_3y", 400.0)],
        key=str)
    assert rows[0][0] is rows[2][0]
