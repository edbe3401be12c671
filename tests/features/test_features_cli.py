"""``dealer-risk features``: the same bytes whether or not the store holds later rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from data.settings import get_settings
from data.store import open_store, schema
from data.store.write import upsert_frame

AS_OF = dt.date(2024, 1, 1)
A, B, LATE = "1-11-111-01-1A-00001", "1-11-111-02-1A-00002", "1-11-111-01-1A-00009"


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _dealer(number: str, issued: str, sales: int | None) -> dict[str, Any]:
    return {
        "license_number": number,
        "license_type": number.split("-")[3],
        "business_name": "Synthetic Test Arms",
        "premise_state": "TX",
        "license_issue_date": _d(issued),
        "annual_firearm_sales": sales,
        "urbanicity": "rural",
    }


def _trace(trace_id: str, number: str, traced: str, country: str = "US") -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "license_number": number,
        "firearm_type": "pistol",
        "purchase_date": _d("2021-03-01"),
        "recovery_date": _d(traced) - dt.timedelta(days=3),
        "trace_date": _d(traced),
        "recovery_country": country,
        "purchaser_is_possessor": False,
        "serial_obliterated": None,
    }


def _inspection(inspection_id: str, number: str, closed: str, outcome: str) -> dict[str, Any]:
    return {
        "inspection_id": inspection_id,
        "license_number": number,
        "inspection_date": _d(closed),
        "inspection_type": "compliance",
        "outcome": outcome,
        "violation_count": 2,
        "missing_firearms": 1,
        "violation_codes": "478.124(c)(1)",
    }


EARLY_ROWS: dict[str, list[dict[str, Any]]] = {
    "dealers": [_dealer(A, "2012-05-01", 800), _dealer(B, "2015-01-01", None)],
    "traces": [
        _trace("t1", A, "2023-05-01"),
        _trace("t2", A, "2022-02-01", "MX"),
        _trace("t3", B, "2023-12-31"),
    ],
    "multiple_sales": [
        {
            "report_id": "m1",
            "license_number": A,
            "report_date": _d("2023-02-01"),
            "form": "3310.4",
            "firearm_count": 3,
            "purchaser_key": "k1",
        },
    ],
    "inspections": [_inspection("i1", A, "2020-06-01", "warning_letter")],
    "theft_loss": [
        {
            "report_id": "r1",
            "license_number": B,
            "report_date": _d("2023-07-01"),
            "kind": "theft",
            "firearm_count": 2,
        },
    ],
}

#: Rows known on or after AS_OF, and a licensee licensed on it: none may change the output.
LATE_ROWS: dict[str, list[dict[str, Any]]] = {
    "dealers": [_dealer(LATE, "2024-01-01", 100)],
    "traces": [_trace("t9", A, "2024-01-01"), _trace("t10", LATE, "2024-03-01", "MX")],
    "multiple_sales": [
        {
            "report_id": "m9",
            "license_number": A,
            "report_date": _d("2024-01-01"),
            "form": "3310.4",
            "firearm_count": 5,
            "purchaser_key": "k1",
        },
    ],
    # A revocation closing on AS_OF is not yet known: B stays in the table.
    "inspections": [_inspection("i9", B, "2024-01-01", "revocation")],
    "theft_loss": [
        {
            "report_id": "r9",
            "license_number": A,
            "report_date": _d("2024-06-01"),
            "kind": "loss",
            "firearm_count": 4,
        },
    ],
}


def _insert(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = open_store(url)
    with engine.begin() as connection:
        for name in ("dealers", "traces", "multiple_sales", "inspections", "theft_loss"):
            upsert_frame(connection, schema.CONTRACT_TABLES[name], pd.DataFrame(rows[name]))
    engine.dispose()


@pytest.fixture
def store(store_url: str, dealer_risk_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The parametrised store, named to the CLI through the environment."""
    monkeypatch.setenv("DEALER_RISK_DATABASE_URL", store_url)
    get_settings.cache_clear()
    return store_url


def _features(out: Path) -> bytes:
    result = CliRunner().invoke(app, ["features", "--as-of", AS_OF.isoformat(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_features_are_byte_identical_with_and_without_later_rows(
    store: str, tmp_path: Path, suffix: str
) -> None:
    _insert(store, EARLY_ROWS)
    before = _features(tmp_path / f"before{suffix}")
    _insert(store, LATE_ROWS)
    after = _features(tmp_path / f"after{suffix}")
    assert before == after
    table = (
        pd.read_csv(tmp_path / f"after{suffix}", dtype={"license_number": str})
        if suffix == ".csv"
        else pd.read_parquet(tmp_path / f"after{suffix}")
    )
    assert table["license_number"].tolist() == [A, B]
    by_number = table.set_index("license_number")
    assert by_number.loc[A, "traces_3y"] == 2
    assert by_number.loc[A, "recovered_in_mexico_traces_3y"] == 1
    assert by_number.loc[A, "multiple_sale_firearms_3310_4_1y"] == 3
    assert by_number.loc[A, "last_inspection_outcome_severity"] == 2
    assert by_number.loc[B, "theft_loss_firearms_1y"] == 2
    assert pd.isna(by_number.loc[B, "traces_per_1k_sales_3y"])


def test_the_csv_has_a_fixed_float_format(store: str, tmp_path: Path) -> None:
    _insert(store, EARLY_ROWS)
    text = _features(tmp_path / "features.csv").decode()
    header, first, _second = text.splitlines()
    assert header.startswith("license_number,traces_1y,traces_3y,")
    # A: 2 traces over 3 years of 800 sales a year.
    column = header.split(",").index("traces_per_1k_sales_3y")
    assert first.split(",")[column] == "0.833333333333"


def test_an_unknown_suffix_is_refused_before_the_store_is_read(
    sqlite_url: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["features", "--as-of", "2024-01-01", "--out", str(tmp_path / "f.xlsx")]
    )
    assert result.exit_code != 0
    assert ".csv or .parquet" in result.output
