"""Output a script can rely on: results on stdout, ``--quiet`` and ``--json``, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.cli.test_ingest_cli import TRACE_HEADER, _directory, _trace
from tests.homes import home_settings
from tests.serving.conftest import ServedHome, copy_home
from tests.serving.conftest import served_home as served_home  # the session fixture

runner = CliRunner()


def test_ingest_json_is_one_object_and_every_load_leaves_a_summary_report(
    dealer_risk_home: Path, tmp_path: Path,
) -> None:
    directory = _directory(tmp_path / "in", TRACE_HEADER + _trace(1) + _trace(2))
    result = runner.invoke(app, ["ingest", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.stdout)
    assert loaded["accepted"] is True and loaded["problems"] == 0
    assert {table["file"]: table["rows_valid"] for table in loaded["tables"]}["traces.csv"] == 2
    report = Path(loaded["summary_report"])
    assert report.parent == dealer_risk_home / "reports" and report.suffix == ".json"
    assert json.loads(report.read_text())["tables"] == loaded["tables"]

    # A rejected load leaves its summary too, naming the problems file beside it.
    bad = _directory(tmp_path / "bad", TRACE_HEADER + _trace(1).replace("pistol", "laser"))
    rejected = runner.invoke(app, ["ingest", str(bad), "--json"])
    assert rejected.exit_code == 2
    summary = json.loads(rejected.stdout)
    assert summary["accepted"] is False and summary["problems"] == 1
    assert Path(summary["problems_report"]).exists()
    assert len(list((dealer_risk_home / "reports").glob("ingest-*.json"))) == 2


def test_ingest_quiet_prints_only_the_result(dealer_risk_home: Path, tmp_path: Path) -> None:
    directory = _directory(tmp_path / "in", TRACE_HEADER + _trace(1))
    result = runner.invoke(app, ["ingest", str(directory), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loaded 4 valid row(s); summary: ")  # 2+1+1
    assert result.stderr == ""


def test_progress_without_a_terminal_only_when_asked(dealer_risk_home: Path,
                                                    tmp_path: Path) -> None:
    directory = _directory(tmp_path / "in", TRACE_HEADER + _trace(1))
    plain = runner.invoke(app, ["ingest", str(directory)])
    assert "\r" not in plain.stderr
    forced = runner.invoke(app, ["ingest", str(directory), "--progress"])
    assert forced.exit_code == 0, forced.output
    assert "\r" in forced.stderr  # tqdm's bar redraws in place


@pytest.fixture
def plan_home(served_home: ServedHome, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the session home (trained, promoted, scored, planned)."""
    copied = copy_home(served_home.home, tmp_path / "home")
    with home_settings(copied, patch=monkeypatch):
        yield copied


def test_plan_json_and_quiet_for_scripts(plan_home: Path, tmp_path: Path) -> None:
    from tests.serving.conftest import AS_OF

    quiet = runner.invoke(app, ["plan", "--as-of", AS_OF, "--out", str(tmp_path / "q.csv"),
                                "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.strip().isdigit() and quiet.stderr == ""
    result = runner.invoke(app, ["plan", "--as-of", AS_OF, "--out", str(tmp_path / "p.csv"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["plan_id"] == int(quiet.stdout) + 1 and plan["as_of"] == AS_OF
    assert plan["inspections"] == sum(d["capacity"] for d in plan["divisions"]) > 0
    assert plan["expected_serious"] > 0 and plan["out"] == str(tmp_path / "p.csv")


def test_monitor_quiet_prints_only_its_json(plan_home: Path) -> None:
    # The session home's plan is as of 2023-01-01; a year on, monitor has a plan to read.
    result = runner.invoke(app, ["monitor", "--as-of", "2024-01-01", "--quiet", "--no-log"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model_version"] == "1" and result.stderr == ""
