"""Sessions end on the server; tokens can be revoked, rotated and expire; sign-in refuses
CSRF and cross-origin posts. On SQLite and PostgreSQL (``store_url``).

Each test runs an app on a store of its own with no champion (the user routes and the
sign-in form need none): a data route then answers 503 to an authenticated caller and 401
to anyone else, which tells the two apart without a model.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from cli.main import app as cli_app
from data.settings import Settings, get_settings
from data.store import open_store
from serving import tables
from serving.app import create_app
from serving.deps import TOKEN_CACHE_SECONDS
from serving.pages.sessions import COOKIE_NAME, LOGIN_COOKIE_NAME
from serving.users import Role, create_user
from tests.serving.conftest import loaded_client
from tests.serving.signing_in import CSRF_FIELD, login_csrf, sign_in

#: A route every role may call: 503 (no champion) once authenticated, else 401.
DATA_ROUTE = "/api/v1/dealers/ranked"
runner = CliRunner()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One empty MLflow store for the module's apps (made once: it takes a while)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


class Site:
    """An app on ``store_url`` and its store, with helpers to make users and clients."""

    def __init__(self, client: TestClient, engine: Engine, home: Path) -> None:
        self.client = client
        self.engine = engine
        self.home = home

    def user(self, name: str, role: Role = Role.INSPECTOR,
             expires_at: dt.datetime | None = None) -> str:
        _, token = create_user(self.engine, name, role, None, dt.datetime.now(dt.UTC),
                               expires_at)
        return token

    def browser(self) -> TestClient:
        """A client of the same app with a cookie jar of its own (lifespan already run)."""
        return TestClient(self.client.app, follow_redirects=False)

    def api(self, token: str, method: str = "GET", path: str = DATA_ROUTE,
            **options: object) -> object:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                   **options)  # type: ignore[arg-type]

    def signed_in(self, browser: TestClient) -> bool:
        """Whether ``browser``'s cookie names a live session (the form sends it on)."""
        answer = browser.get("/login", params={"next": "/somewhere"})
        return answer.status_code == 303 and answer.headers["location"] == "/somewhere"

    def audit(self, action: str) -> list[dict[str, object]]:
        log = tables.audit_log
        with self.engine.connect() as connection:
            rows = connection.execute(select(log).where(log.c.action == action)
                                      .order_by(log.c.event_id)).mappings().all()
        return [dict(row) for row in rows]


@pytest.fixture
def site(store_url: str, tmp_path: Path, tracking_uri: str,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    home = tmp_path / "home"
    monkeypatch.setenv("DEALER_RISK_HOME", str(home))
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", store_url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    get_settings.cache_clear()
    settings = Settings(DEALER_RISK_HOME=home, DEALER_RISK_DATABASE_URL=store_url,  # type: ignore[call-arg]
                        MLFLOW_TRACKING_URI=tracking_uri)
    engine = open_store(store_url)
    try:
        with loaded_client(create_app(settings), follow_redirects=False) as client:
            yield Site(client, engine, home)
    finally:
        engine.dispose()
        get_settings.cache_clear()


def _status(answer: object) -> int:
    return int(answer.status_code)  # type: ignore[attr-defined]


# --- sessions -----------------------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    token = site.user("carol")
    browser = site.browser()
    answer = sign_in(browser, token, next="/dealers")
    assert answer.status_code == 303 and answer.headers["location"] == "/dealers"
    cookie = browser.cookies[COOKIE_NAME]
    assert token not in cookie and site.signed_in(browser)
    with site.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.api_sessions)
                                  ).scalar() == 1
    assert browser.post("/logout").headers["location"].startswith("/login")
    # The browser forgot the cookie; someone who copied it before gets nowhere either.
    replay = site.browser()
    replay.cookies.set(COOKIE_NAME, cookie)
    assert not site.signed_in(replay)
    assert replay.get("/dealers").headers["location"].startswith("/login?next=")
    with site.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tables.api_sessions)
                                  ).scalar() == 0


def test_other_sessions_of_the_user_outlive_one_logout(site: Site) -> None:
    token = site.user("dora")
    laptop, phone = site.browser(), site.browser()
    assert sign_in(laptop, token).status_code == 303
    assert sign_in(phone, token).status_code == 303
    laptop.get("/logout")
    assert not site.signed_in(laptop) and site.signed_in(phone)


def test_forged_and_made_up_cookies_are_not_sessions(site: Site) -> None:
    token = site.user("erin")
    browser = site.browser()
    sign_in(browser, token)
    good = browser.cookies[COOKIE_NAME]
    for value in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
                  "s1_" + "A" * 43, "not-a-session", token, ""):
        other = site.browser()
        other.cookies.set(COOKIE_NAME, value)
        assert not site.signed_in(other), value


def test_a_session_ends_with_its_expiry(site: Site) -> None:
    token = site.user("fay")
    browser = site.browser()
    sign_in(browser, token)
    sessions = tables.api_sessions
    with site.engine.begin() as connection:
        connection.execute(sessions.update().values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert not site.signed_in(browser)


# --- revoking and rotating ----------------------------------------------------------------


def test_the_admin_api_revokes_a_token_and_its_sessions(site: Site) -> None:
    admin = site.user("root", Role.ADMIN)
    token = site.user("gina")
    browser = site.browser()
    sign_in(browser, token)
    assert _status(site.api(token)) == 503  # authenticated (nothing to serve yet)
    assert _status(site.api(token, "POST", "/api/v1/users/gina/revoke")) == 403
    answer = site.api(admin, "POST", "/api/v1/users/gina/revoke")
    assert _status(answer) == 200
    body = answer.json()  # type: ignore[attr-defined]
    assert body["status"] == "revoked" and body["revoked_at"] and "token" not in body
    refused = site.api(token)
    assert _status(refused) == 401  # at once: this process forgot the cached token
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'  # type: ignore[attr-defined]
    assert "revoked" in refused.json()["detail"]  # type: ignore[attr-defined]
    assert not site.signed_in(browser)
    again = site.browser()
    refused_form = sign_in(again, token)
    assert refused_form.status_code == 401 and "revoked" in refused_form.text
    (row,) = site.audit("users.revoke")
    assert row["user_name"] == "root" and json.loads(str(row["detail"]))["name"] == "gina"
    listed = site.api(admin, "GET", "/api/v1/users").json()  # type: ignore[attr-defined]
    assert {u["name"]: u["status"] for u in listed["items"]} == {"root": "active",
                                                                  "gina": "revoked"}
    assert _status(site.api(admin, "POST", "/api/v1/users/nobody/revoke")) == 404


def test_the_admin_api_rotates_a_token(site: Site) -> None:
    admin = site.user("root", Role.ADMIN)
    lifetime = dt.timedelta(days=7)
    old = site.user("hal", expires_at=dt.datetime.now(dt.UTC) + lifetime)
    browser = site.browser()
    sign_in(browser, old)
    answer = site.api(admin, "POST", "/api/v1/users/hal/rotate")
    assert _status(answer) == 200
    body = answer.json()  # type: ignore[attr-defined]
    new = body["token"]
    assert new != old and new.startswith("drk_")
    # The new token lives as long as the old one did, counted from now.
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (dt.datetime.now(dt.UTC) + lifetime)) < dt.timedelta(minutes=1)
    assert _status(site.api(old)) == 401 and _status(site.api(new)) == 503
    assert not site.signed_in(browser)
    # A lifetime given with the rotation wins; a revoked user gets access back.
    site.api(admin, "POST", "/api/v1/users/hal/revoke")
    answer = site.api(admin, "POST", "/api/v1/users/hal/rotate", json={"expires_in_days": 2})
    assert _status(answer) == 200
    body = answer.json()  # type: ignore[attr-defined]
    assert body["status"] == "active" and _status(site.api(body["token"])) == 503
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
               ) < dt.timedelta(minutes=1)
    assert [json.loads(str(r["detail"]))["name"] for r in site.audit("users.rotate")] == [
        "hal", "hal"]
    assert all("token" not in str(r["detail"]) for r in site.audit("users.rotate"))


def test_the_command_line_revokes_and_rotates_with_audit_rows(site: Site) -> None:
    token = site.user("ivan")
    # A shorter bound than TOKEN_CACHE_SECONDS keeps the test short; the same code path.
    site.client.app.state.token_cache.seconds = bound = min(TOKEN_CACHE_SECONDS, 1.0)  # type: ignore[attr-defined]
    browser = site.browser()
    sign_in(browser, token)
    assert _status(site.api(token)) == 503  # now cached by the app
    revoked = runner.invoke(cli_app, ["users", "revoke", "ivan"])
    assert revoked.exit_code == 0, revoked.output
    # The page session ends at once; the API forgets the cached token within its bound.
    assert not site.signed_in(browser)
    time.sleep(bound + 0.2)
    assert _status(site.api(token)) == 401
    rotated = runner.invoke(cli_app, ["users", "rotate", "ivan", "--expires-in", "12h"])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("drk_") and rotated.stdout.count(new) == 1
    assert _status(site.api(new)) == 503 and _status(site.api(token)) == 401
    listed = runner.invoke(cli_app, ["users", "list"]).stdout
    assert listed.startswith("ivan\tinspector\t-\tactive\t")
    actions = [(r["action"], r["role"], r["resource"]) for r in
               site.audit("users.revoke") + site.audit("users.rotate")]
    assert actions == [("users.revoke", "cli", "dealer-risk users revoke ivan"),
                       ("users.rotate", "cli", "dealer-risk users rotate ivan")]
    assert all(str(r["user_name"]).startswith("cli:") for r in site.audit("users.rotate"))


@pytest.mark.parametrize(("args", "code", "words"), [
    (["users", "revoke", "nobody"], 1, "there is no user named 'nobody'"),
    (["users", "rotate", "nobody"], 1, "there is no user named 'nobody'"),
    (["users", "add", "kim", "--role", "inspector", "--expires-in", "soon"], 2,
     "token lifetime 'soon'"),
    (["users", "add", "kim", "--role", "inspector", "--expires-in", "0d"], 2,
     "more than zero"),
    (["users", "add", "kim", "--role", "inspector", "--expires-in", "99999w"], 2,
     "at most 3660 days"),
    (["users", "add", "kim", "--role", "inspector", "--expires", "2001-01-01"], 2,
     "is not in the future"),
    (["users", "add", "kim", "--role", "inspector", "--expires", "2999-01-01",
      "--expires-in", "1d"], 2, "not both"),
    (["users", "add", "k m", "--role", "inspector"], 2, "user name 'k m'"),
])
def test_command_line_errors_are_one_line(site: Site, args: list[str], code: int,
                                          words: str) -> None:
    result = runner.invoke(cli_app, args)
    assert result.exit_code == code, result.output
    assert result.stderr.strip().count("\n") == 0 and words in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- expiry -------------------------------------------------------------------------------


def test_an_expired_token_answers_401_saying_so(site: Site) -> None:
    expired = site.user("jo", expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    answer = site.api(expired)
    assert _status(answer) == 401
    problem = answer.json()  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert "expired on" in problem["detail"] and "users rotate" in problem["detail"]
    form = sign_in(site.browser(), expired)
    assert form.status_code == 401 and "expired on" in form.text
    assert COOKIE_NAME not in form.cookies


def test_a_cached_token_stops_at_its_expiry(site: Site) -> None:
    soon = site.user("kit", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5))
    browser = site.browser()
    sign_in(browser, soon)
    assert _status(site.api(soon)) == 503 and site.signed_in(browser)
    time.sleep(1.6)
    assert _status(site.api(soon)) == 401 and not site.signed_in(browser)


def test_the_admin_api_creates_tokens_that_expire(site: Site) -> None:
    admin = site.user("root", Role.ADMIN)
    answer = site.api(admin, "POST", "/api/v1/users",
                      json={"name": "lee", "role": "inspector", "expires_in_days": 30})
    assert _status(answer) == 201
    body = answer.json()  # type: ignore[attr-defined]
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
               ) < dt.timedelta(minutes=1)
    assert json.loads(str(site.audit("users.create")[0]["detail"]))["expires_at"]
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    answer = site.api(admin, "POST", "/api/v1/users",
                      json={"name": "max", "role": "inspector", "expires_at": at.isoformat()})
    assert _status(answer) == 201
    assert dt.datetime.fromisoformat(answer.json()["expires_at"]) == at  # type: ignore[attr-defined]
    # An offset is kept as the same moment (SQLite would otherwise drop it).
    east = at.astimezone(dt.timezone(dt.timedelta(hours=5)))
    answer = site.api(admin, "POST", "/api/v1/users",
                      json={"name": "nia", "role": "inspector", "expires_at": east.isoformat()})
    assert _status(answer) == 201
    listed = site.api(admin, "GET", "/api/v1/users").json()["items"]  # type: ignore[attr-defined]
    assert dt.datetime.fromisoformat(
        next(u for u in listed if u["name"] == "nia")["expires_at"]) == at
    for bad, field in (({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
                       ({"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at"),
                       ({"expires_at": "9999-12-31T23:59:59-01:00"}, "expires_at"),
                       ({"expires_in_days": 0}, "expires_in_days"),
                       ({"expires_in_days": 99999}, "expires_in_days"),
                       ({"expires_in_days": 2, "expires_at": at.isoformat()}, "expires_at")):
        answer = site.api(admin, "POST", "/api/v1/users",
                          json={"name": "ned", "role": "inspector", **bad})
        assert _status(answer) == 422, bad
        assert field in answer.text, answer.text  # type: ignore[attr-defined]


# --- sign-in CSRF -------------------------------------------------------------------------


def test_sign_in_needs_the_forms_csrf_field(site: Site) -> None:
    token = site.user("mia")
    browser = site.browser()
    assert browser.post("/login", data={"token": token}).status_code == 403
    csrf = login_csrf(browser)
    # The field of another browser's form (the attacker's own) does not go with this cookie.
    attacker = site.browser()
    theirs = login_csrf(attacker)
    refused = browser.post("/login", data={"token": token, "csrf": theirs})
    assert refused.status_code == 403 and COOKIE_NAME not in refused.cookies
    assert "sign-in form expired" in refused.text
    # Without its cookie the field is worth nothing either.
    bare = site.browser()
    assert bare.post("/login", data={"token": token, "csrf": csrf}).status_code == 403
    # The refusal is a fresh form (a new cookie and field); that one works.
    fresh = CSRF_FIELD.search(refused.text)
    assert fresh is not None and fresh.group(1) != csrf
    answer = browser.post("/login", data={"token": token, "csrf": fresh.group(1)})
    assert answer.status_code == 303 and COOKIE_NAME in answer.cookies
    cookie = answer.headers.get_list("set-cookie")
    assert any(c.startswith(f"{LOGIN_COOKIE_NAME}=") and "SameSite=strict" in c
               for c in cookie)


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver.evil.example"},
])
def test_sign_in_refuses_posts_from_other_sites(site: Site, headers: dict[str, str]) -> None:
    token = site.user("noa")
    browser = site.browser()
    csrf = login_csrf(browser)
    answer = browser.post("/login", data={"token": token, "csrf": csrf}, headers=headers)
    assert answer.status_code == 403 and "another site" in answer.text
    assert COOKIE_NAME not in answer.cookies


def test_sign_in_from_this_site_is_accepted(site: Site) -> None:
    token = site.user("ola")
    browser = site.browser()
    csrf = login_csrf(browser)
    answer = browser.post("/login", data={"token": token, "csrf": csrf}, headers={
        "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 303 and site.signed_in(browser)
