"""Output a script can rely on: results on stdout, ``--quiet`` and ``--json``, reports."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.cli.test_ingest_cli import TRACE_HEADER, _directory, _trace

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
