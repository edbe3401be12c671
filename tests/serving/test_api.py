"""Every endpoint through TestClient: answers, stamps, errors, pagination, CSV, audit."""

from __future__ import annotations

import csv
import io
import math

import pytest
from fastapi.testclient import TestClient

from features.catalogue import describe, get_feature
from serving.explain import explain_licensee, explanation_json
from serving.schemas import ExplanationPublic
from serving.state import ServingState
from tests.serving.conftest import AS_OF, ServedHome

RANKED = "/api/v1/dealers/ranked"


def _state(client: TestClient) -> ServingState:
    state = client.app.state.holder.current  # type: ignore[attr-defined]
    assert state is not None
    return state


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def assert_explanation_is_exact(body: dict[str, object]) -> None:
    """base_value + sum(shap_value) = raw_score (1e-6), and score = calibrated raw_score."""
    contributions = body["contributions"]
    assert isinstance(contributions, list)
    total = math.fsum(item["shap_value"] for item in contributions)
    assert abs(body["base_value"] + total - body["raw_score"]) <= 1e-6  # type: ignore[operator]
    assert abs(body["contributions_total"] - total) <= 1e-9  # type: ignore[operator]
    calibration = body["calibration"]
    assert isinstance(calibration, dict)
    expected = _sigmoid(calibration["slope"] * body["raw_score"] + calibration["intercept"])
    assert abs(body["score"] - expected) <= 1e-9  # type: ignore[operator]


def test_health_and_readiness_name_the_model(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model_version"] == "1"
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert (ready["model_version"], ready["as_of"], ready["champion_version"]) == ("1", AS_OF, "1")
    assert ready["list_id"] is not None


def test_ranked_list_is_in_rank_order_and_stamped(
    client: TestClient, served_home: ServedHome
) -> None:
    response = client.get(RANKED, params={"limit": 100}, headers=served_home.headers("inspector"))
    assert response.status_code == 200
    body = response.json()
    assert (body["model_version"], body["as_of"]) == ("1", AS_OF)
    items = body["items"]
    assert [item["rank"] for item in items] == list(range(1, 101))
    assert body["total"] == len(_state(client).ranked) and body["next_cursor"]
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    first = items[0]
    assert set(first) >= {"license_number", "business_name", "premise_city", "premise_state",
                          "score", "rank", "percentile", "top_reasons"}
    assert first["top_reasons"] and all(isinstance(text, str) for text in first["top_reasons"])
    assert response.headers["x-model-version"] == "1"


def test_ranked_list_filters(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("supervisor")
    params = {"field_division": "Houston", "state": "tx", "license_type": "01",
              "min_score": 0.05, "limit": 1000}
    body = client.get(RANKED, params=params, headers=headers).json()
    items = body["items"]
    assert items and body["total"] == len(items)
    for item in items:
        assert item["field_division"] == "Houston" and item["premise_state"] == "TX"
        assert item["license_type"] == "01" and item["score"] >= 0.05
    everything = client.get(RANKED, params={"limit": 1000}, headers=headers).json()
    assert body["total"] < everything["total"]


@pytest.mark.parametrize("params", [
    {"limit": 100}, {"limit": 1000}, {"field_division": "Phoenix", "limit": 250},
    {"state": "TX", "min_score": 0.02, "limit": 40}, {"license_type": "01", "limit": 7},
])
def test_pages_are_the_listed_items_exactly(
    client: TestClient, served_home: ServedHome, params: dict[str, object]
) -> None:
    # Two pages of each filter, against the list's items filtered here one by one.
    ranked = _state(client).ranked
    wanted = [
        item.model_dump(mode="json") for item in ranked.items
        if params.get("field_division") in (None, item.field_division)
        and params.get("state") in (None, item.premise_state)
        and params.get("license_type") in (None, item.license_type)
        and item.score >= float(params.get("min_score", 0.0))  # type: ignore[arg-type]
    ]
    headers = served_home.headers("supervisor")
    first = client.get(RANKED, params=params, headers=headers).json()
    second = client.get(RANKED, params={**params, "cursor": first["next_cursor"]},
                        headers=headers).json()
    limit = int(params["limit"])  # type: ignore[call-overload]
    assert first["items"] + second["items"] == wanted[:2 * limit]
    assert first["total"] == second["total"] == len(wanted)


def test_unknown_query_parameters_are_422_naming_them(
    client: TestClient, served_home: ServedHome
) -> None:
    # A misspelt filter must not quietly return the whole list.
    number = str(_state(client).ranked.license_numbers[0])
    headers = served_home.headers("admin")
    for path, params in [(RANKED, {"stat": "TX", "limit": 5}),
                         (f"/api/v1/dealers/{number}/explanation", {"verbose": "1"}),
                         ("/api/v1/audit", {"user": "x", "usr": "y"}),
                         ("/api/v1/models", {"all": "true"})]:
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 422, path
        unknown = [name for name in params if name not in ("limit", "user")]
        assert [error["field"] for error in response.json()["errors"]] == unknown, path


def test_cursor_pages_cover_the_list_once(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("inspector")
    seen: list[int] = []
    params: dict[str, object] = {"limit": 400, "field_division": "Phoenix"}
    while True:
        body = client.get(RANKED, params=params, headers=headers).json()
        seen += [item["rank"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == body["total"]


def test_bad_and_stale_cursors(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("inspector")
    bad = client.get(RANKED, params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in bad.json()["errors"]] == ["cursor"]
    stale = client.get(RANKED, params={"cursor": "00000000-10"}, headers=headers)
    assert stale.status_code == 409 and "start again" in stale.json()["detail"]


@pytest.mark.parametrize(("name", "value"), [("limit", 0), ("limit", 1001), ("min_score", 2),
                                             ("license_type", "x"), ("state", "Texas")])
def test_bad_parameters_are_422_naming_the_field(
    client: TestClient, served_home: ServedHome, name: str, value: object
) -> None:
    response = client.get(RANKED, params={name: value}, headers=served_home.headers("inspector"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["model_version"] == "1"
    assert [error["field"] for error in problem["errors"]] == [name]
    assert name in problem["detail"]


def test_csv_export_by_format_or_accept(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("inspector")
    as_json = client.get(RANKED, params={"limit": 5}, headers=headers).json()
    by_format = client.get(RANKED, params={"limit": 5, "format": "csv"}, headers=headers)
    by_accept = client.get(RANKED, params={"limit": 5},
                           headers={**headers, "Accept": "text/csv"})
    for response in (by_format, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [row["license_number"] for row in rows] == [
            item["license_number"] for item in as_json["items"]]
        assert {row["model_version"] for row in rows} == {"1"}
        assert {row["as_of"] for row in rows} == {AS_OF}
        assert float(rows[0]["score"]) == as_json["items"][0]["score"]
        assert rows[0]["reason_1"] == as_json["items"][0]["top_reasons"][0]


def test_a_kept_page_is_the_page_asked_for(client: TestClient, served_home: ServedHome) -> None:
    # A page asked for twice is kept for the state: by query string, the caller's
    # division and whether Accept asks for CSV. The same query must still answer each
    # caller and format with its own page, and a refused query must stay refused.
    state = _state(client)
    everyone, houston = served_home.headers("inspector"), served_home.headers(
        "houston_inspector")
    params = {"limit": 7, "min_score": 0.01}
    before = len(state.pages)
    answers = [client.get(RANKED, params=params, headers=everyone) for _ in range(3)]
    assert len(state.pages) == before + 1
    assert answers[2].content == answers[1].content == answers[0].content
    assert answers[2].headers["x-next-cursor"] == answers[0].headers["x-next-cursor"]
    first = answers[0].json()
    houston_division = {str(number) for number, division in zip(
        state.ranked.license_numbers, state.ranked.field_divisions, strict=True)
        if division == "Houston"}
    as_csv_headers = {**everyone, "Accept": "text/csv"}
    for _ in range(3):
        in_houston = client.get(RANKED, params=params, headers=houston).json()
        assert {item["license_number"] for item in in_houston["items"]} <= houston_division
        assert in_houston["items"] != first["items"]
        as_csv = client.get(RANKED, params=params, headers=as_csv_headers)
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert [row["license_number"] for row in csv.DictReader(io.StringIO(as_csv.text))
                ] == [item["license_number"] for item in first["items"]]
    assert len(state.pages) == before + 3
    # Another division asked for by a division-bound inspector: refused every time.
    for _ in range(3):
        refused = client.get(RANKED, params={**params, "field_division": "Phoenix"},
                             headers=houston)
        assert refused.status_code == 403
    for _ in range(3):
        assert client.get(RANKED, params={**params, "stat": "TX"},
                          headers=everyone).status_code == 422
    assert len(state.pages) == before + 3


def test_dealer_page(client: TestClient, served_home: ServedHome) -> None:
    state = _state(client)
    number = str(state.ranked.license_numbers[0])
    body = client.get(f"/api/v1/dealers/{number}", headers=served_home.headers("inspector")).json()
    assert (body["model_version"], body["as_of"]) == ("1", AS_OF)
    assert body["profile"]["license_number"] == number and body["profile"]["business_name"]
    assert body["current"]["rank"] == 1
    assert body["history"][0]["as_of"] == AS_OF and body["history"][0]["rank"] == 1
    dates = [row["inspection_date"] for row in body["recent_inspections"]]
    assert dates == sorted(dates, reverse=True)


def test_unknown_licensee_is_404(client: TestClient, served_home: ServedHome) -> None:
    headers = served_home.headers("admin")
    for path in ("/api/v1/dealers/0-00-000-00-XX-00000",
                 "/api/v1/dealers/0-00-000-00-XX-00000/explanation"):
        response = client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    what_if = client.post("/api/v1/score", headers=headers,
                          json={"license_number": "0-00-000-00-XX-00000", "changes": {}})
    assert what_if.status_code == 404


def test_explanation_is_exact_complete_and_in_plain_words(
    client: TestClient, served_home: ServedHome
) -> None:
    state = _state(client)
    number = str(state.ranked.license_numbers[3])
    response = client.get(f"/api/v1/dealers/{number}/explanation",
                          headers=served_home.headers("supervisor"))
    assert response.status_code == 200
    body = response.json()
    assert (body["model_version"], body["as_of"], body["rank"]) == ("1", AS_OF, 4)
    assert_explanation_is_exact(body)
    assert body["score"] == pytest.approx(state.ranked.scores[3], abs=1e-12)
    assert body["raw_score"] == pytest.approx(state.ranked.raw_scores[3], abs=1e-9)
    features = [item["feature"] for item in body["contributions"]]
    assert sorted(features) == sorted(state.bundle.features)
    sizes = [abs(item["shap_value"]) for item in body["contributions"]]
    assert sizes == sorted(sizes, reverse=True)
    for item in body["contributions"]:
        assert item["family"] == str(get_feature(item["feature"]).family)
        assert item["description"] == describe(item["feature"], item["value"])
        percentile = item["peer_percentile"]
        assert (percentile is None) == (item["value"] is None)
        assert percentile is None or 0 < percentile <= 100
    families = {family["family"]: family["shap_value"] for family in body["families"]}
    for family, value in families.items():
        parts = [i["shap_value"] for i in body["contributions"] if i["family"] == family]
        assert value == pytest.approx(math.fsum(parts), abs=1e-12)
    assert "slope" in body["calibration"] and "raw_score" in body["calibration"]["formula"]


def test_explanation_path_is_checked_after_the_token(
    client: TestClient, served_home: ServedHome
) -> None:
    path = f"/api/v1/dealers/{'9' * 33}/explanation"
    assert client.get(path).status_code == 401
    refused = client.get(path, headers=served_home.headers("supervisor"))
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["license_number"]


def test_the_invariant_holds_for_every_licensee(client: TestClient) -> None:
    # And every sentence (looked up from those written at load) is the catalogue's own.
    state = _state(client)
    for number in state.explanations.license_numbers:
        explanation = explain_licensee(state, str(number))
        assert explanation is not None
        assert_explanation_is_exact(explanation.model_dump())
        for item in explanation.contributions:
            assert item.description == describe(item.feature, item.value)


def test_the_fast_json_body_is_the_validated_model(client: TestClient) -> None:
    state = _state(client)
    for number in state.explanations.license_numbers[:50]:
        body = explanation_json(state, str(number))
        assert body is not None
        parsed = ExplanationPublic.model_validate_json(body)
        assert parsed == explain_licensee(state, str(number))


def test_what_if_scores_and_explains_a_change(client: TestClient, served_home: ServedHome) -> None:
    state = _state(client)
    number = str(state.ranked.license_numbers[0])
    headers = served_home.headers("supervisor")
    unchanged = client.post("/api/v1/score", headers=headers,
                            json={"license_number": number, "changes": {}}).json()
    assert_explanation_is_exact(unchanged)
    assert unchanged["score"] == pytest.approx(unchanged["current_score"], abs=1e-12)
    assert unchanged["rank_if_rescored"] == unchanged["current_rank"] == 1
    # Take away what makes this licensee risky: its top contributions.
    top = [item["feature"] for item in unchanged["contributions"][:3]
           if item["shap_value"] > 0]
    calm = dict.fromkeys(top, 0.0)
    changed = client.post("/api/v1/score", headers=headers,
                          json={"license_number": number, "changes": calm}).json()
    assert_explanation_is_exact(changed)
    assert changed["score"] < unchanged["score"]
    assert changed["rank_if_rescored"] > 1
    assert [change["feature"] for change in changed["changes"]] == top
    assert all(change["to_value"] == 0.0 for change in changed["changes"])
    unknown = client.post("/api/v1/score", headers=headers,
                          json={"license_number": number, "changes": {"shoe_size": 3}})
    assert unknown.status_code == 422
    assert [error["field"] for error in unknown.json()["errors"]] == ["changes.shoe_size"]


def test_models_show_metrics_beside_baselines_and_fairness(
    client: TestClient, served_home: ServedHome
) -> None:
    headers = served_home.headers("data_scientist")
    versions = client.get("/api/v1/models", headers=headers).json()
    assert versions["champion_version"] == "1" and versions["model_version"] == "1"
    assert [v["version"] for v in versions["versions"]] == ["1"]
    assert versions["versions"][0]["is_champion"] and versions["versions"][0]["is_serving"]
    current = client.get("/api/v1/models/current", headers=headers).json()
    assert (current["model_version"], current["as_of"]) == ("1", AS_OF)
    metrics = {row["metric"]: row for row in current["metrics"]}
    headline = metrics["precision_at_2pct"]
    assert headline["model"] is not None
    assert {"demand_letter_2", "random"} <= set(headline["baselines"])
    assert current["fairness"] and {"grouping", "group", "flags"} <= set(current["fairness"][0])
    assert {row["grouping"] for row in current["fairness"]} >= {"license_type"}
    assert current["calibration"]["slope"] > 0 and current["features"]


def test_problem_details_for_unknown_routes_and_methods(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_method = client.delete("/api/v1/dealers/ranked")
    assert wrong_method.status_code == 405 and "allow" in wrong_method.headers


def test_admin_creates_a_user_whose_token_works_at_once(
    client: TestClient, served_home: ServedHome
) -> None:
    admin = served_home.headers("admin")
    created = client.post("/api/v1/users", headers=admin,
                          json={"name": "api_made_inspector", "role": "inspector"})
    assert created.status_code == 201
    token = created.json()["token"]
    works = client.get(RANKED, params={"limit": 1},
                       headers={"Authorization": f"Bearer {token}"})
    assert works.status_code == 200
    again = client.post("/api/v1/users", headers=admin,
                        json={"name": "api_made_inspector", "role": "inspector"})
    assert again.status_code == 409
    listed = client.get("/api/v1/users", headers=admin).json()["items"]
    assert "api_made_inspector" in {user["name"] for user in listed}
    assert all("token" not in user for user in listed)
