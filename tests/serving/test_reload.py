"""A promotion is picked up without a restart, and no request sees a half-loaded model.

These tests promote a second version, so they work on a copy of the session home. The
second version is the first one with its calibration shifted: the same ranking, different
scores, so a response mixing the two versions would show.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.io import load_tables
from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.registry import REGISTERED_MODEL_NAME, load_bundle, log_training_run, set_champion
from models.scoring import rankable_features, score_features, store_score_list
from serving.app import ServingSettings, create_app
from tests.serving.conftest import AS_OF, ServedHome, copy_home
from tests.serving.test_api import assert_explanation_is_exact

SHIFT = 0.5


@pytest.fixture
def second_version(served_home: ServedHome, tmp_path: Path) -> tuple[ServedHome, str]:
    """A copy of the home with version 2 (recalibrated version 1) registered, not promoted."""
    home = ServedHome(home=copy_home(served_home.home, tmp_path / "home"),
                      tokens=served_home.tokens)
    uri = home.settings.mlflow_tracking_uri
    bundle, _ = load_bundle(uri)
    shifted = ModelBundle(
        model=bundle.model,
        calibrator=PlattCalibrator(bundle.calibrator.slope, bundle.calibrator.intercept + SHIFT),
        catalogue=bundle.catalogue, metadata={**bundle.metadata, "experiment": "shifted"},
    )
    logged = log_training_run(uri, None, shifted, params={"as_of": AS_OF}, metrics={},
                              tags={"as_of": AS_OF, "experiment": "shifted"})
    return home, logged.version


def test_reload_picks_up_a_promotion_at_once(second_version: tuple[ServedHome, str]) -> None:
    home, version = second_version
    with TestClient(create_app(home.settings)) as client:
        ranked = client.get("/api/v1/dealers/ranked", params={"limit": 50},
                            headers=home.headers("inspector")).json()
        assert ranked["model_version"] == "1"
        set_champion(home.settings.mlflow_tracking_uri, version)
        # Without a reload (and long before the next poll) nothing changes.
        assert client.get("/readyz").json()["model_version"] == "1"
        assert client.post("/api/v1/models/reload",
                           headers=home.headers("supervisor")).status_code == 403
        reload = client.post("/api/v1/models/reload", headers=home.headers("data_scientist"))
        assert reload.status_code == 200
        body = reload.json()
        assert (body["changed"], body["model_version"], body["previous_model_version"]) == (
            True, version, "1")
        # Version 2 has no stored list yet: the list is computed at load, same as `score`.
        assert body["list_id"] is None and body["as_of"] == AS_OF
        again = client.get("/api/v1/dealers/ranked", params={"limit": 50},
                           headers=home.headers("inspector")).json()
        assert again["model_version"] == version and again["list_id"] is None
        # Same ranking (only the calibration moved), higher scores.
        assert [i["license_number"] for i in again["items"]] == [
            i["license_number"] for i in ranked["items"]]
        assert all(new["score"] > old["score"]
                   for new, old in zip(again["items"], ranked["items"], strict=True))
        number = again["items"][0]["license_number"]
        explanation = client.get(f"/api/v1/dealers/{number}/explanation",
                                 headers=home.headers("supervisor")).json()
        assert explanation["model_version"] == version
        assert_explanation_is_exact(explanation)
        assert explanation["score"] == pytest.approx(again["items"][0]["score"], abs=1e-12)

        # Once `score` stores version 2's list, a reload serves the stored list.
        state = client.app.state.holder.current  # type: ignore[attr-defined]
        engine = client.app.state.engine  # type: ignore[attr-defined]
        day = dt.date.fromisoformat(AS_OF)
        scores = score_features(rankable_features(load_tables(engine, known_before=day), day),
                                state.bundle)
        list_id = store_score_list(
            engine, scores, model_name=REGISTERED_MODEL_NAME, model_version=version,
            as_of=day, calibration=state.bundle.calibrator.describe(),
            created_at=dt.datetime.now(dt.UTC))
        stored = client.post("/api/v1/models/reload",
                             headers=home.headers("data_scientist")).json()
        assert (stored["changed"], stored["list_id"]) == (True, list_id)
        unchanged = client.post("/api/v1/models/reload",
                                headers=home.headers("data_scientist")).json()
        assert unchanged["changed"] is False


def test_the_poll_picks_up_a_promotion_and_no_request_sees_a_mix(
    second_version: tuple[ServedHome, str],
) -> None:
    home, version = second_version
    settings = ServingSettings(DEALER_RISK_HOME=home.home, DEALER_RISK_DATABASE_URL=None,  # type: ignore[call-arg]
                               MLFLOW_TRACKING_URI=None, DEALER_RISK_RELOAD_SECONDS=0.3)
    with TestClient(create_app(settings)) as client:
        first = client.app.state.holder.current  # type: ignore[attr-defined]
        numbers = [str(n) for n in first.ranked.license_numbers[:20]]
        calibrations = {"1": (first.bundle.calibrator.slope, first.bundle.calibrator.intercept)}
        answers: list[dict[str, object]] = []
        failures: list[str] = []
        stop = threading.Event()

        def hammer(offset: int) -> None:
            i = offset
            while not stop.is_set():
                number = numbers[i % len(numbers)]
                i += 1
                response = client.get(f"/api/v1/dealers/{number}/explanation",
                                      headers=home.headers("supervisor"))
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text}")
                else:
                    answers.append(response.json())

        workers = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(0.5)
            set_champion(home.settings.mlflow_tracking_uri, version)
            deadline = time.monotonic() + 60
            while client.get("/readyz").json()["model_version"] != version:
                assert time.monotonic() < deadline, "the poll did not pick up the promotion"
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        second = client.app.state.holder.current  # type: ignore[attr-defined]
        calibrations[version] = (second.bundle.calibrator.slope,
                                 second.bundle.calibrator.intercept)

    assert not failures, failures[:3]
    versions = {answer["model_version"] for answer in answers}
    assert versions == {"1", version}
    for answer in answers:
        assert_explanation_is_exact(answer)
        calibration = answer["calibration"]
        assert isinstance(calibration, dict)
        assert (calibration["slope"], calibration["intercept"]) == calibrations[
            str(answer["model_version"])]
