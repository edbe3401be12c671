"""Schemathesis over the OpenAPI schema, on SQLite and on PostgreSQL: no 5xx, every status
and body as documented, and no operation answering without a valid token.

Examples per operation are bounded so each run stays within seconds. Two kinds of run:

- **Conformance** (each store): requests carry an admin token (every right) through
  schemathesis's auth hook, so its ``ignored_auth`` check can take the token away or
  spoil it and must then get 401; its negative cases (bodies and parameters that break
  the schema, NUL characters included) must get 4xx; an extra check holds every
  explanation and what-if answer to the SHAP invariant.
- **Authentication negative cases** (each store): every generated case, valid or
  malformed, sent without a token and with a token that does not exist, must get 401 on
  every operation that declares the bearer scheme: the body is never parsed first.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from data.settings import Settings
from serving.app import create_app
from tests.serving.conftest import LOAD_TIMEOUT_SECONDS, ServedHome
from tests.serving.security.conftest import postgres_secured_home as postgres_secured_home
from tests.serving.security.conftest import postgres_store as postgres_store
from tests.serving.security.conftest import sqlite_secured_home as sqlite_secured_home

MAX_EXAMPLES = 20
#: Examples per operation of the anonymous runs (each case is sent twice).
ANONYMOUS_EXAMPLES = 8

# The apps exist at collection time so schemathesis can parametrize over their schema;
# each reads its settings only when its lifespan starts (on the first request), by which
# time a fixture below has pointed it at its store. (schemathesis.pytest.from_fixture
# would be the natural way, but it touches a pytest attribute pytest 9 no longer has.)
APPS = {"sqlite": create_app(Settings()), "postgres": create_app(Settings())}


def _schema(app: FastAPI) -> Any:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    schema.location = "/openapi.json"
    return schema


SCHEMAS = {store: _schema(app) for store, app in APPS.items()}
ANONYMOUS_SCHEMAS = {store: _schema(app) for store, app in APPS.items()}
for _anonymous_schema in ANONYMOUS_SCHEMAS.values():
    # Fuzzing only (valid and malformed cases alike): the coverage phase's every case per
    # operation is for the conformance run; here each case costs two requests.
    _anonymous_schema.config.phases.update(phases=["examples", "fuzzing"])

#: Licensees on the served list: generated requests name one of them half of the time, so
#: answers with a body (explanations, what-ifs) are checked, not only 404s.
LISTED: list[str] = []
#: The admin's Authorization header per store, once the fixtures below have made it.
ADMIN: dict[str, dict[str, str]] = {"sqlite": {}, "postgres": {}}


def _listed(home: ServedHome) -> None:
    if not LISTED:
        scores = pd.read_csv(home.home.parent / "scores.csv", nrows=20)
        LISTED[:] = scores["license_number"].astype(str).tolist()


@pytest.fixture(scope="session")
def sqlite_admin(served_home: ServedHome) -> dict[str, str]:
    """The admin's token, with the SQLite app pointed at the session home before it starts."""
    APPS["sqlite"].state.settings = served_home.settings
    _listed(served_home)
    ADMIN["sqlite"].update(served_home.headers("admin"))
    return ADMIN["sqlite"]


@pytest.fixture(scope="session")
def postgres_admin_headers(postgres_secured_home: ServedHome, postgres_store: str
                           ) -> dict[str, str]:
    """The admin's token, with the PostgreSQL app pointed at its store before it starts."""
    APPS["postgres"].state.settings = Settings(  # type: ignore[call-arg]
        DEALER_RISK_HOME=postgres_secured_home.home, DEALER_RISK_DATABASE_URL=postgres_store,
        MLFLOW_TRACKING_URI=None)
    _listed(postgres_secured_home)
    ADMIN["postgres"].update(postgres_secured_home.headers("admin"))
    return ADMIN["postgres"]


def _start_loaded(app: FastAPI) -> None:
    """Start the app's lifespan if it is not running and wait for its first state load.

    schemathesis starts the lifespan on a test's first request and ends it with the test;
    the state loads in the background (503 meanwhile), and the cases are about a loaded
    API.
    """
    with asgi.get_client(app):  # entering starts the lifespan, leaving keeps it running
        pass
    assert app.state.holder.first_refresh_done.wait(LOAD_TIMEOUT_SECONDS)


#: What the auth hook sets on cases made at collection, before the admin exists; the test
#: swaps it for the admin's header.
PENDING_ADMIN = "Bearer admin-token-made-by-the-fixture"


def _register_hooks(store: str) -> None:
    schema = SCHEMAS[store]

    @schema.auth(refresh_interval=None)
    class AdminAuth:
        """The admin's token on every case but those sent without credentials on purpose."""

        def get(self, _case: Any, _context: Any) -> str:
            return ADMIN[store].get("Authorization", PENDING_ADMIN)

        def set(self, case: Any, data: str, _context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        """Half of the positive cases name a listed licensee (negative ones stay as they are)."""
        positive = case.meta is not None and case.meta.generation.mode.is_positive
        if not LISTED or not positive:
            return st.just(case)
        if isinstance(case.path_parameters, dict) and "license_number" in case.path_parameters:
            field = "path_parameters"
        elif isinstance(case.body, dict) and "license_number" in case.body:
            field = "body"
        else:
            return st.just(case)

        def named(number: str) -> Any:
            setattr(case, field, {**getattr(case, field), "license_number": number})
            return case

        return st.one_of(st.just(case), st.sampled_from(LISTED).map(named))


for _store in SCHEMAS:
    _register_hooks(_store)


@schemathesis.check
def explanations_add_up(ctx: Any, response: Any, case: Any) -> bool | None:
    """base_value + sum(shap_value) = raw_score on every explanation the API gives."""
    if response.status_code != 200 or "contributions" not in response.text:
        return None
    body = response.json()
    if not isinstance(body, dict) or "contributions" not in body:
        return None  # another answer quoting the word: the audit log, say
    EXPLAINED.append(case.path)
    total = math.fsum(item["shap_value"] for item in body["contributions"])
    assert abs(body["base_value"] + total - body["raw_score"]) <= 1e-6, body
    return None


EXPLAINED: list[str] = []
# Derandomized and without the example database: every run (a fresh clone in CI
# included) sends the same cases, so whether they reach an explanation is not luck.
_BOUNDED = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
_ANONYMOUS = settings(max_examples=ANONYMOUS_EXAMPLES, deadline=None, derandomize=True,
                      database=None, suppress_health_check=list(HealthCheck))


#: Operations whose bodies have rules the schema cannot state (a token's expiry must lie in
#: the future), so a schema-valid body may rightly be a 422 there.
RULES_BEYOND_THE_SCHEMA = {"POST /api/v1/users", "POST /api/v1/users/{name}/rotate"}


#: Operations the conformance runs sent cases to, per store.
CONFORMED: dict[str, set[str]] = {"sqlite": set(), "postgres": set()}


def _conform(store: str, case: Any, admin: dict[str, str]) -> None:
    if case.headers and case.headers.get("Authorization") == PENDING_ADMIN:
        case.headers["Authorization"] = admin["Authorization"]
    _start_loaded(APPS[store])
    CONFORMED[store].add(case.operation.label)
    excluded = ([positive_data_acceptance] if case.operation.label in RULES_BEYOND_THE_SCHEMA
                else [])
    case.call_and_validate(excluded_checks=excluded)


@SCHEMAS["sqlite"].parametrize()
@_BOUNDED
def test_api_conforms_to_its_schema_on_sqlite(case: Any, sqlite_admin: dict[str, str]) -> None:
    _conform("sqlite", case, sqlite_admin)


@pytest.mark.postgres
@SCHEMAS["postgres"].parametrize()
@_BOUNDED
def test_api_conforms_to_its_schema_on_postgres(
    case: Any, postgres_admin_headers: dict[str, str],
) -> None:
    _conform("postgres", case, postgres_admin_headers)


def test_schemathesis_reached_explanations() -> None:
    # Runs after the parametrized tests above (same module, file order).
    assert {"/api/v1/dealers/{license_number}/explanation", "/api/v1/score"} <= set(EXPLAINED)


def _secured(case: Any) -> bool:
    """Whether the case's operation declares the bearer scheme (every /api/v1 one)."""
    return bool(case.operation.definition.raw.get("security"))


#: Operations seen by the anonymous runs, and how many of them declare the bearer scheme.
ANONYMOUS_SEEN: dict[str, set[str]] = {"sqlite": set(), "postgres": set()}


def _anonymous(store: str, case: Any) -> None:
    _start_loaded(APPS[store])
    ANONYMOUS_SEEN[store].add(case.operation.label)
    for authorization in (None, "Bearer drk_a-token-that-does-not-exist"):
        headers = {k: v for k, v in (case.headers or {}).items()
                   if k.lower() != "authorization"}
        if authorization:
            headers["Authorization"] = authorization
        case.headers = headers
        response = case.call()
        if case.method.upper() != case.operation.method.upper():
            assert response.status_code == 405, (case.operation.label, case.method)
        elif _secured(case):
            assert response.status_code == 401, (case.operation.label, authorization,
                                                  response.status_code, response.text[:300])
            assert response.headers.get("www-authenticate") == ["Bearer"]
            assert response.headers["content-type"] == ["application/problem+json"]
        else:
            assert response.status_code < 500, (case.operation.label, response.text[:300])


@ANONYMOUS_SCHEMAS["sqlite"].parametrize()
@_ANONYMOUS
def test_no_operation_answers_without_a_valid_token_on_sqlite(
    case: Any, sqlite_admin: dict[str, str],
) -> None:
    _anonymous("sqlite", case)


@pytest.mark.postgres
@ANONYMOUS_SCHEMAS["postgres"].parametrize()
@_ANONYMOUS
def test_no_operation_answers_without_a_valid_token_on_postgres(
    case: Any, postgres_admin_headers: dict[str, str],
) -> None:
    _anonymous("postgres", case)


def _operations(store: str) -> set[str]:
    return {result.ok().label for result in SCHEMAS[store].get_all_operations()}


def test_every_operation_was_fuzzed_in_both_kinds_of_run() -> None:
    # Runs last (file order). Under pytest-xdist this once failed: schemathesis's items
    # shared one node id, and only one operation per test was sent (see the conftest).
    assert len(_operations("sqlite")) >= 15
    for store in ("sqlite", "postgres"):
        if not CONFORMED[store] and not ANONYMOUS_SEEN[store]:
            assert store == "postgres", "the SQLite runs sent nothing"
            continue  # the PostgreSQL runs deselected (-m "not postgres")
        assert CONFORMED[store] == _operations(store), store
        assert ANONYMOUS_SEEN[store] == _operations(store), store
