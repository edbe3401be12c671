"""Schemathesis over the OpenAPI schema: no 5xx, every status and body as documented.

Examples per operation are bounded so the run stays within seconds. Requests carry an
admin token (every right) through schemathesis's auth hook, so the cases it sends on
purpose without one stay without one (and must get 401); an extra check holds every
explanation and what-if answer to the SHAP invariant.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from data.settings import Settings
from serving.app import create_app
from tests.serving.conftest import LOAD_TIMEOUT_SECONDS, ServedHome

MAX_EXAMPLES = 20

# The app exists at collection time so schemathesis can parametrize over its schema; it
# reads its settings only when its lifespan starts (on the first request), by which time
# the fixture below has pointed it at the session home. (schemathesis.pytest.from_fixture
# would be the natural way, but it touches a pytest attribute pytest 9 no longer has.)
APP = create_app(Settings())
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP
schema.location = "/openapi.json"


#: Licensees on the served list: generated requests name one of them half of the time, so
#: answers with a body (explanations, what-ifs) are checked, not only 404s.
LISTED: list[str] = []


#: The admin's Authorization header, once the fixture below has made it.
ADMIN: dict[str, str] = {}


@pytest.fixture(scope="session")
def admin_headers(served_home: ServedHome) -> dict[str, str]:
    """The admin's token, with the app pointed at the session home before it starts."""
    APP.state.settings = served_home.settings
    scores = pd.read_csv(served_home.home.parent / "scores.csv", nrows=20)
    LISTED[:] = scores["license_number"].astype(str).tolist()
    ADMIN.update(served_home.headers("admin"))
    return ADMIN


def _start_loaded() -> None:
    """Start the app's lifespan if it is not running and wait for its first state load.

    schemathesis starts the lifespan on a test's first request and ends it with the test;
    the state loads in the background (503 meanwhile), and the cases are about a loaded
    API.
    """
    with asgi.get_client(APP):  # entering starts the lifespan, leaving keeps it running
        pass
    assert APP.state.holder.first_refresh_done.wait(LOAD_TIMEOUT_SECONDS)


#: What the auth hook sets on cases made at collection, before the admin exists; the test
#: swaps it for the admin's header.
PENDING_ADMIN = "Bearer admin-token-made-by-the-fixture"


@schema.auth(refresh_interval=None)
class AdminAuth:
    """The admin's token on every case but those sent without credentials on purpose."""

    def get(self, _case: Any, _context: Any) -> str:
        return ADMIN.get("Authorization", PENDING_ADMIN)

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


@schema.parametrize()
# Derandomized and without the example database: every run (a fresh clone in CI
# included) sends the same cases, so whether they reach an explanation is not luck.
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, admin_headers: dict[str, str]) -> None:
    if case.headers and case.headers.get("Authorization") == PENDING_ADMIN:
        case.headers["Authorization"] = admin_headers["Authorization"]
    _start_loaded()
    case.call_and_validate()


def test_schemathesis_reached_explanations() -> None:
    # Runs after the parametrized test above (same module, file order).
    assert {"/api/v1/dealers/{license_number}/explanation", "/api/v1/score"} <= set(EXPLAINED)
