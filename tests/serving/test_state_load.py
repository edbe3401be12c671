"""Serving reads the stored list and never calls the model at load."""

from __future__ import annotations

import numpy as np
import pytest

from data.store import open_store
from models.bundle import ModelBundle
from models.estimator import RiskModel
from scoring.lists import latest_list, read_score_list
from serving.state import load_state
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
