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

from data.store import open_store
from features.io import load_tables
from models.bundle import ModelBundle
from models.calibration import PlattCalibrator
from models.registry import REGISTERED_MODEL_NAME, load_bundle, log_training_run, set_champion
from scoring.lists import store_score_list
from scoring.score import ScoredList, rankable_features, score_list
from serving.app import create_app
from serving.settings import ServingSettings
from tests.serving.conftest import AS_OF, ServedHome, copy_home, loaded_client
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


def score_version(home: ServedHome, version: str) -> ScoredList:
    """Score the home's world with ``version``, as `dealer-risk score` does.

    Called before the app starts: the columnar read opens the SQLite file with ADBC's own
    SQLite library, which must not hold the file while the app's connections do (see
    ``data.store.read``); `dealer-risk score` runs in its own process anyway.
    """
    engine = open_store(home.settings.database_url)
    try:
        bundle, _ = load_bundle(home.settings.mlflow_tracking_uri,
                                f"models:/{REGISTERED_MODEL_NAME}/{version}")
        day = dt.date.fromisoformat(AS_OF)
        tables = load_tables(engine, known_before=day)
        return score_list(rankable_features(tables, day), bundle, tables.dealers,
                          model_version=version, as_of=day)
    finally:
        engine.dispose()


def store_list(home: ServedHome, scored: ScoredList, calibration: str) -> int:
    """Store a scored list, as `dealer-risk score` does after scoring."""
    engine = open_store(home.settings.database_url)
    try:
        return store_score_list(engine, scored, model_name=REGISTERED_MODEL_NAME,
                                calibration=calibration, created_at=dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()


def test_reload_picks_up_a_promotion_at_once(second_version: tuple[ServedHome, str]) -> None:
    home, version = second_version
    scored = score_version(home, version)
    with loaded_client(create_app(home.settings)) as client:
        ranked = client.get("/api/v1/dealers/ranked", params={"limit": 50},
                            headers=home.headers("inspector")).json()
        assert ranked["model_version"] == "1"
        first_list = ranked["list_id"]
        set_champion(home.settings.mlflow_tracking_uri, version)
        # Without a reload (and long before the next poll) nothing changes.
        assert client.get("/readyz").json()["model_version"] == "1"
        assert client.post("/api/v1/models/reload",
                           headers=home.headers("supervisor")).status_code == 403
        reload = client.post("/api/v1/models/reload", headers=home.headers("data_scientist"))
        assert reload.status_code == 200
        body = reload.json()
        # Version 2 has no stored list yet: version 1's list keeps being served, labelled
        # as version 1's, and readiness says plainly why.
        assert (body["changed"], body["model_version"], body["champion_version"],
                body["list_id"]) == (True, "1", version, first_list)
        ready = client.get("/readyz").json()
        assert ready["model_version"] == "1" and ready["champion_version"] == version
        assert any(f"champion version {version} has no stored list" in note
                   for note in ready["notes"])
        same = client.get("/api/v1/dealers/ranked", params={"limit": 50},
                          headers=home.headers("inspector")).json()
        assert same["items"] == ranked["items"] and same["model_version"] == "1"

        # Once `score` stores version 2's list, a reload serves it.
        state = client.app.state.holder.current  # type: ignore[attr-defined]
        list_id = store_list(home, scored, state.bundle.calibrator.describe())
        assert list_id > first_list
        stored = client.post("/api/v1/models/reload",
                             headers=home.headers("data_scientist")).json()
        assert (stored["changed"], stored["model_version"], stored["list_id"]) == (
            True, version, list_id)
        assert client.get("/readyz").json()["notes"] == []
        again = client.get("/api/v1/dealers/ranked", params={"limit": 50},
                           headers=home.headers("inspector")).json()
        assert again["model_version"] == version and again["list_id"] == list_id
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
        unchanged = client.post("/api/v1/models/reload",
                                headers=home.headers("data_scientist")).json()
        assert unchanged["changed"] is False


def test_the_poll_picks_up_a_promotion_and_no_request_sees_a_mix(
    second_version: tuple[ServedHome, str],
) -> None:
    home, version = second_version
    scored = score_version(home, version)
    settings = ServingSettings(DEALER_RISK_HOME=home.home, DEALER_RISK_DATABASE_URL=None,  # type: ignore[call-arg]
                               MLFLOW_TRACKING_URI=None, DEALER_RISK_RELOAD_SECONDS=0.3)
    with loaded_client(create_app(settings)) as client:
        first = client.app.state.holder.current  # type: ignore[attr-defined]
        numbers = [str(n) for n in first.ranked.license_numbers[:20]]
        # Version 2's list is stored before it is promoted, so the promotion alone
        # changes what is served.
        store_list(home, scored, "shifted")
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
