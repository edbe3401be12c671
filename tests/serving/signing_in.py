"""Signing a test client in through the sign-in form, as a browser does.

The form carries a CSRF field bound to a cookie it sets (serving/pages/sessions.py), so a
client first opens the form, then posts it with that field.
"""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def login_csrf(client: TestClient | httpx.Client) -> str:
    """Open the sign-in form and return its CSRF field (its cookie stays in the client)."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    match = CSRF_FIELD.search(form.text)
    assert match is not None, "the sign-in form has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient | httpx.Client, token: str, next: str = "/dealers",
            ) -> httpx.Response:
    """Post the sign-in form with ``token`` the way a browser would; the answer."""
    csrf = login_csrf(client)
    return client.post("/login", data={"token": token, "next": next, "csrf": csrf},
                       follow_redirects=False)
