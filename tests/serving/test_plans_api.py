"""``/api/v1/plans`` and ``/api/v1/lists/{id}/changes``: answers, division limits, audit."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from planning.plans import PLAN_CSV_COLUMNS
from serving.changes import Movement, movements
from serving.plans import selection_path
from tests.serving.conftest import AS_OF, EARLIER_AS_OF, ServedHome


def _get(client: TestClient, served_home: ServedHome, user: str, url: str,
         **headers: str) -> Any:
    return client.get(url, headers={**served_home.headers(user), **headers})


def _audit(client: TestClient, served_home: ServedHome, user: str, action: str
           ) -> list[dict[str, Any]]:
    response = _get(client, served_home, "supervisor",
                    f"/api/v1/audit?user={user}&action={action}&limit=5")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_plans_lists_the_stored_plan_with_totals(client: TestClient,
                                                 served_home: ServedHome) -> None:
    body = _get(client, served_home, "supervisor", "/api/v1/plans").json()
    plan = body["items"][0]
    assert plan["plan_id"] == served_home.plan_id and plan["as_of"] == AS_OF
    totals = plan["totals"]
    assert 0 < totals["planned"] <= totals["capacity"]
    assert totals["planned"] == totals["risk"] + totals["exploration"]
    assert totals["coverage"] == pytest.approx(totals["planned"] / totals["eligible"])
    assert plan["field_division"] is None


def test_plans_for_a_division_inspector_show_that_division_only(
        client: TestClient, served_home: ServedHome) -> None:
    everyone = _get(client, served_home, "supervisor", "/api/v1/plans").json()["items"][0]
    houston = _get(client, served_home, "houston_inspector", "/api/v1/plans").json()
    plan = houston["items"][0]
    assert plan["field_division"] == "Houston"
    assert 0 < plan["totals"]["planned"] < everyone["totals"]["planned"]
    detail = _audit(client, served_home, "houston_inspector", "plans.read")[0]["detail"]
    assert detail["field_division"] == "Houston"


def test_a_plan_lists_rows_in_priority_order_with_names_ranks_and_reasons(
        client: TestClient, served_home: ServedHome) -> None:
    body = _get(client, served_home, "supervisor",
                f"/api/v1/plans/{served_home.plan_id}").json()
    assert (body["model_version"], body["as_of"]) == ("1", AS_OF)
    assert {d["field_division"] for d in body["divisions"]} == {"Houston", "Phoenix", "Columbus"}
    assert body["exclusions"] and body["total"] == len(body["items"])
    assert body["total"] == sum(d["planned"] for d in body["divisions"])
    keys = [(row["field_division"], row["priority"]) for row in body["items"]]
    assert keys == sorted(keys)
    paths = {row["selected_by"] for row in body["items"]}
    assert paths == {"risk", "exploration"}
    for row in body["items"]:
        assert row["business_name"] and row["rank"] >= 1 and 0 < row["selection_probability"] <= 1
        assert row["selection_path"] == selection_path(row["selected_by"],
                                                       row["selection_probability"])
    assert any(row["top_reasons"] for row in body["items"])


def test_a_plan_narrowed_to_a_division(client: TestClient, served_home: ServedHome) -> None:
    body = _get(client, served_home, "supervisor",
                f"/api/v1/plans/{served_home.plan_id}?field_division=Phoenix").json()
    assert {row["field_division"] for row in body["items"]} == {"Phoenix"}
    assert [d["field_division"] for d in body["divisions"]] == ["Phoenix"]
    assert body["plan"]["totals"]["planned"] == body["total"]


def test_a_division_inspector_never_sees_another_divisions_plan_rows(
        client: TestClient, served_home: ServedHome) -> None:
    url = f"/api/v1/plans/{served_home.plan_id}"
    body = _get(client, served_home, "houston_inspector", url).json()
    assert body["total"] > 0 and {row["field_division"] for row in body["items"]} == {"Houston"}
    assert [d["field_division"] for d in body["divisions"]] == ["Houston"]
    assert body["exclusions"] == [] and body["notes"] == []
    exported = _get(client, served_home, "houston_inspector", url, accept="text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows and {row["field_division"] for row in rows} == {"Houston"}
    other = _get(client, served_home, "houston_inspector", url + "?field_division=Phoenix")
    assert other.status_code == 403
    assert other.headers["content-type"] == "application/problem+json"


def test_a_plan_as_csv_has_the_plan_commands_columns(client: TestClient,
                                                     served_home: ServedHome) -> None:
    url = f"/api/v1/plans/{served_home.plan_id}?format=csv&field_division=Columbus"
    response = _get(client, served_home, "inspector", url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == PLAN_CSV_COLUMNS
    rows = list(reader)
    assert rows and {row["field_division"] for row in rows} == {"Columbus"}
    assert {row["plan_id"] for row in rows} == {str(served_home.plan_id)}
    assert {row["as_of"] for row in rows} == {AS_OF}
    audit = _audit(client, served_home, "inspector", "plan.export")[0]
    assert audit["detail"]["plan_id"] == served_home.plan_id
    assert audit["detail"]["returned"] == len(rows)


def test_a_plan_read_is_audited(client: TestClient, served_home: ServedHome) -> None:
    _get(client, served_home, "houston_inspector", f"/api/v1/plans/{served_home.plan_id}")
    row = _audit(client, served_home, "houston_inspector", "plan.read")[0]
    assert row["resource"] == f"/api/v1/plans/{served_home.plan_id}"
    assert row["detail"]["field_division"] == "Houston"


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/api/v1/plans/999999", 404, None),
    ("/api/v1/plans/0", 422, "plan_id"),
    ("/api/v1/plans/1?format=xml", 422, "format"),
    ("/api/v1/plans/1?division=Houston", 422, "division"),
    ("/api/v1/lists/999999/changes", 404, None),
    ("/api/v1/lists/2/changes?against=999999", 404, None),
    ("/api/v1/lists/1/changes", 404, None),  # the first list has no earlier one
    ("/api/v1/lists/2/changes?offset=-1", 422, "offset"),
    ("/api/v1/lists/2/changes?limit=1001", 422, "limit"),
    ("/api/v1/lists/2/changes?status=moved", 422, "status"),
])
def test_bad_plan_and_changes_requests_are_problems(
        client: TestClient, served_home: ServedHome, url: str, status: int,
        field: str | None) -> None:
    response = _get(client, served_home, "supervisor", url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_plans_need_a_token(client: TestClient, served_home: ServedHome) -> None:
    assert client.get(f"/api/v1/plans/{served_home.plan_id}").status_code == 401
    assert client.get("/api/v1/lists/2/changes").status_code == 401
    assert client.post("/api/v1/plans").status_code == 405  # stored plans are immutable


def test_changes_compare_with_the_list_before(client: TestClient,
                                             served_home: ServedHome) -> None:
    body = _get(client, served_home, "supervisor", "/api/v1/lists/2/changes?limit=1000").json()
    assert (body["list_id"], body["against_list_id"]) == (2, 1)
    assert (body["as_of"], body["against_as_of"]) == (AS_OF, EARLIER_AS_OF)
    assert {d["field_division"] for d in body["divisions"]} == {"Houston", "Phoenix", "Columbus"}
    assert body["total"] >= len(body["items"]) > 0
    listed = [row for row in body["items"] if row["status"] == "listed"]
    assert listed and all(row["rank_change"] == row["rank_before"] - row["rank_after"]
                          for row in listed)
    assert any(row["rank_change"] for row in listed)
    entered = {n for d in body["divisions"] for n in d["entered"]}
    flagged = {row["license_number"] for row in body["items"] if row["entered_top"]}
    assert flagged <= entered
    audit = _audit(client, served_home, "supervisor", "list.changes")[0]
    assert audit["detail"]["against"] == 1 and audit["detail"]["list_id"] == 2


def test_a_list_against_itself_changed_nothing(client: TestClient,
                                               served_home: ServedHome) -> None:
    body = _get(client, served_home, "supervisor",
                "/api/v1/lists/2/changes?against=2&limit=1000").json()
    assert body["items"] and all(row["status"] == "listed" and row["rank_change"] == 0
                                 for row in body["items"])
    assert all(not d["entered"] and not d["left"] for d in body["divisions"])


def test_changes_filter_and_page(client: TestClient, served_home: ServedHome) -> None:
    base = "/api/v1/lists/2/changes?against=1&field_division=Phoenix&status=listed"
    first = _get(client, served_home, "supervisor", base + "&limit=7").json()
    assert len(first["items"]) == 7 and first["next_offset"] == 7
    assert {row["field_division"] for row in first["items"]} == {"Phoenix"}
    assert {row["status"] for row in first["items"]} == {"listed"}
    second = _get(client, served_home, "supervisor", base + "&limit=7&offset=7").json()
    assert {r["license_number"] for r in first["items"]}.isdisjoint(
        r["license_number"] for r in second["items"])
    assert first["total"] == second["total"]


def test_changes_for_a_division_inspector_show_that_division_only(
        client: TestClient, served_home: ServedHome) -> None:
    body = _get(client, served_home, "houston_inspector",
                "/api/v1/lists/2/changes?limit=1000").json()
    assert body["items"] and {row["field_division"] for row in body["items"]} == {"Houston"}
    assert [d["field_division"] for d in body["divisions"]] == ["Houston"]
    other = _get(client, served_home, "houston_inspector",
                 "/api/v1/lists/2/changes?field_division=Phoenix")
    assert other.status_code == 403


def test_selection_path_in_plain_words() -> None:
    assert selection_path("risk", 1.0) == "chosen for its risk score"
    assert selection_path("exploration", 0.04) == (
        "drawn at random so the plan can measure itself (1 in 25 chance)")


def test_movements_from_ranks() -> None:
    moved = movements({"a": 1, "b": 5, "c": 7, "d": 9}, {"a": 3, "b": 2, "c": 7})
    assert moved == {"a": Movement("up", 2), "b": Movement("down", 3),
                     "c": Movement("same", 0), "d": Movement("new", 0)}
    assert moved["a"].text == "up 2 places" and moved["d"].text == "new on this list"


def test_comparison_cache_keeps_the_last_pairs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving import changes

    computed: list[tuple[int, int]] = []
    monkeypatch.setattr(changes, "read_score_list", lambda _engine, list_id: list_id)
    monkeypatch.setattr(changes, "compare_lists", lambda b, a, *_: computed.append((b, a)) or
                        (b, a))
    cache = changes.ComparisonCache(entries=2)
    for pair in [(1, 2), (1, 2), (2, 3), (3, 4), (1, 2)]:
        assert cache.get(None, *pair) == pair  # type: ignore[arg-type,comparison-overlap]
    assert computed == [(1, 2), (2, 3), (3, 4), (1, 2)]
