"""The demo runs the main job end to end on the embedded default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cli.main import app

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
    summaries = list((dealer_risk_home / "reports").glob("ingest-*.json"))
    assert len(summaries) == 1 and json.loads(summaries[0].read_text())["accepted"] is True
    # MLflow's registration chatter stays out of the demo's output.
    assert "Successfully registered" not in result.output
    # The truth stays outside the ingested directory.
    assert (dealer_risk_home / "demo" / "world.truth.csv").exists()
    assert not any("truth" in path.name for path in (dealer_risk_home / "demo" / "world").iterdir())
