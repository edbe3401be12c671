"""Importers of real formats: ATF's licensee listing and the inspection-report export.

The real files are read from the shared data folder, never copied into the project;
small variants (the underscore header style, bad rows) are written to ``tmp_path``.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from data.contract import LICENSE_NUMBER_PATTERN
from data.importers import (
    ImportRejected,
    county_fips,
    import_atf_ffl_list,
    import_atf_inspection_reports,
    map_outcome,
    parse_atf_ffl_list,
    parse_atf_inspection_reports,
)
from data.importers.atf_ffl_list import license_number
from data.importers.atf_inspection_reports import ReportError, normalise_violation_codes
from data.importers.common import WriteCounts, zip5
from data.importers.fips import STATE_FIPS
from data.store import open_store, schema, table_counts
from tests.conftest import REAL_DATA_DIR

APRIL = REAL_DATA_DIR / "atf-ffl-list-2013-04-partial.txt"
JUNE = REAL_DATA_DIR / "atf-ffl-list-2013-06-partial.txt"
REPORTS = REAL_DATA_DIR / "atf-inspection-reports-2015-2017.jsonl"

UNDERSCORE_HEADER = [
    "LIC_REGN", "LIC_DIST", "LIC_CNTY", "LIC_TYPE", "LIC_XPRDTE", "LIC_SEQN",
    "LICENSE_NAME", "BUSINESS_NAME", "PREMISE_STREET", "PREMISE_CITY", "PREMISE_STATE",
    "PREMISE_ZIP_CODE", "MAIL_STREET", "MAIL_CITY", "MAIL_STATE", "MAIL_ZIP_CODE", "VOICE_PHONE",
]  # fmt: skip


def _listing_lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").split("\n")


def _write_listing(path: Path, header: list[str], records: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(records)
    return path


def _real_records(path: Path, count: int, *, start: int = 2) -> list[list[str]]:
    # Lines 1 and 2 are the spaced header and the dash row.
    text = "\n".join(_listing_lines(path)[start : start + count])
    return list(csv.reader(text.splitlines(), delimiter="\t"))


def _snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the importers write, in key order."""
    with engine.connect() as connection:
        return {
            name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns)
                )
            ]
            for name, table in (("dealers", schema.dealers), ("inspections", schema.inspections))
        }


def _reports_by_ui_number() -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for line, raw in enumerate(REPORTS.read_text(encoding="utf-8").splitlines(), start=1):
        found[json.loads(raw)["ui_number"]] = (line, raw)
    return found


def _write_reports(path: Path, ui_numbers: list[str]) -> Path:
    reports = _reports_by_ui_number()
    path.write_text("".join(reports[ui][1] + "\n" for ui in ui_numbers), encoding="utf-8")
    return path


# --- the licensee listing: parsing ---------------------------------------------------


def test_every_licensee_of_the_june_listing_is_read() -> None:
    parsed = parse_atf_ffl_list(JUNE)
    assert parsed.records_read == 14_011
    assert len(parsed.rows) == 14_011
    assert len({row["license_number"] for row in parsed.rows}) == 14_011
    assert parsed.skipped == ()
    # The data README says 14,010: it counts line ends, and the last record has none.
    (note,) = parsed.notes
    assert note.line == 14_013
    last = parsed.rows[-1]
    assert last["license_number"] == "1-56-089-01-5A-06942"
    assert (last["premise_city"], last["premise_state"], last["premise_zip"]) == (
        "HORSE SHOE", "NC", "28742",
    )


def test_april_listing_skips_only_the_record_cut_before_its_address() -> None:
    parsed = parse_atf_ffl_list(APRIL)
    assert parsed.records_read == 2_294
    assert len(parsed.rows) == 2_293
    (skipped,) = parsed.skipped
    assert (skipped.file, skipped.line, skipped.column) == (APRIL.name, 2_296, "record")
    assert "cut off by the end of the file" in skipped.reason


def test_rows_follow_the_contract_and_keep_what_the_listing_says() -> None:
    rows = {row["license_number"]: row for row in parse_atf_ffl_list(APRIL).rows}
    assert all(re.fullmatch(LICENSE_NUMBER_PATTERN, number) for number in rows)
    # A quoted license name and a business name given.
    assert rows["1-66-003-01-4L-00150"] == {
        "license_number": "1-66-003-01-4L-00150",
        "license_type": "01",
        "business_name": "AGUADA SPORT SHOP & ARMORY",
        "premise_city": "AGUADA",
        "premise_state": "PR",
        "premise_zip": "00602",
        "county_fips": "72003",
    }
    # Business name NULL: the license name stands in; a nine-digit ZIP is cut to five.
    manufacturer = rows["6-06-003-07-3H-01997"]
    assert manufacturer["business_name"] == "R & P MANUFACTURING INC"
    assert rows["6-06-003-08-4D-33344"]["premise_zip"] == "06110"


def test_underscore_header_without_dash_row_reads_the_same_licensees(tmp_path: Path) -> None:
    records = _real_records(APRIL, 8)
    spaced = parse_atf_ffl_list(
        _write_listing(
            tmp_path / "spaced.txt",
            _listing_lines(APRIL)[0].split("\t"),
            [["-" * 8] * 17, *records],
        )
    )
    # Newer files often went through a spreadsheet, which drops leading zeros.
    unpadded = [
        [record[0], str(int(record[1])), str(int(record[2])), str(int(record[3])), record[4],
         str(int(record[5])), *record[6:]]
        for record in records
    ]  # fmt: skip
    underscore = parse_atf_ffl_list(
        _write_listing(tmp_path / "underscore.txt", UNDERSCORE_HEADER, unpadded)
    )
    assert unpadded[0][2] == "3" and unpadded[0][5] == "150"
    assert len(underscore.rows) == 8
    assert underscore.rows == spaced.rows
    assert underscore.rows[0]["license_number"] == "1-66-003-01-4L-00150"


def test_quoted_fields_may_hold_tabs_and_doubled_quotes(tmp_path: Path) -> None:
    path = tmp_path / "quoted.txt"
    record = [
        "9", "99", "001", "01", "9Z", "00001", '"SYNTHETIC, ""BUBBA""\tJOE"', "NULL",
        "1 MAIN ST", '"SPRINGFIELD"', "TX", "75001", "", "", "", "", "",
    ]  # fmt: skip
    path.write_text("\t".join(UNDERSCORE_HEADER) + "\n" + "\t".join(record) + "\n")
    (row,) = parse_atf_ffl_list(path).rows
    # A tab inside a name is layout, not content: whitespace runs become one space.
    assert row["business_name"] == 'SYNTHETIC, "BUBBA" JOE'
    assert row["premise_city"] == "SPRINGFIELD"
    assert row["county_fips"] == "48001"


def test_license_number_restores_padding_and_names_bad_parts() -> None:
    parts = {"LIC_REGN": "1", "LIC_DIST": "6", "LIC_CNTY": "3", "LIC_TYPE": "1",
             "LIC_XPRDTE": "4l", "LIC_SEQN": "15"}  # fmt: skip
    assert license_number(parts) == ("1-06-003-01-4L-00015", [])
    number, problems = license_number({**parts, "LIC_CNTY": "1234", "LIC_SEQN": "A1"})
    assert number is None
    assert [field for field, _ in problems] == ["LIC_CNTY", "LIC_SEQN"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("06110", "06110"), ("061100000", "06110"), ("03055-382", "03055"), ("04418.", "04418"),
     ("1234", None), ("", None), (None, None)],
)  # fmt: skip
def test_zip_keeps_the_first_five_digits(raw: str | None, expected: str | None) -> None:
    assert zip5(raw) == expected


# --- county FIPS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "county", "expected"),
    [
        ("PR", "003", "72003"),  # Aguada
        ("NC", "89", "37089"),  # padding restored
        ("va", "650", "51650"),  # Hampton city
        ("FL", "025", "12086"),  # Dade's pre-1997 code, now Miami-Dade
        ("DC", "000", "11001"),
        ("NY", "000", None),
        ("AE", "001", None),  # military address: no county
        ("TX", "A1", None),
        (None, "001", None),
    ],
)
def test_county_fips_joins_state_and_license_county(
    state: str | None, county: str, expected: str | None
) -> None:
    assert county_fips(state, county) == expected


def test_embedded_state_codes_match_the_reference_table() -> None:
    with (REAL_DATA_DIR / "ffl-counts-2023-states.csv").open(encoding="utf-8") as handle:
        reference = {row["state"]: row["statefp"] for row in csv.DictReader(handle)}
    assert len(reference) == 51
    assert {state: STATE_FIPS[state] for state in reference} == reference


def test_derived_county_codes_are_real_counties() -> None:
    with (REAL_DATA_DIR / "ffl-counts-2023-counties.csv").open(encoding="utf-8") as handle:
        counties = {row["fips"] for row in csv.DictReader(handle)}
    states = {fips[:2] for fips in counties}
    derived = [
        row["county_fips"]
        for row in parse_atf_ffl_list(JUNE).rows
        if row["county_fips"] and row["county_fips"][:2] in states
    ]
    unknown = [fips for fips in derived if fips not in counties]
    assert len(derived) > 13_900
    # A handful of licenses carry a retired code (Bedford city, VA, 51515) or a typo.
    assert len(unknown) / len(derived) < 0.002, Counter(unknown)


# --- the licensee listing: the store -----------------------------------------------


def test_both_listings_load_completely_and_reimporting_changes_nothing(store_url: str) -> None:
    engine = open_store(store_url)
    june = import_atf_ffl_list(engine, JUNE)
    assert june.records_read == 14_011
    assert june.written == {"dealers": WriteCounts(inserted=14_011)}
    april = import_atf_ffl_list(engine, APRIL)
    # 2,171 licensees are in both months; 6 of them changed name or city in between.
    assert april.written == {"dealers": WriteCounts(inserted=122, updated=6, unchanged=2_165)}
    assert table_counts(engine)["dealers"] == 14_133
    before = _snapshot(engine)

    again = import_atf_ffl_list(engine, APRIL)
    assert again.written == {"dealers": WriteCounts(unchanged=2_293)}
    assert _snapshot(engine) == before
    engine.dispose()


def test_the_listing_keeps_columns_it_does_not_know(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.dealers).values(
                license_number="1-66-003-01-4L-00150", license_type="01",
                business_name="OLD NAME", premise_state="PR", annual_firearm_sales=120,
                field_division="San Juan",
            )
        )  # fmt: skip
    import_atf_ffl_list(engine, APRIL)
    with engine.connect() as connection:
        stored = connection.execute(
            select(schema.dealers).where(
                schema.dealers.c.license_number == "1-66-003-01-4L-00150"
            )
        ).one()
    assert stored.business_name == "AGUADA SPORT SHOP & ARMORY"
    assert (stored.annual_firearm_sales, stored.field_division) == (120, "San Juan")
    engine.dispose()


def test_a_bad_row_rejects_the_whole_listing_and_the_store_is_unchanged(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    import_atf_ffl_list(engine, APRIL)
    before = _snapshot(engine)
    # Thirty June licensees that April lacks, two of them broken.
    records = _real_records(JUNE, 30, start=13_000)
    records[4][10] = "ZZ"  # premise state
    records[9][3] = "1A"  # license type
    bad = _write_listing(tmp_path / "bad.txt", UNDERSCORE_HEADER, records)

    with pytest.raises(ImportRejected) as rejected:
        import_atf_ffl_list(engine, bad)

    assert [(e.file, e.line, e.column) for e in rejected.value.errors] == [
        ("bad.txt", 6, "PREMISE_STATE"),
        ("bad.txt", 11, "LIC_TYPE"),
    ]
    assert str(rejected.value.errors[0]).startswith("bad.txt:6: PREMISE_STATE: 'ZZ' is not")
    assert _snapshot(engine) == before
    engine.dispose()


def test_a_nul_character_is_an_error_on_both_stores_not_a_crash(
    store_url: str, tmp_path: Path
) -> None:
    # PostgreSQL refuses NUL in text; it is refused before either store sees it.
    engine = open_store(store_url)
    records = _real_records(APRIL, 3)
    records[1][7] = "ACME\x00 ARMS"  # business name
    bad = _write_listing(tmp_path / "nul.txt", UNDERSCORE_HEADER, records)

    with pytest.raises(ImportRejected) as rejected:
        import_atf_ffl_list(engine, bad)

    assert [str(error) for error in rejected.value.errors] == [
        "nul.txt:3: BUSINESS_NAME: 'ACME\\x00 ARMS' contains a NUL character (\\x00)"
    ]
    assert all(not rows for rows in _snapshot(engine).values())
    engine.dispose()


def test_a_repeated_license_number_is_an_error(tmp_path: Path) -> None:
    records = _real_records(APRIL, 3)
    path = _write_listing(tmp_path / "twice.txt", UNDERSCORE_HEADER, [*records, records[1]])
    with pytest.raises(ImportRejected) as rejected:
        parse_atf_ffl_list(path)
    (error,) = rejected.value.errors
    assert (error.line, error.column) == (5, "license_number")
    assert "repeats line 3" in error.reason


def test_a_short_record_before_the_last_is_an_error(tmp_path: Path) -> None:
    records = _real_records(APRIL, 3)
    records[1] = records[1][:9]
    path = _write_listing(tmp_path / "short.txt", UNDERSCORE_HEADER, records)
    with pytest.raises(ImportRejected, match=r"short.txt:3: record: expected 17 fields, found 9"):
        parse_atf_ffl_list(path)


def test_a_listing_without_the_needed_columns_is_rejected(tmp_path: Path) -> None:
    path = _write_listing(tmp_path / "other.txt", ["NAME", "CITY"], [["A", "B"]])
    with pytest.raises(ImportRejected) as rejected:
        parse_atf_ffl_list(path)
    assert str(rejected.value.errors[0]) == "other.txt:1: header: missing column LIC_REGN"


# --- inspection reports --------------------------------------------------------------


def test_every_inspection_report_loads_and_reimporting_changes_nothing(store_url: str) -> None:
    engine = open_store(store_url)
    summary = import_atf_inspection_reports(engine, REPORTS)
    assert summary.records_read == 1_925
    assert summary.written == {
        "inspections": WriteCounts(inserted=1_924),
        "dealers": WriteCounts(inserted=1_912),
    }
    # The 1,925th line credits the source; it is not a report.
    assert [(issue.line, issue.reason) for issue in summary.skipped] == [
        (1_925, "source attribution, not a report")
    ]
    with engine.connect() as connection:
        outcomes: dict[str, int] = dict(
            connection.execute(
                select(schema.inspections.c.outcome, func.count())
                .group_by(schema.inspections.c.outcome)
            ).all()
        )
    assert outcomes == {"warning_letter": 1_778, "warning_conference": 83, "revocation": 63}
    before = _snapshot(engine)

    again = import_atf_inspection_reports(engine, REPORTS)
    assert again.written == {
        "inspections": WriteCounts(unchanged=1_924),
        "dealers": WriteCounts(unchanged=1_912),
    }
    assert _snapshot(engine) == before
    engine.dispose()


@pytest.mark.parametrize(
    ("ui_number", "outcome"),
    [
        ("763050-2015-0402-B1B", "warning_letter"),
        ("763050-2016-0057-B1B", "warning_letter"),  # revocation warranted, letter sent
        ("772060-2016-0203-B1B", "warning_conference"),
        ("773015-2016-0126-B1B", "warning_conference"),
        ("777070-2017-0065-B1B", "revocation"),
        ("785110-2016-0195-B1B", "revocation"),  # settlement of a revocation
        ("776055-2015-0267-B1B", "revocation"),  # surrendered, revocation warranted
        ("772060-2015-0395-B1B", "warning_letter"),  # surrendered, no revocation found
    ],
)
def test_outcome_mapping_on_handpicked_reports(ui_number: str, outcome: str) -> None:
    _, raw = _reports_by_ui_number()[ui_number]
    assert map_outcome(json.loads(raw)) == outcome


def test_settlement_without_a_revocation_finding_is_a_warning_conference() -> None:
    report = {"final_disposition": "Settlement", "revocation_warranted": "N",
              "revocation_recommended": False}  # fmt: skip
    assert map_outcome(report) == "warning_conference"
    assert map_outcome({**report, "revocation_recommended": True}) == "revocation"


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"final_disposition": "Pending"}, "final_disposition"),
        ({}, "final_disposition"),
        ({"final_disposition": "Settlement", "revocation_warranted": "yes"},
         "revocation_warranted"),
    ],
)  # fmt: skip
def test_unknown_dispositions_and_flags_are_errors(report: dict[str, Any], field: str) -> None:
    with pytest.raises(ReportError) as error:
        map_outcome(report)
    assert error.value.field == field


def test_handpicked_reports_are_stored_as_the_contract_says(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = _write_reports(
        tmp_path / "picked.jsonl",
        ["773015-2016-0537-B1B", "781080-2017-0132-B1B", "785110-2016-0195-B1B"],
    )
    engine = open_store(sqlite_url)
    summary = import_atf_inspection_reports(engine, path)
    with engine.connect() as connection:
        rows = {
            row.inspection_id: row
            for row in connection.execute(select(schema.inspections)).all()
        }
        dealer = connection.execute(
            select(schema.dealers).where(
                schema.dealers.c.license_number == "4-31-025-01-8M-00941"
            )
        ).one()
    first = rows["773015-2016-0537-B1B"]
    assert first.license_number == "4-31-025-01-8M-00941"
    assert first.inspection_date == date(2016, 7, 18)  # completion, not assignment
    assert (first.inspection_type, first.outcome) == ("compliance", "warning_letter")
    assert first.violation_count == 6
    assert first.violation_codes == (
        "478.21(a);478.124(c)(1);478.124(c)(3)(iv);478.126a;478.99(c);478.125(e)"
    )
    assert first.missing_firearms is None
    # No completion date: assignment (2016-11-09) plus a year, and a note says so.
    assert rows["781080-2017-0132-B1B"].inspection_date == date(2017, 11, 9)
    assert [note.line for note in summary.notes] == [2]
    assert rows["785110-2016-0195-B1B"].outcome == "revocation"
    # The licensee: trade name over proprietor, county FIPS from OH + 025 (Clermont).
    assert (dealer.business_name, dealer.license_type) == ("Hunters Den Of Ohio", "01")
    assert (dealer.premise_city, dealer.premise_state, dealer.premise_zip) == (
        "Amelia", "OH", "45102",
    )
    assert dealer.county_fips == "39025"
    engine.dispose()


def test_stored_licensees_are_not_overwritten_by_reports(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = open_store(sqlite_url)
    stored = {
        "license_number": "1-56-059-01-6F-21093", "license_type": "01",
        "business_name": "NAME FROM THE LISTING", "premise_city": "ADVANCE",
        "premise_state": "NC", "premise_zip": "27006", "county_fips": "37059",
        "annual_firearm_sales": 250, "field_division": "Charlotte", "urbanicity": "rural",
    }  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(schema.dealers).values(**stored))
    summary = import_atf_inspection_reports(
        engine, _write_reports(tmp_path / "one.jsonl", ["763050-2015-0402-B1B"])
    )
    assert summary.written["dealers"] == WriteCounts(unchanged=1)
    assert summary.written["inspections"] == WriteCounts(inserted=1)
    with engine.connect() as connection:
        row = connection.execute(select(schema.dealers)).one()
    assert row._asdict() == {**stored, "license_issue_date": None}
    engine.dispose()


def test_a_bad_report_rejects_the_whole_export_and_the_store_is_unchanged(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    import_atf_inspection_reports(
        engine, _write_reports(tmp_path / "good.jsonl", ["763050-2015-0402-B1B"])
    )
    before = _snapshot(engine)
    reports = _reports_by_ui_number()
    lines = [
        reports["773015-2016-0537-B1B"][1],
        reports["772060-2016-0203-B1B"][1].replace('"Warning conference"', '"Pending"'),
        reports["777070-2017-0065-B1B"][1].replace("5-72-073-07-6H-04339", "5-72-073"),
        '{"ui_number": "broken',
        reports["773015-2016-0126-B1B"][1].replace('"citation_count":', '"citation_count":-'),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ImportRejected) as rejected:
        import_atf_inspection_reports(engine, bad)

    assert [(e.line, e.column) for e in rejected.value.errors] == [
        (2, "final_disposition"),
        (3, "ffl_number"),
        (4, "record"),
        (5, "citation_count"),
    ]
    assert all(str(e).startswith(f"bad.jsonl:{e.line}: ") for e in rejected.value.errors)
    # Neither the good first report nor its licensee was written.
    assert _snapshot(engine) == before
    engine.dispose()


def test_colliding_report_numbers_get_ids_from_their_content(tmp_path: Path) -> None:
    _, raw = _reports_by_ui_number()["763050-2015-0402-B1B"]
    report = json.loads(raw)
    other = {**report, "inspection_complete_date": "2016-01-15"}
    forwards = tmp_path / "forwards.jsonl"
    forwards.write_text(
        "\n".join(json.dumps(r) for r in (report, other, report)) + "\n", encoding="utf-8"
    )
    backwards = tmp_path / "backwards.jsonl"
    backwards.write_text("\n".join(json.dumps(r) for r in (other, report)), encoding="utf-8")

    parsed = parse_atf_inspection_reports(forwards)
    ids = [row["inspection_id"] for row in parsed.inspections]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(i.startswith("763050-2015-0402-B1B~") and len(i) == 29 for i in ids)
    assert [(s.line, s.reason) for s in parsed.skipped] == [(3, "exact repeat of line 1")]
    # The ids depend on each report's content, not on where it sits in the file.
    reordered = parse_atf_inspection_reports(backwards).inspections
    assert {row["inspection_id"] for row in reordered} == set(ids)


@pytest.mark.parametrize(
    ("violations", "codes", "count"),
    [
        ("478.21(a), 478.102(a), 478.103(a)", "478.21(a);478.102(a);478.103(a)", 3),
        ("478.125(e), 18 USC  923(g)(5)(A)", "478.125(e);18 USC 923(g)(5)(A)", 2),
        ("478.124(c)(1), 478.124(c)(1), [MISSING]", "478.124(c)(1)", 3),
        ("[MISSING], [MISSING]", None, 2),
        ("", None, 0),
        (None, None, 0),
    ],
)
def test_violation_codes_become_the_contract_form(
    violations: str | None, codes: str | None, count: int
) -> None:
    assert normalise_violation_codes(violations) == (codes, count)
