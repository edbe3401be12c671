"""``dealer-risk import ...``: a one-line summary on success, exit 2 and located errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from data.settings import get_settings
from data.store import open_store, table_counts
from tests.conftest import REAL_DATA_DIR

APRIL = REAL_DATA_DIR / "atf-ffl-list-2013-04-partial.txt"
REPORTS = REAL_DATA_DIR / "atf-inspection-reports-2015-2017.jsonl"

runner = CliRunner()


def _counts() -> dict[str, int]:
    engine = open_store(get_settings().database_url)
    try:
        return table_counts(engine)
    finally:
        engine.dispose()


def test_import_atf_ffl_list_loads_and_prints_one_summary_line(dealer_risk_home: Path) -> None:
    result = runner.invoke(app, ["import", "atf-ffl-list", str(APRIL)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "atf-ffl-list-2013-04-partial.txt: 2294 records read; "
        "dealers: 2293 inserted, 0 updated, 0 unchanged; 1 skipped, 0 noted"
    ]
    # The record cut off by the end of the file is named, with its line.
    assert "atf-ffl-list-2013-04-partial.txt:2296: record: cut off" in result.stderr
    assert _counts()["dealers"] == 2293
    assert (dealer_risk_home / "store.db").exists()


def test_import_atf_inspection_reports_loads_reports_and_licensees(
    dealer_risk_home: Path,
) -> None:
    result = runner.invoke(app, ["import", "atf-inspection-reports", str(REPORTS)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "atf-inspection-reports-2015-2017.jsonl: 1925 records read; "
        "inspections: 1924 inserted, 0 updated, 0 unchanged; "
        "dealers: 1912 inserted, 0 updated, 0 unchanged; 1 skipped, 8 noted"
    )
    counts = _counts()
    assert (counts["inspections"], counts["dealers"]) == (1924, 1912)


def test_a_bad_listing_exits_2_with_located_errors_and_loads_nothing(
    dealer_risk_home: Path, tmp_path: Path
) -> None:
    lines = APRIL.read_text(encoding="ascii").split("\n")[:6]
    fields = lines[4].split("\t")
    fields[10] = "ZZ"
    lines[4] = "\t".join(fields)
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n", encoding="ascii")

    result = runner.invoke(app, ["import", "atf-ffl-list", str(bad)])

    assert result.exit_code == 2
    assert "bad.txt:5: PREMISE_STATE: 'ZZ' is not" in result.stderr
    assert result.stdout == ""
    assert _counts()["dealers"] == 0


def test_a_missing_file_is_a_usage_error(dealer_risk_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "atf-inspection-reports", str(tmp_path / "no.jsonl")])
    assert result.exit_code == 2
