"""The demo runs the main job end to end on the embedded default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from data.settings import get_settings
from data.store import open_store
from monitoring.results import monitor_results

runner = CliRunner()


def test_demo_generates_ingests_trains_promotes_scores_plans_and_creates_users(
    dealer_risk_home: Path,
) -> None:
    result = runner.invoke(app, ["demo", "--dealers", "1500", "--no-serve"])
    assert result.exit_code == 0, result.output
    tokens = re.findall(r"demo-(\w+)\s+(drk_\S+)", result.stdout)
    assert [role for role, _ in tokens] == ["inspector", "supervisor", "data_scientist", "admin"]
    assert "Demo ready" in result.stdout

    status = json.loads(runner.invoke(app, ["status"]).stdout)
    assert status["dealers"] == 1500 and status["traces"] > 0 and status["inspections"] > 0
    assert status["champion"] == "1"
    scores = pd.read_csv(dealer_risk_home / "demo" / "scores-2024-01-01.csv")
    assert scores["rank"].iloc[0] == 1 and len(scores) > 1000
    # An earlier list gives the pages a history; the plan comes from the newer one.
    assert (dealer_risk_home / "demo" / "scores-2023-07-03.csv").exists()
    plan = pd.read_csv(dealer_risk_home / "demo" / "plan-2024-01-01.csv")
    assert set(plan["selected_by"]) == {"risk", "exploration"}
    assert (plan["list_id"] == 2).all() and (plan["plan_id"] == 1).all()
    assert plan["selection_probability"].between(0, 1, inclusive="right").all()
    # The ingestion's summary is in reports/, as the README says.
    # Two ingestions: the world, then the plan's year of inspections drawn from its truth.
    summaries = list((dealer_risk_home / "reports").glob("ingest-*.json"))
    assert len(summaries) == 2
    assert all(json.loads(path.read_text())["accepted"] is True for path in summaries)
    # The cycle closes: monitored after the plan's year and grace period, result stored
    # for the pages, the public report written without any license number.
    assert "monitored as of 2025-03-31" in result.stdout
    engine = open_store(get_settings().database_url)
    with engine.connect() as db:
        stored = db.execute(select(monitor_results.c.as_of)).scalars().all()
    engine.dispose()
    assert [str(day)[:10] for day in stored] == ["2025-03-31"]
    report = dealer_risk_home / "demo" / "report-2025-03-31"
    assert (report / "index.html").exists() and list(report.glob("*.csv"))
    numbers = set(plan["license_number"])
    for path in report.iterdir():
        text = path.read_text(errors="replace")
        assert not any(number in text for number in numbers), path
    # MLflow's registration chatter stays out of the demo's output.
    assert "Successfully registered" not in result.output
    # The truth stays outside the ingested directory.
    assert (dealer_risk_home / "demo" / "world.truth.csv").exists()
    assert not any("truth" in path.name for path in (dealer_risk_home / "demo" / "world").iterdir())
