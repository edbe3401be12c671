"""The server answers while it loads: 503 with Retry-After, then 200 once the state is in."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from serving.app import create_app
from serving.state import ServingState, load_state
from tests.serving.conftest import ServedHome
from tests.serving.signing_in import sign_in


def test_every_route_answers_503_with_retry_after_until_the_state_loads(
    served_home: ServedHome,
) -> None:
    released = threading.Event()
    started = threading.Event()

    def waiting_loader(*args: Any) -> ServingState:
        started.set()
        assert released.wait(60), "the test never released the loader"
        return load_state(*args)

    app = create_app(served_home.settings, state_loader=waiting_loader)
    supervisor = served_home.headers("supervisor")
    with TestClient(app, follow_redirects=False) as client:
        try:
            assert started.wait(60)
            # The lifespan has finished although the loader is still waiting.
            assert client.get("/healthz").json()["model_version"] is None
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"] == "10"
            assert ready.headers["content-type"] == "application/problem+json"
            assert "still loading" in ready.json()["detail"]
            for method, path, body in [
                ("GET", "/api/v1/dealers/ranked", None),
                ("GET", "/api/v1/dealers/9-99-001-01-ZZ-00001", None),
                ("GET", "/api/v1/dealers/9-99-001-01-ZZ-00001/explanation", None),
                ("POST", "/api/v1/score", {"license_number": "9-99-001-01-ZZ-00001",
                                           "changes": {}}),
                ("GET", "/api/v1/models", None),
            ]:
                answer = client.request(method, path, json=body, headers={
                    **supervisor, **served_home.headers("data_scientist")}
                    if path == "/api/v1/models" else supervisor)
                assert answer.status_code == 503, path
                assert answer.headers["retry-after"] == "10", path
                assert answer.headers["content-type"] == "application/problem+json", path
                assert "still loading" in answer.json()["detail"], path
            # Authentication still comes first.
            assert client.get("/api/v1/dealers/ranked").status_code == 401
            # A page is a readable 503 page.
            assert sign_in(client, served_home.tokens["supervisor"]).status_code == 303
            page = client.get("/dealers")
            assert page.status_code == 503 and page.headers["retry-after"] == "10"
            assert page.headers["content-type"].startswith("text/html")
            assert "still loading" in page.text
        finally:
            released.set()
        assert app.state.holder.first_refresh_done.wait(60)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["model_version"] == "1"
        listed = client.get("/api/v1/dealers/ranked", params={"limit": 3}, headers=supervisor)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 3
