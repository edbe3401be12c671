"""Who may do what: 401 without a valid token, 403 below the needed role or outside a division."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serving.users import Role
from tests.serving.conftest import ServedHome

ROLE_USERS = ("inspector", "supervisor", "data_scientist", "admin")
#: (method, path, the least role allowed); {number} is a licensee on the list.
ENDPOINTS = [
    ("GET", "/api/v1/dealers/ranked?limit=2", Role.INSPECTOR),
    ("GET", "/api/v1/dealers/{number}", Role.INSPECTOR),
    ("GET", "/api/v1/dealers/{number}/explanation", Role.SUPERVISOR),
    ("POST", "/api/v1/score", Role.SUPERVISOR),
    ("GET", "/api/v1/audit?limit=2", Role.SUPERVISOR),
    ("GET", "/api/v1/models", Role.DATA_SCIENTIST),
    ("GET", "/api/v1/models/current", Role.DATA_SCIENTIST),
    ("POST", "/api/v1/models/reload", Role.DATA_SCIENTIST),
    ("GET", "/api/v1/users", Role.ADMIN),
]


def _call(client: TestClient, method: str, path: str, number: str,
          headers: dict[str, str]) -> int:
    url = path.format(number=number)
    if method == "POST" and url == "/api/v1/score":
        return client.post(url, headers=headers,
                           json={"license_number": number, "changes": {}}).status_code
    return client.request(method, url, headers=headers).status_code


def _houston_licensee(client: TestClient, division: str, inside: bool) -> str:
    state = client.app.state.holder.current  # type: ignore[attr-defined]
    for number, found in zip(state.ranked.license_numbers, state.ranked.field_divisions,
                             strict=True):
        if (found == division) == inside:
            return str(number)
    raise AssertionError("no such licensee in the planted world")


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS)
def test_each_role_gets_exactly_its_rights(
    client: TestClient, served_home: ServedHome, method: str, path: str, needed: Role
) -> None:
    number = _houston_licensee(client, "Houston", inside=True)
    for user in ROLE_USERS:
        status = _call(client, method, path, number, served_home.headers(user))
        expected = 200 if Role(user).allows(needed) else 403
        assert status == expected, f"{user} on {method} {path}: {status}"


@pytest.mark.parametrize(("method", "path", "needed"), ENDPOINTS)
def test_no_or_bad_token_is_401(
    client: TestClient, served_home: ServedHome, method: str, path: str, needed: Role
) -> None:
    number = _houston_licensee(client, "Houston", inside=True)
    for headers in ({}, {"Authorization": "Bearer drk_not-a-real-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        assert _call(client, method, path, number, headers) == 401


def test_401_says_how_to_authenticate(client: TestClient) -> None:
    response = client.get("/api/v1/dealers/ranked")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_division_inspector_sees_only_its_division(
    client: TestClient, served_home: ServedHome
) -> None:
    headers = served_home.headers("houston_inspector")
    page = client.get("/api/v1/dealers/ranked", params={"limit": 1000}, headers=headers).json()
    assert page["items"] and {item["field_division"] for item in page["items"]} == {"Houston"}
    same = client.get("/api/v1/dealers/ranked",
                      params={"limit": 5, "field_division": "Houston"}, headers=headers)
    assert same.status_code == 200
    other = client.get("/api/v1/dealers/ranked",
                       params={"limit": 5, "field_division": "Phoenix"}, headers=headers)
    assert other.status_code == 403
    inside = _houston_licensee(client, "Houston", inside=True)
    outside = _houston_licensee(client, "Houston", inside=False)
    assert client.get(f"/api/v1/dealers/{inside}", headers=headers).status_code == 200
    # Another division's licensee answers as an unknown one (docs/security.md).
    assert client.get(f"/api/v1/dealers/{outside}", headers=headers).status_code == 404


@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_only_admins_revoke_or_rotate_tokens(
    client: TestClient, served_home: ServedHome, action: str
) -> None:
    # An unknown user: nothing of the session home changes, whoever asks.
    path = f"/api/v1/users/nobody-at-all/{action}"
    for user in ROLE_USERS:
        status = client.post(path, headers=served_home.headers(user)).status_code
        assert status == (404 if user == "admin" else 403), f"{user} on {path}: {status}"
    assert client.post(path).status_code == 401
