"""Ingestion validates every row, rejects whole or quarantines, and loads idempotently.

Every test that touches the store runs on SQLite and on PostgreSQL (``store_url``).
The input directories are tiny and written inline, one fault per line where faults are
the point, so each expected problem can be named by file, line and column.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, select

from data.ingest import ingest_directory
from data.store import open_store, schema
from data.store.write import BulkUpsert, PostgresBulkUpsert, SQLiteBulkUpsert

DEALERS = """\
license_number,license_type,business_name,premise_state,license_issue_date,annual_firearm_sales,urbanicity
1-01-001-01-9Z-00001,01,Alpha Arms,TX,2010-05-01,120,urban
1-01-001-01-9Z-00002,02,Beta Pawn,NV,,40,rural
1-01-001-01-9Z-00003,01,Gamma Guns,CA,2015-01-31,,suburban
"""
TRACES = """\
trace_id,license_number,firearm_type,caliber,purchase_date,recovery_date,trace_date,recovery_country,recovery_state,purchaser_is_possessor,serial_obliterated
T1,1-01-001-01-9Z-00001,pistol,9mm,2019-01-02,2020-03-04,2020-03-10,US,TX,true,false
T2,1-01-001-01-9Z-00001,rifle,,2018-06-01,2018-06-01,2018-06-01,MX,,,true
T3,1-01-001-01-9Z-00002,revolver,.38,2017-02-03,2021-01-01,2021-02-01,US,NV,false,
T4,1-01-001-01-9Z-00003,shotgun,12ga,2016-01-01,2022-07-07,2022-07-08,US,CA,true,true
"""
MULTIPLE_SALES = """\
report_id,license_number,report_date,form,firearm_count,purchaser_key
M1,1-01-001-01-9Z-00001,2020-01-15,3310.4,2,P-77
M2,1-01-001-01-9Z-00002,2021-03-01,3310.12,5,
"""
INSPECTIONS = """\
inspection_id,license_number,inspection_date,inspection_type,outcome,violation_count,missing_firearms,violation_codes
I1,1-01-001-01-9Z-00001,2021-06-30,compliance,warning_conference,3,2,478.124(c)(1);478.125(e)
I2,1-01-001-01-9Z-00003,2020-02-02,qualification,no_violations,0,,
"""
THEFT_LOSS = """\
report_id,license_number,report_date,kind,firearm_count
L1,1-01-001-01-9Z-00002,2019-09-09,theft,3
"""
VALID = {
    "dealers": DEALERS,
    "traces": TRACES,
    "multiple_sales": MULTIPLE_SALES,
    "inspections": INSPECTIONS,
    "theft_loss": THEFT_LOSS,
}
ROWS = {"dealers": 3, "traces": 4, "multiple_sales": 2, "inspections": 2, "theft_loss": 1}


def write_directory(path: Path, tables: dict[str, str]) -> Path:
    """Write each table's CSV text to ``path/NAME.csv``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (path / f"{name}.csv").write_text(text, encoding="utf-8")
    return path


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every contract table, in key order: the store's whole content."""
    content: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for name, table in schema.CONTRACT_TABLES.items():
            key = list(table.primary_key.columns)
            content[name] = [tuple(row) for row in connection.execute(select(table).order_by(*key))]
    return content


def counts(content: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in content.items()}


def ingest(engine: Engine, directory: Path, tmp_path: Path, **options: Any) -> Any:
    return ingest_directory(engine, directory, report_path=tmp_path / "report.txt", **options)


def located(result: Any) -> set[tuple[str, int | None, str]]:
    return {(problem.file, problem.line, problem.column) for problem in result.first_problems}


def test_a_valid_directory_loads_every_row_typed(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    result = ingest(engine, write_directory(tmp_path / "in", VALID), tmp_path)
    assert result.accepted
    assert result.problem_count == 0
    assert result.report_path is None
    content = snapshot(engine)
    assert counts(content) == ROWS
    with engine.connect() as connection:
        t1 = connection.execute(select(schema.traces).where(schema.traces.c.trace_id == "T1")).one()
        t2 = connection.execute(select(schema.traces).where(schema.traces.c.trace_id == "T2")).one()
        beta = connection.execute(
            select(schema.dealers).where(schema.dealers.c.license_number.like("%00002"))
        ).one()
        i1 = connection.execute(
            select(schema.inspections).where(schema.inspections.c.inspection_id == "I1")
        ).one()
    assert t1.purchase_date == dt.date(2019, 1, 2)
    assert t1.purchaser_is_possessor is True and t1.serial_obliterated is False
    assert t2.caliber is None and t2.purchaser_is_possessor is None
    assert beta.license_issue_date is None and beta.annual_firearm_sales == 40
    assert beta.premise_city is None  # an absent optional column is stored as null
    assert i1.violation_count == 3 and i1.violation_codes == "478.124(c)(1);478.125(e)"
    engine.dispose()


# One fault per line; the expected problem for each is listed beside its table.
FAULTY = {
    "dealers": """\
license_number,license_type,business_name,premise_state,license_issue_date,annual_firearm_sales,urbanicity
1-01-001-01-9Z-00001,01,Alpha Arms,TX,2010-05-01,120,urban
1-01-001-01-9Z-00002,02,Beta Pawn,NV,,40,rural
1-01-001-01-9Z-00003,01,Gamma Guns,CA,2015-01-31,,suburban
9-99-BAD,01,Bad Number,TX,,,
1-01-001-01-9Z-00005,05,Wrong Type,TX,,,
1-01-001-01-9Z-00006,01,,TX,,,
1-01-001-01-9Z-00007,01,Bad Date,TX,2015-13-01,,
1-01-001-01-9Z-00008,01,Negative Sales,TX,,-1,
1-01-001-01-9Z-00009,01,Text Sales,TX,,lots,
1-01-001-01-9Z-00001,01,Alpha Again,TX,,,
1-01-001-01-9Z-00010,01,Bad Urbanicity,TX,,,downtown
""",
    "traces": """\
trace_id,license_number,firearm_type,caliber,purchase_date,recovery_date,trace_date,recovery_country,recovery_state,purchaser_is_possessor,serial_obliterated
T1,1-01-001-01-9Z-00001,pistol,9mm,2019-01-02,2020-03-04,2020-03-10,US,TX,true,false
T2,1-01-001-01-9Z-00001,bazooka,,2018-06-01,2018-06-01,2018-06-01,MX,,,true
T3,1-01-001-01-9Z-00002,revolver,.38,2017-02-03,2016-01-01,2021-02-01,US,NV,false,
T4,1-01-001-01-9Z-00003,shotgun,12ga,2016-01-01,2022-07-07,2022-07-01,US,CA,true,true
T5,1-01-001-01-9Z-00001,pistol,,2016-01-01,2022-07-07,2022-07-08,US,CA,yes,true
T6,1-01-001-01-9Z-00099,pistol,,2016-01-01,2022-07-07,2022-07-08,US,CA,,
T7,1-01-001-01-9Z-00008,pistol,,2016-01-01,2022-07-07,2022-07-08,US,CA,,
T1,1-01-001-01-9Z-00001,pistol,,2016-01-01,2022-07-07,2022-07-08,US,CA,,
T9,1-01-001-01-9Z-00001,pistol,,2020-02-30,2022-07-07,2022-07-08,US,CA,,
T10,1-01-001-01-9Z-00001,pistol,,2016-01-01,2022-07-07,2022-07-08,USA,CA,,
""",
    "multiple_sales": """\
report_id,license_number,report_date,form,firearm_count,purchaser_key
M1,1-01-001-01-9Z-00001,2020-01-15,3310.4,1,P-77
M2,1-01-001-01-9Z-00002,2021-03-01,4473,5,
""",
    "inspections": """\
inspection_id,license_number,inspection_date,inspection_type,outcome,violation_count,missing_firearms,violation_codes
I1,1-01-001-01-9Z-00001,2021-06-30,compliance,closed,3,2,
I2,1-01-001-01-9Z-00003,2020-02-02,qualification,no_violations,,,
""",
    "theft_loss": """\
report_id,license_number,report_date,kind,firearm_count
L1,1-01-001-01-9Z-00002,2019-09-09,robbery,3
L2,1-01-001-01-9Z-00002,2019-09-09,loss,0
""",
}
EXPECTED_FAULTS = {
    ("dealers.csv", 5, "license_number", "does not match"),
    ("dealers.csv", 6, "license_type", "'05' is not one of"),
    ("dealers.csv", 7, "business_name", "missing required value"),
    ("dealers.csv", 8, "license_issue_date", "'2015-13-01' is not a date"),
    ("dealers.csv", 9, "annual_firearm_sales", "below the minimum 0"),
    ("dealers.csv", 10, "annual_firearm_sales", "'lots' is not an integer"),
    ("dealers.csv", 11, "license_number", "duplicate license_number"),
    ("dealers.csv", 12, "urbanicity", "'downtown' is not one of"),
    ("traces.csv", 3, "firearm_type", "'bazooka' is not one of"),
    ("traces.csv", 4, "recovery_date", "recovery_date 2016-01-01 is before purchase_date"),
    ("traces.csv", 5, "trace_date", "trace_date 2022-07-01 is before recovery_date"),
    ("traces.csv", 6, "purchaser_is_possessor", "'yes' is not a boolean"),
    ("traces.csv", 7, "license_number", "not in dealers.csv nor in the store"),
    ("traces.csv", 8, "license_number", "its row in dealers.csv was rejected"),
    ("traces.csv", 9, "trace_id", "duplicate trace_id 'T1' (first at line 2)"),
    ("traces.csv", 10, "purchase_date", "'2020-02-30' is not a date"),
    ("traces.csv", 11, "recovery_country", "'USA' does not match"),
    ("multiple_sales.csv", 2, "firearm_count", "'1' is below the minimum 2"),
    ("multiple_sales.csv", 3, "form", "'4473' is not one of"),
    ("inspections.csv", 2, "outcome", "'closed' is not one of"),
    ("inspections.csv", 3, "violation_count", "missing required value"),
    ("theft_loss.csv", 2, "kind", "'robbery' is not one of"),
    ("theft_loss.csv", 3, "firearm_count", "'0' is below the minimum 1"),
}
VALID_IN_FAULTY = {
    "dealers": 3,
    "traces": 1,
    "multiple_sales": 0,
    "inspections": 0,
    "theft_loss": 0,
}


def test_every_kind_of_fault_is_named_and_nothing_is_applied(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    # A store with rows in it, so that "unchanged" is about contents, not only emptiness.
    assert ingest(engine, write_directory(tmp_path / "first", VALID), tmp_path).accepted
    before = snapshot(engine)

    result = ingest(engine, write_directory(tmp_path / "faulty", FAULTY), tmp_path)

    assert not result.accepted
    assert result.problem_count == len(EXPECTED_FAULTS)
    found = {(p.file, p.line, p.column): p.reason for p in result.first_problems}
    assert set(found) == {fault[:3] for fault in EXPECTED_FAULTS}
    for file, line, column, reason in EXPECTED_FAULTS:
        assert reason in found[(file, line, column)], (file, line, column)
    report = result.report_path.read_text().splitlines()
    assert report == [str(problem) for problem in result.first_problems]
    assert "traces.csv:9: trace_id: duplicate trace_id 'T1' (first at line 2)" in report
    assert snapshot(engine) == before
    assert all(table.rows_changed == 0 for table in result.tables)
    engine.dispose()


def test_quarantine_loads_valid_rows_and_writes_rejected_ones_with_reasons(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    quarantine = tmp_path / "out" / "quarantine.csv"

    result = ingest(
        engine, write_directory(tmp_path / "faulty", FAULTY), tmp_path, quarantine_path=quarantine
    )

    assert result.accepted
    assert result.quarantined_rows == len({fault[:2] for fault in EXPECTED_FAULTS})
    assert counts(snapshot(engine)) == VALID_IN_FAULTY
    with quarantine.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_place = {(row["table"], int(row["line"])): row for row in rows}
    assert set(by_place) == {
        (file.removesuffix(".csv"), line) for file, line, _, _ in EXPECTED_FAULTS
    }
    bazooka = by_place[("traces", 3)]
    assert bazooka["trace_id"] == "T2" and bazooka["firearm_type"] == "bazooka"
    assert bazooka["reasons"].startswith("firearm_type: 'bazooka' is not one of")
    cascade = by_place[("traces", 8)]
    assert "its row in dealers.csv was rejected" in cascade["reasons"]
    assert by_place[("dealers", 9)]["annual_firearm_sales"] == "-1"
    # The first T1 is the valid, loaded one; its duplicate is quarantined.
    with engine.connect() as connection:
        stored = connection.execute(select(schema.traces.c.trace_id)).scalars().all()
    assert stored == ["T1"]
    engine.dispose()


def test_reingesting_the_same_directory_changes_nothing(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    directory = write_directory(tmp_path / "in", VALID)
    first = ingest(engine, directory, tmp_path)
    after_first = snapshot(engine)

    second = ingest(engine, directory, tmp_path)

    assert first.accepted and second.accepted
    assert sum(table.rows_changed for table in first.tables) == sum(ROWS.values())
    assert sum(table.rows_changed for table in second.tables) == 0
    assert snapshot(engine) == after_first
    engine.dispose()


def test_a_directory_with_later_rows_appends_them_and_updates_changed_ones(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    assert ingest(engine, write_directory(tmp_path / "first", VALID), tmp_path).accepted
    later = dict(VALID)
    later["traces"] = (
        TRACES + "T5,1-01-001-01-9Z-00002,pistol,,2022-01-01,2023-01-01,2023-01-05,US,,,\n"
    )
    # Beta Pawn's sales estimate was revised; dealers 1 and 3 are as before.
    later["dealers"] = DEALERS.replace("Beta Pawn,NV,,40,", "Beta Pawn,NV,,55,")

    result = ingest(engine, write_directory(tmp_path / "later", later), tmp_path)

    assert result.accepted
    changed = {table.table: table.rows_changed for table in result.tables}
    assert changed == {
        "dealers": 1,
        "traces": 1,
        "multiple_sales": 0,
        "inspections": 0,
        "theft_loss": 0,
    }
    content = snapshot(engine)
    assert counts(content) == {**ROWS, "traces": 5}
    assert [row[0] for row in content["traces"]] == ["T1", "T2", "T3", "T4", "T5"]
    sales = {row[0]: row[8] for row in content["dealers"]}
    assert sales["1-01-001-01-9Z-00002"] == 55
    engine.dispose()


def test_events_may_name_licensees_already_in_the_store(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    assert ingest(engine, write_directory(tmp_path / "first", VALID), tmp_path).accepted
    header = DEALERS.splitlines()[0] + "\n"
    events_only = {**VALID, "dealers": header}

    result = ingest(engine, write_directory(tmp_path / "events", events_only), tmp_path)

    assert result.accepted, [str(problem) for problem in result.first_problems]
    engine.dispose()


def _parquet_tables() -> dict[str, pa.Table]:
    """VALID as typed Parquet tables: dates as dates, integers with nulls, booleans."""
    tables: dict[str, pa.Table] = {}
    for name, text in VALID.items():
        frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
        columns: dict[str, pa.Array] = {}
        for column in frame.columns:
            values = [None if value == "" else value for value in frame[column]]
            if column.endswith("_date"):
                columns[column] = pa.array(
                    [None if v is None else dt.date.fromisoformat(v) for v in values], pa.date32()
                )
            elif column in {"annual_firearm_sales", "firearm_count", "violation_count"}:
                # pandas writes an integer column with nulls as float; 40.0 must mean 40.
                columns[column] = pa.array(
                    [None if v is None else float(v) for v in values], pa.float64()
                )
            elif column in {"purchaser_is_possessor", "serial_obliterated"}:
                columns[column] = pa.array(
                    [None if v is None else v == "true" for v in values], pa.bool_()
                )
            else:
                columns[column] = pa.array(values, pa.string())
        tables[name] = pa.table(columns)
    return tables


def test_parquet_input_loads_exactly_like_csv(store_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "parquet"
    directory.mkdir()
    for name, table in _parquet_tables().items():
        pq.write_table(table, directory / f"{name}.parquet")
    engine = open_store(store_url)

    result = ingest(engine, directory, tmp_path)

    assert result.accepted, [str(problem) for problem in result.first_problems]
    from_parquet = snapshot(engine)
    engine.dispose()
    csv_engine = open_store(f"sqlite:///{tmp_path / 'from-csv.db'}")
    assert ingest(csv_engine, write_directory(tmp_path / "csv", VALID), tmp_path).accepted
    assert from_parquet == snapshot(csv_engine)
    csv_engine.dispose()


def test_parquet_problems_cite_the_row_number_plus_one(sqlite_url: str, tmp_path: Path) -> None:
    directory = write_directory(tmp_path / "in", {k: v for k, v in VALID.items() if k != "traces"})
    traces = _parquet_tables()["traces"]
    types = traces.column("firearm_type").to_pylist()
    types[2] = "cannon"  # the third row
    traces = traces.set_column(
        traces.schema.get_field_index("firearm_type"), "firearm_type", pa.array(types)
    )
    pq.write_table(traces, directory / "traces.parquet")
    engine = open_store(sqlite_url)

    result = ingest(engine, directory, tmp_path)

    assert not result.accepted
    assert located(result) == {("traces.parquet", 4, "firearm_type")}


def test_a_missing_required_column_rejects_the_whole_file(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    without_dates = "\n".join(
        ",".join(field for index, field in enumerate(line.split(",")) if index != 6)
        for line in TRACES.splitlines()
    )
    directory = write_directory(tmp_path / "in", {**VALID, "traces": without_dates + "\n"})
    quarantine = tmp_path / "quarantine.csv"

    result = ingest(engine, directory, tmp_path, quarantine_path=quarantine)

    # Even in quarantine mode: a whole-file problem leaves no row to quarantine.
    assert not result.accepted
    assert [str(problem) for problem in result.first_problems] == [
        "traces.csv:1: trace_date: required column is missing"
    ]
    assert counts(snapshot(engine)) == dict.fromkeys(ROWS, 0)
    engine.dispose()


def test_unknown_extra_columns_are_ignored(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    with_extra = "\n".join(
        line + (",notes" if index == 0 else ",anything at all")
        for index, line in enumerate(DEALERS.splitlines())
    )
    directory = write_directory(tmp_path / "in", {**VALID, "dealers": with_extra + "\n"})

    result = ingest(engine, directory, tmp_path)

    assert result.accepted
    assert result.problem_count == 0
    assert counts(snapshot(engine)) == ROWS
    engine.dispose()


def test_a_crash_mid_write_leaves_the_store_unchanged(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_store(store_url)
    assert ingest(engine, write_directory(tmp_path / "first", VALID), tmp_path).accepted
    before = snapshot(engine)
    header = TRACES.splitlines()[0] + "\n"
    new_traces = "".join(
        f"T{n},1-01-001-01-9Z-00001,pistol,,2019-01-01,2020-01-01,2020-01-02,US,,,\n"
        for n in range(10, 20)
    )
    later = {**VALID, "traces": header + new_traces}
    writer_class = _writer_class(engine)
    original = writer_class.write
    written: list[int] = []

    def write_then_crash(self: BulkUpsert, frame: pd.DataFrame) -> int:
        if self.table.name == "traces" and written:
            raise RuntimeError("simulated crash after the first traces batch")
        changed = original(self, frame)
        if self.table.name == "traces":
            written.append(changed)
        return changed

    monkeypatch.setattr(writer_class, "write", write_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(engine, write_directory(tmp_path / "later", later), tmp_path, chunk_rows=3)

    assert written == [3]  # a batch did reach the database before the crash
    assert snapshot(engine) == before
    engine.dispose()


def _writer_class(engine: Engine) -> type[BulkUpsert]:
    if engine.dialect.name == "sqlite":
        return SQLiteBulkUpsert
    return PostgresBulkUpsert


def test_duplicates_across_chunks_are_caught(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    repeated = TRACES + TRACES.splitlines()[1] + "\n"  # T1 again, as line 6

    result = ingest(
        engine,
        write_directory(tmp_path / "in", {**VALID, "traces": repeated}),
        tmp_path,
        chunk_rows=2,
    )

    assert [str(problem) for problem in result.first_problems] == [
        "traces.csv:6: trace_id: duplicate trace_id 'T1' (first at line 2)"
    ]


def test_lines_are_physical_despite_quoted_newlines_and_blank_lines(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = open_store(sqlite_url)
    lines = TRACES.splitlines()
    traces = "\n".join(
        [
            lines[0],
            lines[1].replace(",9mm,", ',"9mm\nlong",'),  # spans lines 2-3
            "",  # line 4, blank
            lines[2].replace("rifle", "musket"),  # line 5
        ]
    )
    directory = write_directory(tmp_path / "in", {**VALID, "traces": traces + "\n"})

    result = ingest(engine, directory, tmp_path, chunk_rows=1)

    assert located(result) == {("traces.csv", 5, "firearm_type")}


def test_a_row_with_too_many_fields_is_a_whole_file_error_at_its_line(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = open_store(sqlite_url)
    traces = (
        TRACES + "T9,1-01-001-01-9Z-00001,pistol,,2019-01-01,2020-01-01,2020-01-02,US,,,,surplus\n"
    )
    directory = write_directory(tmp_path / "in", {**VALID, "traces": traces})

    result = ingest(engine, directory, tmp_path)

    assert not result.accepted
    assert [str(problem) for problem in result.first_problems] == [
        "traces.csv:6: *: expected 11 fields, found 12"
    ]


def test_missing_and_unknown_files_are_reported(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    tables = {name: text for name, text in VALID.items() if name != "traces"}
    directory = write_directory(tmp_path / "in", {**tables, "trace": TRACES})
    (directory / "README.md").write_text("notes\n")

    result = ingest(engine, directory, tmp_path)

    assert not result.accepted
    messages = [str(problem) for problem in result.first_problems]
    assert any(m.startswith("trace.csv: *: unknown table 'trace'") for m in messages)
    assert any(m.startswith("traces.csv: *: required file is missing") for m in messages)
    assert result.ignored_files == ["README.md"]
    assert counts(snapshot(engine)) == dict.fromkeys(ROWS, 0)


def test_the_optional_theft_loss_file_may_be_absent(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    tables = {name: text for name, text in VALID.items() if name != "theft_loss"}

    result = ingest(engine, write_directory(tmp_path / "in", tables), tmp_path)

    assert result.accepted
    assert counts(snapshot(engine)) == {**ROWS, "theft_loss": 0}


@pytest.mark.parametrize(("sales", "says"), [
    ("2147483648", "'2147483648' is out of range (at most 2147483647)"),
    ("99999999999999", "'99999999999999' is out of range"),
    ("9" * 400, "is out of range"),
    ("12e3", "'12e3' is not an integer"),
])
def test_an_integer_too_large_is_out_of_range_not_a_non_integer(
    sqlite_url: str, tmp_path: Path, sales: str, says: str
) -> None:
    dealers = DEALERS.replace("2010-05-01,120,urban", f"2010-05-01,{sales},urban")
    engine = open_store(sqlite_url)
    result = ingest(engine, write_directory(tmp_path / "in", {**VALID, "dealers": dealers}),
                    tmp_path)
    engine.dispose()
    found = [p for p in result.first_problems if p.column == "annual_firearm_sales"]
    assert len(found) == 1 and found[0].line == 2 and says in found[0].reason
