"""Feature pipelines: hand-computed values on tiny worlds, one test group per family.

Every world here is a handful of rows written out inline; the expected numbers are worked
out by hand in the comments, with as_of = 2024-01-01 unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.pipelines import EventTables, active_licensees, build_features, build_panel
from features.pipelines.dates import as_dates, shift_years, to_days

AS_OF = dt.date(2024, 1, 1)
A = "1-11-111-01-1A-00001"
B = "1-11-111-01-1A-00002"
C = "1-11-111-01-1A-00003"
D = "1-11-111-02-1A-00004"
E = "1-11-111-01-1A-00005"


def dealer(number: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "license_number": number,
        "license_type": number.split("-")[3],
        "business_name": f"Shop {number[-1]}",
        "premise_state": "TX",
        "license_issue_date": "2010-01-01",
        "annual_firearm_sales": 1000,
        "urbanicity": "urban",
    }
    row.update(fields)
    return row


def trace(number: str, trace_date: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trace_id": f"t-{number}-{trace_date}-{fields.get('suffix', '')}",
        "license_number": number,
        "firearm_type": "pistol",
        "purchase_date": "2000-01-01",
        "recovery_date": trace_date,
        "trace_date": trace_date,
        "recovery_country": "US",
        "purchaser_is_possessor": None,
        "serial_obliterated": None,
    }
    row.update(fields)
    row.pop("suffix", None)
    return row


def world(
    dealers: list[dict[str, Any]],
    traces: list[dict[str, Any]] = (),  # type: ignore[assignment]
    multiple_sales: list[dict[str, Any]] = (),  # type: ignore[assignment]
    inspections: list[dict[str, Any]] = (),  # type: ignore[assignment]
    theft_loss: list[dict[str, Any]] | None = (),  # type: ignore[assignment]
) -> EventTables:
    def frame(rows: Any, columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame(list(rows), columns=columns)

    return EventTables(
        dealers=pd.DataFrame(dealers),
        traces=frame(traces, list(trace(A, "2020-01-01"))),
        multiple_sales=frame(
            multiple_sales,
            [
                "report_id",
                "license_number",
                "report_date",
                "form",
                "firearm_count",
                "purchaser_key",
            ],
        ),
        inspections=frame(
            inspections,
            [
                "inspection_id",
                "license_number",
                "inspection_date",
                "inspection_type",
                "outcome",
                "violation_count",
                "missing_firearms",
            ],
        ),
        theft_loss=None
        if theft_loss is None
        else frame(
            theft_loss, ["report_id", "license_number", "report_date", "kind", "firearm_count"]
        ),
    )


def row(tables: EventTables, number: str, as_of: dt.date = AS_OF) -> pd.Series:
    return build_features(tables, as_of).loc[number]


# --- dates --------------------------------------------------------------------------------


def test_shift_years_keeps_the_calendar_date_and_clips_29_february() -> None:
    days = to_days(["2024-02-29", "2024-01-01", "2023-03-31"])
    shifted = as_dates(shift_years(days, -3)).astype(str).tolist()
    assert shifted == ["2021-02-28", "2021-01-01", "2020-03-31"]


# --- trace frequency ----------------------------------------------------------------------


def _trace_frequency_world(extra_traces: list[dict[str, Any]] = ()) -> EventTables:  # type: ignore[assignment]
    dates = [
        "2023-12-31",  # 1y
        "2023-01-01",  # 1y: the window starts on 2023-01-01, inclusive
        "2022-12-31",  # 3y
        "2021-01-01",  # 3y, first day
        "2020-12-31",  # 5y
        "2019-01-01",  # 5y, first day
        "2018-12-31",  # outside every window
        "2024-01-01",  # known on as_of: never counts
    ]
    return world(
        dealers=[
            dealer(A, annual_firearm_sales=1000),
            dealer(B, annual_firearm_sales=500),
            dealer(C, annual_firearm_sales=None),
            dealer(D),  # a pawnbroker: another peer group
            dealer(E, license_issue_date="2024-01-15"),  # not yet licensed
        ],
        traces=[trace(A, day) for day in dates]
        + [trace(B, "2022-06-01"), trace(D, "2023-06-01")]
        + list(extra_traces),
    )


def test_trace_counts_per_window_include_the_first_day_and_exclude_as_of() -> None:
    features = row(_trace_frequency_world(), A)
    assert (features["traces_1y"], features["traces_3y"], features["traces_5y"]) == (2, 4, 6)


def test_traces_per_1k_sales_divide_by_the_windows_estimated_sales() -> None:
    features = row(_trace_frequency_world(), A)
    # 2 traces / (1,000 a year x 1 year) x 1,000; 4 / 3,000 x 1,000; 6 / 5,000 x 1,000.
    assert features["traces_per_1k_sales_1y"] == pytest.approx(2.0)
    assert features["traces_per_1k_sales_3y"] == pytest.approx(4 / 3)
    assert features["traces_per_1k_sales_5y"] == pytest.approx(1.2)
    assert math.isnan(row(_trace_frequency_world(), C)["traces_per_1k_sales_3y"])


def test_a_young_licensees_rate_counts_only_its_years_licensed_but_at_least_one() -> None:
    tables = world(
        dealers=[
            dealer(A, license_issue_date="2022-01-01", annual_firearm_sales=1000),
            dealer(B, license_issue_date="2023-07-01", annual_firearm_sales=1000),
        ],
        traces=[trace(A, "2023-06-01"), trace(B, "2023-12-01")],
    )
    features = build_features(tables, AS_OF)
    # A: licensed 730 days = 1.9986 years -> 1 trace per 1,998.6 sales.
    assert features.loc[A, "traces_per_1k_sales_3y"] == pytest.approx(1000 / (1000 * 730 / 365.25))
    # B: half a year licensed, counted as the one-year minimum.
    assert features.loc[B, "traces_per_1k_sales_3y"] == pytest.approx(1.0)


def test_peer_percentiles_rank_within_license_type_and_state_with_ties_halved() -> None:
    features = build_features(_trace_frequency_world(), AS_OF)
    # Type 01 in TX, active: A (4 traces in 3y), B (1), C (0); E is not licensed yet.
    assert features.loc[A, "traces_3y_peer_percentile"] == pytest.approx(100 * 2.5 / 3)
    assert features.loc[B, "traces_3y_peer_percentile"] == pytest.approx(100 * 1.5 / 3)
    assert features.loc[C, "traces_3y_peer_percentile"] == pytest.approx(100 * 0.5 / 3)
    # D is alone among TX pawnbrokers: the middle.
    assert features.loc[D, "traces_3y_peer_percentile"] == pytest.approx(50.0)
    # Rates: A 1.33, B 0.67 per 1,000 sales; C has no sales figure and is not ranked.
    assert features.loc[A, "traces_per_1k_sales_3y_peer_percentile"] == pytest.approx(75.0)
    assert features.loc[B, "traces_per_1k_sales_3y_peer_percentile"] == pytest.approx(25.0)
    assert math.isnan(features.loc[C, "traces_per_1k_sales_3y_peer_percentile"])
    assert E not in features.index


def test_peers_are_valued_at_the_start_of_the_as_of_month_the_licensee_on_as_of() -> None:
    # B gains 4 traces on 2024-01-10. On 2024-01-20 B's own count is 5, but the peers
    # (A 4, B 1, C 0 on 2024-01-01) are as of the month's first day.
    extra = [trace(B, "2024-01-10", suffix=str(i)) for i in range(4)]
    features = build_features(_trace_frequency_world(extra), dt.date(2024, 1, 20))
    assert features.loc[B, "traces_3y"] == 5
    assert features.loc[B, "traces_3y_peer_percentile"] == pytest.approx(100.0)
    assert features.loc[A, "traces_3y_peer_percentile"] == pytest.approx(100 * 2.5 / 3)


# --- time to crime --------------------------------------------------------------------------


def test_time_to_crime_median_and_short_counts_use_calendar_years() -> None:
    tables = world(
        dealers=[dealer(A), dealer(B)],
        traces=[
            # time-to-crime: 100 days, just under 1 year, exactly 1 year, exactly 3 years,
            # 3 years and a day; all traced within the last 3 years.
            trace(A, "2023-05-01", purchase_date="2023-01-01", recovery_date="2023-04-11"),
            trace(A, "2023-05-02", purchase_date="2022-01-02", recovery_date="2023-01-01"),
            trace(A, "2023-05-03", purchase_date="2022-01-01", recovery_date="2023-01-01"),
            trace(A, "2023-05-04", purchase_date="2020-01-01", recovery_date="2023-01-01"),
            trace(A, "2023-05-05", purchase_date="2019-12-31", recovery_date="2023-01-01"),
            # Traced before the 3-year window: not in any time-to-crime feature.
            trace(A, "2020-06-01", purchase_date="2020-05-01", recovery_date="2020-05-02"),
        ],
    )
    features = build_features(tables, AS_OF)
    a = features.loc[A]
    # Days: 100, 364, 365, 1096, 1097 -> median 365.
    assert a["time_to_crime_median_days_3y"] == 365
    assert a["time_to_crime_under_1y_traces_3y"] == 2
    assert a["time_to_crime_under_1y_share_3y"] == pytest.approx(2 / 5)
    assert a["time_to_crime_at_most_3y_traces_3y"] == 4
    assert a["time_to_crime_at_most_3y_share_3y"] == pytest.approx(4 / 5)
    b = features.loc[B]
    assert math.isnan(b["time_to_crime_median_days_3y"])
    assert math.isnan(b["time_to_crime_under_1y_share_3y"])
    assert b["time_to_crime_under_1y_traces_3y"] == 0


def test_time_to_crime_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    tables = world(
        dealers=[dealer(A)],
        traces=[
            trace(A, "2023-05-01", purchase_date="2023-01-01", recovery_date="2023-01-11"),
            trace(A, "2023-05-02", purchase_date="2023-01-01", recovery_date="2023-01-31"),
        ],
    )
    assert row(tables, A)["time_to_crime_median_days_3y"] == 20


def test_demand_letter_2_counts_short_time_to_crime_traces_of_the_previous_calendar_year() -> None:
    short = {"purchase_date": "2021-01-01", "recovery_date": "2022-12-01"}
    traces = [trace(A, "2023-01-01", suffix=str(i), **short) for i in range(25)]
    traces += [trace(B, "2023-12-31", suffix=str(i), **short) for i in range(24)]
    traces += [
        trace(B, "2022-12-31", **short),  # the year before: not counted
        trace(B, "2023-06-01", purchase_date="2010-01-01", recovery_date="2023-01-01"),  # long
    ]
    features = build_features(world(dealers=[dealer(A), dealer(B)], traces=traces), AS_OF)
    assert features.loc[A, "demand_letter_2_traces_previous_year"] == 25
    assert features.loc[A, "meets_demand_letter_2_previous_year"] == 1
    assert features.loc[B, "demand_letter_2_traces_previous_year"] == 24
    assert features.loc[B, "meets_demand_letter_2_previous_year"] == 0
    # On 2023-12-31, "previous calendar year" is 2022: B's one trace of 2022-12-31 counts.
    earlier = build_features(
        world(dealers=[dealer(A), dealer(B)], traces=traces), dt.date(2023, 12, 31)
    )
    assert earlier.loc[B, "demand_letter_2_traces_previous_year"] == 1
    assert earlier.loc[A, "demand_letter_2_traces_previous_year"] == 0


# --- trace characteristics ------------------------------------------------------------------


def test_trace_characteristics_shares_use_known_values_as_denominators() -> None:
    tables = world(
        dealers=[dealer(A), dealer(B)],
        traces=[
            trace(
                A,
                "2023-01-01",
                recovery_country="MX",
                purchaser_is_possessor=True,
                serial_obliterated=True,
                firearm_type="rifle",
            ),
            trace(
                A,
                "2023-02-01",
                recovery_country="US",
                purchaser_is_possessor=False,
                serial_obliterated=None,
                firearm_type="pistol",
            ),
            trace(
                A,
                "2023-03-01",
                recovery_country="MX",
                purchaser_is_possessor=None,
                serial_obliterated=False,
                firearm_type="rifle",
            ),
            trace(
                A,
                "2023-04-01",
                recovery_country="US",
                purchaser_is_possessor=False,
                serial_obliterated=False,
                firearm_type="rifle",
            ),
            # Outside the 3-year window: ignored.
            trace(
                A,
                "2020-01-01",
                recovery_country="MX",
                purchaser_is_possessor=False,
                serial_obliterated=True,
                firearm_type="rifle",
            ),
        ],
    )
    features = build_features(tables, AS_OF)
    a = features.loc[A]
    assert a["recovered_in_mexico_traces_3y"] == 2
    assert a["recovered_in_mexico_share_3y"] == pytest.approx(0.5)
    assert a["possessor_not_purchaser_share_3y"] == pytest.approx(2 / 3)
    assert a["serial_obliterated_traces_3y"] == 1
    assert a["serial_obliterated_share_3y"] == pytest.approx(1 / 3)
    assert a["rifle_share_3y"] == pytest.approx(0.75)
    b = features.loc[B]
    assert b["recovered_in_mexico_traces_3y"] == 0
    assert all(math.isnan(b[name]) for name in ("recovered_in_mexico_share_3y", "rifle_share_3y"))


def test_boolean_columns_may_arrive_as_contract_text() -> None:
    tables = world(
        dealers=[dealer(A)],
        traces=[
            trace(A, "2023-01-01", purchaser_is_possessor="false", serial_obliterated="true"),
            trace(A, "2023-01-02", purchaser_is_possessor="true", serial_obliterated=""),
        ],
    )
    a = row(tables, A)
    assert a["possessor_not_purchaser_share_3y"] == pytest.approx(0.5)
    assert a["serial_obliterated_share_3y"] == pytest.approx(1.0)


# --- multiple sales -------------------------------------------------------------------------


def _report(
    number: str, report_date: str, form: str, firearms: int, key: str | None
) -> dict[str, Any]:
    return {
        "report_id": f"m-{report_date}-{form}-{firearms}",
        "license_number": number,
        "report_date": report_date,
        "form": form,
        "firearm_count": firearms,
        "purchaser_key": key,
    }


def test_multiple_sales_by_form_and_window_per_sales_and_repeat_purchasers() -> None:
    tables = world(
        dealers=[dealer(A, annual_firearm_sales=500), dealer(B)],
        multiple_sales=[
            _report(A, "2023-06-01", "3310.4", 2, "p1"),
            _report(A, "2022-06-01", "3310.4", 3, "p1"),
            _report(A, "2023-03-01", "3310.12", 4, "p2"),
            _report(A, "2020-06-01", "3310.4", 2, "p2"),  # outside 3 years
            _report(A, "2023-09-01", "3310.4", 5, None),  # no purchaser key
            _report(A, "2024-01-01", "3310.12", 2, "p2"),  # known on as_of
            _report(B, "2023-06-01", "3310.4", 2, "p1"),  # same key, other licensee
        ],
    )
    features = build_features(tables, AS_OF)
    a = features.loc[A]
    assert a["multiple_sale_reports_3310_4_1y"] == 2
    assert a["multiple_sale_firearms_3310_4_1y"] == 7
    assert a["multiple_sale_reports_3310_4_3y"] == 3
    assert a["multiple_sale_firearms_3310_4_3y"] == 10
    assert a["multiple_sale_reports_3310_12_1y"] == a["multiple_sale_reports_3310_12_3y"] == 1
    assert a["multiple_sale_firearms_3310_12_1y"] == a["multiple_sale_firearms_3310_12_3y"] == 4
    # 3 years of 500 sales = 1,500 firearms: 4 reports and 14 firearms.
    assert a["multiple_sale_reports_per_1k_sales_3y"] == pytest.approx(4000 / 1500)
    assert a["multiple_sale_firearms_per_1k_sales_3y"] == pytest.approx(14000 / 1500)
    # p1 is in two of A's reports; p2 in one within the window.
    assert a["repeat_multiple_sale_purchasers_3y"] == 1
    assert features.loc[B, "repeat_multiple_sale_purchasers_3y"] == 0


# --- theft and loss -------------------------------------------------------------------------


def test_theft_loss_reports_and_firearms_per_window_and_per_sales() -> None:
    reports = [
        {
            "report_id": "r1",
            "license_number": A,
            "report_date": "2023-05-01",
            "kind": "theft",
            "firearm_count": 3,
        },
        {
            "report_id": "r2",
            "license_number": A,
            "report_date": "2021-06-01",
            "kind": "loss",
            "firearm_count": 1,
        },
        {
            "report_id": "r3",
            "license_number": A,
            "report_date": "2020-01-01",
            "kind": "theft",
            "firearm_count": 10,
        },
        {
            "report_id": "r4",
            "license_number": A,
            "report_date": "2024-01-01",
            "kind": "theft",
            "firearm_count": 7,
        },
    ]
    tables = world(dealers=[dealer(A, annual_firearm_sales=2000)], theft_loss=reports)
    a = row(tables, A)
    assert (a["theft_loss_reports_1y"], a["theft_loss_firearms_1y"]) == (1, 3)
    assert (a["theft_loss_reports_3y"], a["theft_loss_firearms_3y"]) == (2, 4)
    assert a["theft_loss_firearms_per_1k_sales_3y"] == pytest.approx(4000 / 6000)


def test_a_world_without_a_theft_loss_table_has_no_theft_or_loss() -> None:
    a = row(world(dealers=[dealer(A)], theft_loss=None), A)
    assert a["theft_loss_reports_3y"] == 0
    assert a["theft_loss_firearms_per_1k_sales_3y"] == 0


# --- inspection history ---------------------------------------------------------------------


def _inspection(
    number: str, day: str, outcome: str, violations: int, missing: int | None
) -> dict[str, Any]:
    return {
        "inspection_id": f"i-{number}-{day}-{outcome}",
        "license_number": number,
        "inspection_date": day,
        "inspection_type": "compliance",
        "outcome": outcome,
        "violation_count": violations,
        "missing_firearms": missing,
    }


def _inspection_world() -> EventTables:
    return world(
        dealers=[dealer(A), dealer(B), dealer(C)],
        inspections=[
            _inspection(A, "2019-03-01", "warning_conference", 4, 10),
            _inspection(A, "2022-05-01", "violations_cited", 2, None),
            _inspection(A, "2022-05-01", "no_violations", 0, 0),  # same day, less severe
            _inspection(A, "2024-01-01", "revocation", 9, 50),  # closes on as_of
            _inspection(C, "2023-01-01", "revocation", 12, 3),
        ],
    )


def test_inspection_history_counts_sums_and_the_last_inspection() -> None:
    a = row(_inspection_world(), A)
    assert a["inspections_total"] == 3
    assert a["never_inspected"] == 0
    assert a["days_since_last_inspection"] == (dt.date(2024, 1, 1) - dt.date(2022, 5, 1)).days
    assert a["serious_outcomes_total"] == 1
    assert a["violations_total"] == 6
    assert a["missing_firearms_total"] == 10
    # Two inspections closed on the last day: the more severe one is "the last".
    assert a["violations_at_last_inspection"] == 2
    assert math.isnan(a["missing_firearms_at_last_inspection"])
    assert a["last_inspection_outcome_severity"] == 1


def test_a_never_inspected_licensee_has_zero_counts_and_missing_last_values() -> None:
    b = row(_inspection_world(), B)
    assert (b["inspections_total"], b["never_inspected"], b["violations_total"]) == (0, 1, 0)
    for name in (
        "days_since_last_inspection",
        "violations_at_last_inspection",
        "last_inspection_outcome_severity",
        "missing_firearms_at_last_inspection",
    ):
        assert math.isnan(b[name])


def test_a_licensee_revoked_before_as_of_is_not_active() -> None:
    tables = _inspection_world()
    assert C not in build_features(tables, AS_OF).index
    # Revoked on 2023-01-01: still active on that day (known only strictly before counts).
    on_the_day = build_features(tables, dt.date(2023, 1, 1))
    assert C in on_the_day.index
    assert on_the_day.loc[C, "inspections_total"] == 0
    assert list(active_licensees(tables, AS_OF)) == [A, B]


# --- profile --------------------------------------------------------------------------------


def test_profile_years_licensed_sales_and_license_type() -> None:
    tables = world(
        dealers=[
            dealer(A, license_issue_date="2014-01-01", annual_firearm_sales=250),
            dealer(D, license_issue_date=None, annual_firearm_sales=None),
            dealer(B, license_issue_date="2023-12-31"),
            dealer(C, license_issue_date="2024-01-01"),  # licensed on as_of: not yet active
        ],
    )
    features = build_features(tables, AS_OF)
    assert list(features.index) == [A, B, D]
    assert features.loc[A, "years_licensed"] == pytest.approx(3652 / 365.25)
    assert features.loc[A, "estimated_annual_firearm_sales"] == 250
    assert features.loc[A, "license_type_dealer"] == 1
    assert features.loc[A, "license_type_pawnbroker"] == 0
    assert math.isnan(features.loc[D, "years_licensed"])
    assert math.isnan(features.loc[D, "estimated_annual_firearm_sales"])
    assert features.loc[D, "license_type_pawnbroker"] == 1
    assert features.loc[B, "years_licensed"] == pytest.approx(1 / 365.25)


def test_urbanicity_is_not_a_feature() -> None:
    features = build_features(world(dealers=[dealer(A)]), AS_OF)
    assert not any("urban" in name for name in features.columns)


# --- shape and types ------------------------------------------------------------------------


def test_counts_are_integers_and_the_index_is_license_number_in_order() -> None:
    features = build_features(_trace_frequency_world(), AS_OF)
    assert features.index.name == "license_number"
    assert features.index.is_monotonic_increasing
    assert features["traces_3y"].dtype == np.int64
    assert features["traces_per_1k_sales_3y"].dtype == np.float64


def test_events_of_unknown_licensees_are_ignored() -> None:
    tables = world(dealers=[dealer(A)], traces=[trace(A, "2023-01-01"), trace(B, "2023-01-01")])
    assert build_features(tables, AS_OF)["traces_3y"].tolist() == [1]


def test_duplicate_license_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="not unique"):
        build_features(world(dealers=[dealer(A), dealer(A)]), AS_OF)


def test_panel_drops_pairs_of_inactive_or_unknown_licensees_and_keeps_the_index() -> None:
    pairs = pd.DataFrame(
        {
            "license_number": [C, A, "9-99-999-01-9Z-99999", C],
            "as_of": ["2024-01-01", "2024-01-01", "2024-01-01", "2022-06-01"],
        },
        index=[10, 11, 12, 13],
    )
    panel = build_panel(_inspection_world(), pairs)
    assert panel.index.tolist() == [11, 13]
    assert panel["license_number"].tolist() == [A, C]
    assert panel.loc[11, "inspections_total"] == 3
