"""The store's one columnar read path: contract types, point-in-time filter, both stores."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from data.contract import TABLES_BY_NAME, Kind
from data.store import open_store
from data.store.read import EVENT_TABLE_NAMES, read_table, read_tables
from tests.conftest import make_planted_world
from tests.serving.conftest import load_world

AS_OF = dt.date(2021, 6, 1)


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return make_planted_world(n_dealers=300, seed=11)


def _expected(world: dict[str, pd.DataFrame], name: str, known_before: dt.date | None):
    frame = world[name]
    spec = TABLES_BY_NAME[name]
    if known_before is not None:
        day = pd.Timestamp(known_before)
        if spec.known_date is not None:
            frame = frame[frame[spec.known_date] < day]
        else:
            issue = frame["license_issue_date"]
            frame = frame[issue.isna() | (issue < day)]
    return frame.sort_values(spec.id_column).reset_index(drop=True)


@pytest.mark.parametrize("known_before", [None, AS_OF])
def test_columnar_reads_give_the_stored_rows_in_contract_types(
    store_url: str, world: dict[str, pd.DataFrame], known_before: dt.date | None
) -> None:
    load_world(store_url, world)
    engine = open_store(store_url)
    try:
        frames = read_tables(engine, known_before=known_before)
        assert set(frames) == set(EVENT_TABLE_NAMES)
        for name, frame in frames.items():
            spec = TABLES_BY_NAME[name]
            assert list(frame.columns) == spec.column_names
            expected = _expected(world, name, known_before)
            assert len(frame) == len(expected), name
            for column in spec.columns:
                got = frame[column.name]
                match column.kind:
                    case Kind.DATE:
                        assert str(got.dtype) == "datetime64[s]"
                    case Kind.INTEGER:
                        assert str(got.dtype) == ("int64" if column.required else "Int64")
                    case Kind.BOOLEAN:
                        assert str(got.dtype) == "boolean"
                    case Kind.TEXT:
                        assert pd.api.types.is_string_dtype(got.dtype)
                if column.name in expected.columns:
                    want = expected[column.name]
                    if column.kind is Kind.DATE:
                        want = pd.to_datetime(want).astype("datetime64[s]")
                    assert got.isna().tolist() == want.isna().tolist(), (name, column.name)
                    known = got.notna().to_numpy()
                    assert got[known].astype(str).tolist() == want[known].astype(str).tolist(), (
                        name, column.name)
        # The single-table read is the same path.
        pd.testing.assert_frame_equal(read_table(engine, "traces", known_before),
                                      frames["traces"])
    finally:
        engine.dispose()


def test_an_empty_table_reads_as_typed_empty_columns(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    try:
        frame = read_table(engine, "theft_loss")
    finally:
        engine.dispose()
    assert frame.empty
    assert list(frame.columns) == TABLES_BY_NAME["theft_loss"].column_names
    assert str(frame["report_date"].dtype) == "datetime64[s]"
    assert str(frame["firearm_count"].dtype) == "int64"


def test_a_column_empty_in_its_first_rows_still_reads_with_its_type(store_url: str) -> None:
    """ADBC's SQLite driver guesses types from a first batch; the read must not."""
    world = make_planted_world(n_dealers=1_500, seed=5)
    dealers = world["dealers"].sort_values("license_number").reset_index(drop=True)
    # Empty optional text and date values in the first 1,100 licensees (in read order).
    dealers.loc[:1_099, ["premise_city", "license_issue_date", "annual_firearm_sales"]] = None
    world = {**world, "dealers": dealers}
    load_world(store_url, world)
    engine = open_store(store_url)
    try:
        frame = read_table(engine, "dealers")
    finally:
        engine.dispose()
    assert len(frame) == 1_500
    assert frame["premise_city"].iloc[:1_100].isna().all()
    assert frame["premise_city"].iloc[1_100:].eq("Testville").all()
    assert str(frame["license_issue_date"].dtype) == "datetime64[s]"
    assert frame["license_issue_date"].iloc[1_100:].notna().all()
    assert str(frame["annual_firearm_sales"].dtype) == "Int64"
