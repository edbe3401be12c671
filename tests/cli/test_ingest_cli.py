"""``dealer-risk ingest DIR [--quarantine FILE]`` as the data contract describes it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.data.test_ingest_faults import FAULTS, write_fault

runner = CliRunner()

DEALERS = """\
license_number,license_type,business_name,premise_state
1-01-001-01-9Z-00001,01,Alpha Arms,TX
1-01-001-01-9Z-00002,02,Beta Pawn,NV
"""
TRACE_HEADER = (
    "trace_id,license_number,firearm_type,purchase_date,recovery_date,trace_date,recovery_country\n"
)
MULTIPLE_SALES = "report_id,license_number,report_date,form,firearm_count\n"
INSPECTIONS = (
    "inspection_id,license_number,inspection_date,inspection_type,outcome,violation_count\n"
    "I1,1-01-001-01-9Z-00001,2021-06-30,compliance,revocation,4\n"
)


def _trace(number: int, firearm_type: str = "pistol") -> str:
    return (
        f"T{number},1-01-001-01-9Z-0000{1 + number % 2},{firearm_type},"
        "2019-01-02,2020-03-04,2020-03-10,US\n"
    )


def _directory(root: Path, traces: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "dealers": DEALERS,
        "traces": traces,
        "multiple_sales": MULTIPLE_SALES,
        "inspections": INSPECTIONS,
    }
    for name, text in files.items():
        (root / f"{name}.csv").write_text(text)
    return root


def _status() -> dict[str, object]:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    status: dict[str, object] = json.loads(result.stdout)
    return status


def test_a_valid_directory_loads_and_prints_a_summary(
    dealer_risk_home: Path, tmp_path: Path
) -> None:
    directory = _directory(tmp_path / "in", TRACE_HEADER + _trace(1) + _trace(2))

    result = runner.invoke(app, ["ingest", str(directory)])

    assert result.exit_code == 0, result.output
    assert "traces.csv: 2 rows, 2 valid, 0 rejected, 2 inserted or changed" in result.stdout
    assert result.stderr == ""
    status = _status()
    assert (status["dealers"], status["traces"], status["inspections"]) == (2, 2, 1)


def test_a_rejected_input_exits_2_shows_50_problems_and_the_report_path(
    dealer_risk_home: Path, tmp_path: Path
) -> None:
    bad_traces = "".join(_trace(number, "cannon") for number in range(60))
    directory = _directory(tmp_path / "in", TRACE_HEADER + _trace(100) + bad_traces)

    result = runner.invoke(app, ["ingest", str(directory)])

    assert result.exit_code == 2
    shown = [line for line in result.stderr.splitlines() if line.startswith("traces.csv:")]
    assert len(shown) == 50
    assert shown[0] == (
        "traces.csv:3: firearm_type: 'cannon' is not one of pistol, revolver, rifle, "
        "shotgun, derringer, other"
    )
    assert "... and 10 more" in result.stderr
    report_line = next(line for line in result.stderr.splitlines() if "report: " in line)
    report = Path(report_line.split("report: ", 1)[1])
    assert report.parent == dealer_risk_home / "reports"
    assert len(report.read_text().splitlines()) == 60
    assert "rejected: nothing was applied to the store" in result.stderr
    assert _status()["traces"] == 0 and _status()["dealers"] == 0


def test_quarantine_loads_the_valid_rows_and_exits_0(
    dealer_risk_home: Path, tmp_path: Path
) -> None:
    directory = _directory(
        tmp_path / "in", TRACE_HEADER + _trace(1) + _trace(2, "cannon") + _trace(3)
    )
    quarantine = tmp_path / "rejected.csv"

    result = runner.invoke(app, ["ingest", str(directory), "--quarantine", str(quarantine)])

    assert result.exit_code == 0, result.output
    assert f"quarantined 1 row(s) to {quarantine}" in result.stdout
    assert _status()["traces"] == 2
    with quarantine.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["table"], row["line"], row["trace_id"]) == ("traces", "3", "T2")
    assert row["reasons"].startswith("firearm_type: 'cannon' is not one of")


@pytest.mark.parametrize("quarantine", [False, True], ids=["reject", "quarantine"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_input_that_once_crashed_is_rejected_with_one_line_per_problem(
    dealer_risk_home: Path,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    quarantine: bool,
) -> None:
    # The command on each store, as tests/data/test_ingest_faults.py loads it: exit 2,
    # except a row-level fault under --quarantine, whose row is quarantined (exit 0).
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", store_url)
    fault = FAULTS[name]()
    directory = write_fault(tmp_path / "in", fault.tables)
    options = ["--quarantine", str(tmp_path / "rejected.csv")] if quarantine else []

    result = runner.invoke(app, ["ingest", str(directory), *options])

    # Never a traceback: typer's exit, or none at all.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    loads = quarantine and not fault.whole_file
    assert result.exit_code == (0 if loads else 2)
    problems = [line for line in result.stderr.splitlines() if ".csv:" in line]
    assert problems == fault.problems
    if not loads:
        assert "rejected: nothing was applied to the store" in result.stderr
        assert _status()["dealers"] == 0
