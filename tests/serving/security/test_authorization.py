"""Authorisation by field division on every route, the audit log included, on both stores.

A supervisor limited to Houston must learn nothing about another division's licensees:
each route answers a Phoenix licensee exactly as it answers a license number that does
not exist (status and body, the number itself aside), and the audit log shows only the
rows about Houston.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.audit import read_audit_log, row_division
from tests.serving.security.conftest import Secured
from tests.serving.signing_in import sign_in

UNKNOWN = "0-00-000-00-XX-99999"


def _listed(secured: Secured, division: str) -> str:
    state = secured.client.app.state.holder.current  # type: ignore[attr-defined]
    for number, found in zip(state.ranked.license_numbers, state.ranked.field_divisions,
                             strict=True):
        if found == division:
            return str(number)
    raise AssertionError(f"no listed licensee in {division}")


def _page_client(secured: Secured, user: str) -> TestClient:
    own = TestClient(secured.client.app, follow_redirects=False)
    answer = sign_in(own, secured.tokens[user])
    assert answer.status_code == 303, answer.text
    return own


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return match.group(1) if match else ""


def _same_answer(hidden: httpx.Response, unknown: httpx.Response, hidden_number: str) -> None:
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.headers["content-type"] == unknown.headers["content-type"]
    assert hidden.text.replace(hidden_number, UNKNOWN) == unknown.text


def test_api_answers_another_divisions_licensee_as_an_unknown_one(secured: Secured) -> None:
    client, headers = secured.client, secured.headers("houston_supervisor")
    phoenix, houston = _listed(secured, "Phoenix"), _listed(secured, "Houston")
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/api/v1/dealers/{n}", None),
        ("GET", "/api/v1/dealers/{n}/explanation", None),
        ("POST", "/api/v1/score", lambda n: {"license_number": n, "changes": {}}),
    ]
    for method, path, body in routes:
        def call(number: str, method: str = method, path: str = path, body: Any = body
                 ) -> httpx.Response:
            return client.request(method, path.format(n=number), headers=headers,
                                  json=body(number) if body else None)

        assert call(houston).status_code == 200, path
        _same_answer(call(phoenix), call(UNKNOWN), phoenix)
    # An unrestricted supervisor still reads the Phoenix licensee.
    assert client.get(f"/api/v1/dealers/{phoenix}/explanation",
                      headers=secured.headers("supervisor")).status_code == 200


def test_pages_answer_another_divisions_licensee_as_an_unknown_one(secured: Secured) -> None:
    browser = _page_client(secured, "houston_supervisor")
    phoenix = _listed(secured, "Phoenix")
    for path in ("/dealers/{n}", "/dealers/{n}/what-if"):
        _same_answer(browser.get(path.format(n=phoenix)), browser.get(path.format(n=UNKNOWN)),
                     phoenix)
    csrf = _csrf(browser.get("/dealers"))  # the session's CSRF field (the sign-out form)
    assert csrf
    posted = [browser.post(f"/dealers/{number}/what-if", data={"csrf": csrf})
              for number in (phoenix, UNKNOWN)]
    _same_answer(*posted, phoenix)


def test_lists_and_plans_hold_only_the_callers_division(secured: Secured) -> None:
    client, headers = secured.client, secured.headers("houston_supervisor")
    page = client.get("/api/v1/dealers/ranked", params={"limit": 1000}, headers=headers)
    assert {item["field_division"] for item in page.json()["items"]} == {"Houston"}
    assert client.get("/api/v1/dealers/ranked", params={"field_division": "Phoenix"},
                      headers=headers).status_code == 403
    plans = client.get("/api/v1/plans", headers=headers).json()["items"]
    assert plans  # each store holds a plan
    for plan in plans:
        assert plan["field_division"] == "Houston"
        rows = client.get(f"/api/v1/plans/{plan['plan_id']}", headers=headers).json()
        assert {row["field_division"] for row in rows["items"]} <= {"Houston"}


def test_the_audit_log_shows_a_division_supervisor_only_their_division(
    secured: Secured,
) -> None:
    client = secured.client
    houston, phoenix = _listed(secured, "Houston"), _listed(secured, "Phoenix")
    everyone = secured.headers("supervisor")
    # Rows of every scope: a Phoenix licensee read, a Phoenix what-if, a Phoenix-filtered
    # and an unfiltered list (national), and the Houston supervisor's own reads.
    assert client.get(f"/api/v1/dealers/{phoenix}", headers=everyone).status_code == 200
    assert client.post("/api/v1/score", headers=everyone, json={
        "license_number": phoenix, "changes": {"traces_3y": 3}}).status_code == 200
    assert client.get("/api/v1/dealers/ranked", headers=everyone,
                      params={"field_division": "Phoenix", "limit": 3}).status_code == 200
    assert client.get("/api/v1/dealers/ranked", headers=everyone,
                      params={"limit": 3}).status_code == 200
    mine = secured.headers("houston_supervisor")
    assert client.get(f"/api/v1/dealers/{houston}/explanation", headers=mine).status_code == 200

    seen = client.get("/api/v1/audit", headers=mine, params={"limit": 1000})
    assert seen.status_code == 200
    items = seen.json()["items"]
    assert any(item["detail"].get("license_number") == houston for item in items)
    # No row about another division or of national scope, and no Phoenix number anywhere.
    stored = {row["event_id"]: row for row in read_audit_log(secured.engine, limit=100_000)}
    table = client.app.state.holder.current.explanations  # type: ignore[attr-defined]
    divisions = dict(zip(table.license_numbers, table.field_divisions, strict=True))
    assert all(row_division(stored[item["event_id"]]["detail"], divisions) == "Houston"
               for item in items)
    assert phoenix not in seen.text and '"Phoenix"' not in seen.text
    # Every Houston row of the log is there (nothing of theirs is held back either).
    houston_rows = [event for event, row in stored.items()
                    if row_division(row["detail"], divisions) == "Houston"]
    assert sorted(item["event_id"] for item in items) == sorted(houston_rows)[-1000:]
    # An unrestricted supervisor sees the Phoenix and the national rows.
    full = client.get("/api/v1/audit", headers=everyone, params={"limit": 1000}).text
    assert phoenix in full and '"Phoenix"' in full


def test_a_division_supervisors_audit_pages_follow_on_to_the_end(
    secured: Secured, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a small scan per page, pages may come back short; following next_cursor
    # still reaches every Houston row, and only those.
    from serving import audit

    monkeypatch.setattr(audit, "AUDIT_SCAN_ROWS", 7)
    client, mine = secured.client, secured.headers("houston_supervisor")
    houston = _listed(secured, "Houston")
    for _ in range(3):
        assert client.get(f"/api/v1/dealers/{houston}", headers=mine).status_code == 200
    collected: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/audit", headers=mine, params=params).json()
        assert len(page["items"]) <= 2
        collected += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    monkeypatch.undo()
    whole = client.get("/api/v1/audit", headers=mine, params={"limit": 1000}).json()["items"]
    assert [item["event_id"] for item in collected] == [item["event_id"] for item in whole]
    assert all(json.dumps(item).count("Phoenix") == 0 for item in collected)


def test_a_division_supervisors_plan_overview_holds_only_their_division(
        secured: Secured) -> None:
    everyone = _page_client(secured, "supervisor").get("/plans")
    houston = _page_client(secured, "houston_supervisor").get("/plans")
    assert everyone.status_code == houston.status_code == 200
    division_rows = re.compile(r'<th scope="row">([^<]+)</th>')
    assert {"Houston", "Phoenix"} <= set(division_rows.findall(everyone.text))
    assert set(division_rows.findall(houston.text)) == {"Houston"}
    assert "a collector" in everyone.text and "a collector" not in houston.text
