"""``dealer-risk users add`` and an API with nothing to serve yet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app as cli_app
from data.settings import Settings, get_settings
from data.store import open_store
from serving import tables
from serving.app import create_app
from serving.users import Role, create_user, find_user, hash_token
from tests.serving.conftest import loaded_client

runner = CliRunner()


def test_users_add_prints_the_token_once_and_stores_only_its_hash(
    dealer_risk_home: Path,
) -> None:
    result = runner.invoke(cli_app, ["users", "add", "carol", "--role", "inspector",
                                     "--division", "Houston"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("drk_") and " " not in token
    engine = open_store(get_settings().database_url)
    with engine.connect() as connection:
        stored = connection.execute(select(tables.api_users)).mappings().one()
    assert stored["token_hash"] == hash_token(token) and token not in str(dict(stored))
    user = find_user(engine, token)
    assert user is not None and (user.name, user.role, user.division) == (
        "carol", Role.INSPECTOR, "Houston")
    listed = runner.invoke(cli_app, ["users", "list"])
    assert listed.stdout.strip() == "carol\tinspector\tHouston\tactive\t-"
    engine.dispose()


def test_users_add_refuses_a_taken_name_and_an_unknown_role(dealer_risk_home: Path) -> None:
    assert runner.invoke(cli_app, ["users", "add", "dave", "--role", "admin"]).exit_code == 0
    again = runner.invoke(cli_app, ["users", "add", "dave", "--role", "admin"])
    assert again.exit_code == 1 and "exists already" in again.output
    unknown = runner.invoke(cli_app, ["users", "add", "erin", "--role", "chief"])
    assert unknown.exit_code == 2


def test_without_champion_the_api_is_alive_but_not_ready(tmp_path: Path) -> None:
    settings = Settings(DEALER_RISK_HOME=tmp_path / "empty", DEALER_RISK_DATABASE_URL=None,  # type: ignore[call-arg]
                        MLFLOW_TRACKING_URI=None)
    engine = open_store(settings.database_url)
    _, token = create_user(engine, "early", Role.SUPERVISOR, None, dt.datetime.now(dt.UTC))
    engine.dispose()
    with loaded_client(create_app(settings)) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["model_version"] is None
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "champion" in ready.json()["detail"]
        assert ready.headers["content-type"] == "application/problem+json"
        listed = client.get("/api/v1/dealers/ranked",
                            headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 503 and listed.headers["retry-after"]
        # Authentication still comes first.
        assert client.get("/api/v1/dealers/ranked").status_code == 401
