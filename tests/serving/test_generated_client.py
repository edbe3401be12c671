"""A Python client generated from ``/openapi.json`` works and reads like the domain.

openapi-python-client (a dev dependency) generates the client from the running server's
schema into a temporary folder; the test imports it and calls the ranked list, an
explanation (additivity holds) and a plan through it, over real HTTP.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.conftest import AS_OF, ServedHome, Server, start_server, stop_server
from tests.serving.test_api import assert_explanation_is_exact

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "dealer_risk_api_client"


@pytest.fixture(scope="module")
def server(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_server(served_home.env(), tmp_path_factory.mktemp("client") / "serve.log")
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def generated(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated package's folder, on sys.path while the module's tests run."""
    folder = tmp_path_factory.mktemp("generated")
    schema = folder / "openapi.json"
    schema.write_bytes(httpx.get(f"{server.base_url}/openapi.json", timeout=10).content)
    config = folder / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none",
         "--output-path", str(folder / PACKAGE), "--config", str(config)],
        check=True, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def _api(module: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{module}")


def test_operation_ids_read_like_the_domain(generated: Path) -> None:
    # One module per resource, one function module per operation: tag, then handler.
    modules = {path.stem for path in (generated / PACKAGE / "api" / "dealers").glob("*.py")}
    assert {"dealers_ranked_list", "dealers_explanation", "dealers_dealer"} <= modules
    assert not any("api_v1" in name or name.endswith("_get") for name in modules)


def test_the_generated_client_lists_explains_and_plans(
    generated: Path, server: Server, served_home: ServedHome,
) -> None:
    client_module = importlib.import_module(PACKAGE)
    client = client_module.AuthenticatedClient(
        base_url=server.base_url, token=served_home.tokens["supervisor"], timeout=30)
    with client as http:
        page = _api("dealers.dealers_ranked_list").sync(client=http, limit=5)
        assert page is not None, "the list did not parse"
        assert (page.model_version, str(page.as_of)) == ("1", AS_OF)
        assert [item.rank for item in page.items] == [1, 2, 3, 4, 5]

        first = page.items[0].license_number
        explanation = _api("dealers.dealers_explanation").sync(license_number=first,
                                                               client=http)
        assert explanation is not None, "the explanation did not parse"
        body = explanation.to_dict()
        assert body["license_number"] == first
        assert_explanation_is_exact(body)
        assert body["score"] == page.items[0].score

        plan = _api("plans.plans_plan").sync(plan_id=served_home.plan_id, client=http)
        assert plan is not None, "the plan did not parse"
        assert plan.to_dict()["plan"]["plan_id"] == served_home.plan_id
        assert plan.total > 0 and len(plan.items) > 0
    # The server's log holds no migration chatter (alembic's INFO lines).
    assert "alembic" not in server.log.read_text()
