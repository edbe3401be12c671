"""The start page answers GET and HEAD (link checkers and uptime monitors send HEAD)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_home_redirects_to_the_list(client: TestClient, method: str) -> None:
    response = client.request(method, "/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dealers"
    assert response.content == b""
