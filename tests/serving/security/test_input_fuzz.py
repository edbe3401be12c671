"""Every query and path parameter of every route, fuzzed, on SQLite and PostgreSQL.

The routes come from the app's own route table, so a route added later is fuzzed without
a change here: each GET operation's path parameters and documented query parameters (and,
for the pages, every query parameter a page reads) get NUL characters, huge and
non-finite numbers, calendar edges and long text. No answer may be a 5xx; a NUL is a 422
naming the field; the API answers problem details. The what-if bodies (API and page) get
the non-finite numbers the attack sent.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from data.settings import Settings
from serving.app import create_app
from tests.serving.security.conftest import Secured
from tests.serving.signing_in import sign_in

NUL_VALUES = ("\x00", "9-99-001-01-ZZ\x0000001")
HOSTILE_VALUES = (
    "99999999999999", "2147483648", "-2147483649", "9" * 400, "1e999", "-1e999", "NaN",
    "inf", "1.5e3", "-0", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "0000-00-00", "2024-02-30", "2024-13-01T25:61:61Z", "", " ", "x" * 3000, "%",
    "' OR 1=1 --", "\u00e9\u2028\ufeff",
)
#: The values a page's hand-read parameters get (each page reads them with the same few
#: helpers; the whole set above costs a second per page route and store).
PAGE_VALUES = ("99999999999999", "9" * 400, "1e999", "NaN", "-1", "0001-01-01T00:00:00+01:00",
               "2024-02-30", "x" * 3000)
#: Query parameters the pages read from the query string themselves (not declared in
#: the route table): every page route gets each of them.
PAGE_PARAMETERS = ("division", "state", "license_type", "min_score", "sort", "page",
                   "per_page", "plan", "rows", "next", "since", "until", "as_of", "list")
#: A value that passes each path parameter, so the others can be fuzzed one at a time.
_VALID_PATH = {"license_number": "9-99-000-01-ZZ-00000", "list_id": "2", "plan_id": "1",
               "name": "admin"}


def _get_operations() -> list[tuple[str, bool, tuple[str, ...], tuple[str, ...]]]:
    """(path, is API, path parameters, query parameters) of every GET route."""
    app = create_app(Settings())
    operations = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or "GET" not in (context.methods or ()):
            continue
        path = str(context.path)
        api = path.startswith("/api/") or path in ("/healthz", "/readyz")
        query = [param.alias for param in route.dependant.query_params]
        query += [str(p["name"]) for p in (route.openapi_extra or {}).get("parameters", [])
                  if p.get("in") == "query"]
        if not api:
            query += PAGE_PARAMETERS
        operations.append((path, api, tuple(re.findall(r"{(\w+)}", path)),
                           tuple(dict.fromkeys(query))))
    return operations


OPERATIONS = _get_operations()


@pytest.fixture
def admin_browser(secured: Secured) -> TestClient:
    # Signed in afresh for each test: fuzzing /logout ends the session on the server.
    browser = TestClient(secured.client.app, follow_redirects=False)
    assert sign_in(browser, secured.tokens["admin"]).status_code == 303
    return browser


def _url(path: str, values: dict[str, str]) -> str:
    for name in re.findall(r"{(\w+)}", path):
        path = path.replace("{" + name + "}", quote(values.get(name, _VALID_PATH.get(name, "x")),
                                                    safe=""))
    return path


def _check(answer: Any, api: bool, where: str) -> None:
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
    if api and answer.status_code >= 400:
        assert answer.headers["content-type"] == "application/problem+json", where


@pytest.mark.parametrize(("path", "api", "path_parameters", "query_parameters"), OPERATIONS,
                         ids=[operation[0] for operation in OPERATIONS])
def test_no_parameter_value_gives_a_5xx(
    secured: Secured, admin_browser: TestClient, path: str, api: bool,
    path_parameters: tuple[str, ...], query_parameters: tuple[str, ...],
) -> None:
    client = secured.client if api else admin_browser
    headers = secured.headers("admin") if api else {}
    for name in path_parameters:
        for value in NUL_VALUES:
            answer = client.get(_url(path, {name: value}), headers=headers)
            assert answer.status_code == 422, (path, name, answer.text[:300])
            if api:
                assert [error["field"] for error in answer.json()["errors"]] == [name]
        for value in HOSTILE_VALUES:
            if value in ("", "%") or len(value) > 1000:
                continue  # an empty segment is another path; "%" alone is not a URL
            answer = client.get(_url(path, {name: value}), headers=headers)
            _check(answer, api, f"{path} {name}={value[:40]!r}")
    for name in query_parameters:
        hand_read = not api and name in PAGE_PARAMETERS
        for value in NUL_VALUES[:1] if hand_read else NUL_VALUES:
            answer = client.get(_url(path, {}), params={name: value}, headers=headers)
            assert answer.status_code == 422, (path, name, answer.text[:300])
            if api:
                assert [error["field"] for error in answer.json()["errors"]] == [name]
            else:
                assert name in answer.text
        for value in PAGE_VALUES if hand_read else HOSTILE_VALUES:
            answer = client.get(_url(path, {}), params={name: value}, headers=headers)
            _check(answer, api, f"{path} ?{name}={value[:40]!r}")
    if not api and path != "/logout":  # the session held: the pages were fuzzed signed in
        assert client.get("/dealers").status_code == 200


def test_the_route_table_covers_the_known_operations() -> None:
    # The fuzzing above follows the route table: it must see the routes of the attack.
    paths = {operation[0] for operation in OPERATIONS}
    assert {"/api/v1/dealers/ranked", "/api/v1/dealers/{license_number}",
            "/api/v1/dealers/{license_number}/explanation", "/api/v1/audit",
            "/api/v1/plans/{plan_id}", "/api/v1/lists/{list_id}/changes",
            "/dealers/{license_number}", "/dealers"} <= paths


@pytest.mark.parametrize("value", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_a_what_if_with_a_non_finite_number_is_a_422_naming_the_feature(
    secured: Secured, value: str,
) -> None:
    number = str(secured.client.app.state.holder.current.ranked.license_numbers[0])  # type: ignore[attr-defined]
    body = '{"license_number": "' + number + '", "changes": {"traces_3y": ' + value + "}}"
    answer = secured.client.post("/api/v1/score", content=body, headers={
        **secured.headers("supervisor"), "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["changes.traces_3y"]


@pytest.mark.parametrize("value", ["1e999", "-inf", "nan"])
def test_the_what_if_page_refuses_a_non_finite_number(
    secured: Secured, admin_browser: TestClient, value: str,
) -> None:
    number = str(secured.client.app.state.holder.current.ranked.license_numbers[0])  # type: ignore[attr-defined]
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin_browser.get("/dealers").text)
    assert csrf is not None
    answer = admin_browser.post(f"/dealers/{number}/what-if",
                                data={"traces_3y": value, "csrf": csrf.group(1)})
    assert answer.status_code == 422, answer.text[:300]
    assert "traces_3y" in answer.text


def test_audit_dates_and_cursors_out_of_range_are_422s_naming_the_field(
    secured: Secured,
) -> None:
    cases = {"since": ["0001-01-01T00:00:00+01:00", "1.5e3", "1700000000", "yesterday"],
             "until": ["9999-12-31T23:59:59-01:00", "1.5e3", "-1"],
             "cursor": ["2147483648", "99999999999", "-1", "1.5"]}
    for name, values in cases.items():
        for value in values:
            answer = secured.client.get("/api/v1/audit", params={name: value},
                                        headers=secured.headers("supervisor"))
            assert answer.status_code == 422, (name, value, answer.text)
            errors = answer.json()["errors"]
            assert [error["field"] for error in errors] == [name], errors
    out = secured.client.get("/api/v1/audit", params={"cursor": "2147483648"},
                             headers=secured.headers("supervisor")).json()
    assert out["detail"] == "cursor: Input should be less than or equal to 2147483647"
    fine = secured.client.get("/api/v1/audit", params={
        "since": "2020-01-01T00:00:00+01:00", "until": "2100-01-01", "cursor": "2147483647"},
        headers=secured.headers("supervisor"))
    assert fine.status_code == 200, fine.text


def test_a_nul_in_a_json_body_text_is_a_422(secured: Secured) -> None:
    answer = secured.client.post("/api/v1/users", headers=secured.headers("admin"), json={
        "name": "nul-division", "role": "inspector", "division": "Hou\x00ston"})
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["division"]
    answer = secured.client.post("/api/v1/score", headers=secured.headers("admin"), json={
        "license_number": "9-99\x00", "changes": {}})
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == ["license_number"]


def test_every_feature_formats_infinite_and_huge_values() -> None:
    # The what-if refuses non-finite numbers now; the formatter must not crash either way.
    from features.catalogue import FEATURE_NAMES, describe, format_value, get_feature

    for name in FEATURE_NAMES:
        feature = get_feature(name)
        assert format_value(feature, math.inf) == "infinite"
        assert format_value(feature, -math.inf) == "minus infinite"
        assert describe(name, 1e308)
