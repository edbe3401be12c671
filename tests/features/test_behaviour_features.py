"""Behaviour over time and rates shrunk toward peers: hand-computed values on tiny worlds.

as_of = 2024-01-01 unless a test says otherwise; the helpers are test_pipelines'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.pipelines import build_features
from features.pipelines.families import MIN_PRIOR_PEERS
from tests.features.test_pipelines import AS_OF, A, B, D, dealer, row, trace, world

HALF_LIFE_DAYS = 365.25


def _number(index: int, license_type: str = "01") -> str:
    return f"1-11-111-{license_type}-1A-{index:05d}"


def _marshall(counts: np.ndarray, exposure: np.ndarray) -> tuple[float, float]:
    """The method-of-moments gamma prior docs/features.md gives, written out again."""
    mean = counts.sum() / exposure.sum()
    spread = (exposure * (counts / exposure - mean) ** 2).sum() / exposure.sum()
    variance = max(spread - mean / exposure.mean(), (mean / 10) ** 2)
    return mean * mean / variance, mean / variance


def test_a_small_sellers_rate_is_pulled_to_its_peers_and_a_large_sellers_hardly() -> None:
    # 24 Texas dealers selling 1,000 a year with 0..23 traces in 3 years, one shop selling
    # 3 a year with 1 trace (a raw rate of 111 per 1,000), one big shop with 300 traces.
    peers = [dealer(_number(i)) for i in range(24)]
    small, big = _number(90), _number(91)
    dealers_ = [*peers, dealer(small, annual_firearm_sales=3), dealer(big)]
    traces = [trace(_number(i), "2022-06-01", suffix=str(k)) for i in range(24) for k in range(i)]
    traces += [trace(small, "2023-06-01")]
    traces += [trace(big, "2022-06-01", suffix=str(k)) for k in range(300)]
    features = build_features(world(dealers_, traces), AS_OF)
    counts = np.array([*range(24), 1, 300], dtype=float)
    exposure = np.array([3000.0] * 24 + [9.0, 3000.0])
    shape, rate = _marshall(counts, exposure)
    expected_small = 1000 * (1 + shape) / (9 + rate)
    assert features.loc[small, "traces_per_1k_sales_3y_shrunk"] == pytest.approx(expected_small)
    # Raw counts and the raw rate stay as they were.
    assert features.loc[small, "traces_3y"] == 1
    assert features.loc[small, "traces_per_1k_sales_3y"] == pytest.approx(1000 / 9)
    peer_mean = 1000 * counts.sum() / exposure.sum()
    assert abs(expected_small - peer_mean) < abs(1000 / 9 - peer_mean) / 2
    big_raw = 100.0
    big_shrunk = features.loc[big, "traces_per_1k_sales_3y_shrunk"]
    assert peer_mean < big_shrunk < big_raw and big_raw - big_shrunk < big_raw - peer_mean
    # No sales figure: no rate, shrunk or not.
    no_sales = dealer(_number(77), annual_firearm_sales=None)
    unknown = build_features(world([*dealers_, no_sales], traces), AS_OF)
    assert math.isnan(unknown.loc[_number(77), "traces_per_1k_sales_3y_shrunk"])


def test_a_small_peer_group_borrows_the_prior_of_its_license_type_nationwide() -> None:
    texas = [dealer(_number(i)) for i in range(MIN_PRIOR_PEERS)]
    ohio = dealer(_number(50), premise_state="OH", annual_firearm_sales=10)
    traces = [trace(_number(i), "2022-06-01", suffix=str(k)) for i in range(5) for k in range(i)]
    traces += [trace(_number(50), "2023-01-01", suffix=str(k)) for k in range(3)]
    features = build_features(world([*texas, ohio], traces), AS_OF)
    counts = np.array([0, 1, 2, 3, 4] + [0] * (MIN_PRIOR_PEERS - 5) + [3], dtype=float)
    exposure = np.array([3000.0] * MIN_PRIOR_PEERS + [30.0])
    shape, rate = _marshall(counts, exposure)
    assert features.loc[_number(50), "traces_per_1k_sales_3y_shrunk"] == pytest.approx(
        1000 * (3 + shape) / (30 + rate))
    # The Texas group is large enough for its own prior (Ohio's shop is not among them).
    shape, rate = _marshall(counts[:-1], exposure[:-1])
    assert features.loc[_number(4), "traces_per_1k_sales_3y_shrunk"] == pytest.approx(
        1000 * (4 + shape) / (3000 + rate))


def _short(number: str, day: str, suffix: str = "") -> dict[str, Any]:
    """A trace recovered 30 days after its sale (a short time-to-crime), known on ``day``."""
    sold = (dt.date.fromisoformat(day) - dt.timedelta(days=30)).isoformat()
    return trace(number, day, purchase_date=sold, suffix=suffix)


def test_short_time_to_crime_this_year_against_the_earlier_years() -> None:
    tables = world(
        dealers=[dealer(A), dealer(B)],
        traces=[
            _short(A, "2020-03-01"),  # 4 years before: y3 (2020-01-01 .. 2021-01-01)
            _short(A, "2022-06-01"),  # y1
            _short(A, "2023-02-01", "a"), _short(A, "2023-05-01", "b"),
            _short(A, "2023-12-31", "c"),  # y0: 3
            trace(A, "2023-08-01"),  # a long time-to-crime: not counted
            _short(A, "2024-01-01"),  # known on as_of: not yet
            trace(B, "2023-08-01"),
        ],
    )
    a = row(tables, A)
    assert a["time_to_crime_under_1y_traces_1y"] == 3
    # y0 = 3 against the mean of y1..y4 = (1 + 0 + 1 + 0) / 4.
    assert a["time_to_crime_under_1y_change_1y"] == pytest.approx(3 - 0.5)
    b = row(tables, B)
    assert b["time_to_crime_under_1y_traces_1y"] == b["time_to_crime_under_1y_change_1y"] == 0


def test_decayed_counts_halve_with_each_year_back() -> None:
    tables = world(
        dealers=[dealer(A)],
        traces=[_short(A, "2023-12-31"), trace(A, "2023-01-01"), trace(A, "2022-06-01"),
                trace(A, "2018-06-01"), _short(A, "2024-01-01")],
    )
    a = row(tables, A)
    # The last 12 months count 1 each, the 12 before 1/2; 2018 is beyond the 5 years.
    assert a["traces_decayed"] == 1 + 1 + 0.5
    assert a["time_to_crime_under_1y_traces_decayed"] == 1


def test_trace_shares_per_sale_and_recoveries_abroad() -> None:
    tables = world(
        dealers=[dealer(A), dealer(B, annual_firearm_sales=None)],
        traces=[trace(A, "2023-01-01", recovery_country="MX", suffix="1"),
                trace(A, "2023-01-01", recovery_country="CA", suffix="2"),
                trace(A, "2023-01-01", purchaser_is_possessor=False, suffix="3"),
                trace(B, "2023-01-01", recovery_country="MX")],
    )
    features = build_features(tables, AS_OF)
    # A alone has a known volume: its own group has too few members for a local prior,
    # and the national type-01 prior is fitted on A alone, so its mean is A's own rate.
    assert features.loc[A, "recovered_abroad_per_1k_sales_3y_shrunk"] == pytest.approx(
        2000 / 3000)
    assert features.loc[A, "possessor_not_purchaser_per_1k_sales_3y_shrunk"] == pytest.approx(
        1000 / 3000)
    assert math.isnan(features.loc[B, "recovered_abroad_per_1k_sales_3y_shrunk"])


def test_quick_recoveries_from_someone_other_than_the_buyer() -> None:
    # Recovered within a year of the sale (a short time-to-crime) or not, from the buyer or
    # not, or unrecorded: only quick recoveries that record the possessor count.
    def quick(suffix: str, possessor: bool | None, purchase: str = "2022-09-01") -> Any:
        return trace(A, "2023-03-01", purchase_date=purchase, purchaser_is_possessor=possessor,
                     suffix=suffix)
    tables = world(
        dealers=[dealer(A), dealer(B)],
        traces=[quick("1", False), quick("2", False), quick("3", True), quick("4", None),
                quick("5", False, purchase="2021-01-01"),  # two years: not quick
                trace(A, "2020-06-01", purchase_date="2020-03-01",
                      purchaser_is_possessor=False, suffix="6"),  # outside 3 years
                trace(B, "2023-03-01", purchase_date="2010-01-01", purchaser_is_possessor=False)],
    )
    features = build_features(tables, AS_OF)
    a = features.loc[A]
    assert a["time_to_crime_under_1y_not_purchaser_traces_3y"] == 2
    assert a["time_to_crime_under_1y_not_purchaser_share_3y"] == pytest.approx(2 / 3)
    # B's only trace is an old gun: no quick recovery, so no share, and a count of zero.
    assert features.loc[B, "time_to_crime_under_1y_not_purchaser_traces_3y"] == 0
    assert math.isnan(features.loc[B, "time_to_crime_under_1y_not_purchaser_share_3y"])


def _report(number: str, day: str, count: int, key: str | None) -> dict[str, Any]:
    return {"report_id": f"m-{number}-{day}-{key}", "license_number": number,
            "report_date": day, "form": "3310.4", "firearm_count": count, "purchaser_key": key}


def test_repeat_purchasers_share_of_reports_and_decay() -> None:
    tables = world(
        dealers=[dealer(A), dealer(B)],
        multiple_sales=[
            _report(A, "2023-06-01", 2, "p1"), _report(A, "2022-06-01", 4, "p1"),
            _report(A, "2023-03-01", 3, "p2"), _report(A, "2023-09-01", 3, None),
            _report(A, "2019-01-01", 2, "p2"),  # outside 3 years
        ],
    )
    features = build_features(tables, AS_OF)
    a = features.loc[A]
    # p1 is in 2 of the 4 reports of the last 3 years.
    assert a["repeat_purchaser_report_share_3y"] == pytest.approx(0.5)
    # 2 + 4 + 3 + 3 firearms in those 4 reports.
    assert a["multiple_sale_firearms_per_report_3y"] == pytest.approx(12 / 4)
    # Three reports of the last 12 months, one of the 12 before (half).
    assert a["multiple_sale_reports_decayed"] == 3.5
    assert math.isnan(features.loc[B, "repeat_purchaser_report_share_3y"])
    assert math.isnan(features.loc[B, "multiple_sale_firearms_per_report_3y"])


def _inspection(number: str, day: str, outcome: str, missing: int | None = None,
                codes: str | None = None, kind: str = "compliance") -> dict[str, Any]:
    return {"inspection_id": f"i-{number}-{day}", "license_number": number,
            "inspection_date": day, "inspection_type": kind, "outcome": outcome,
            "violation_count": 0 if outcome == "no_violations" else 2,
            "missing_firearms": missing, "violation_codes": codes}


def test_inspection_history_with_decay_citations_and_the_last_compliance_inspection() -> None:
    tables = world(dealers=[dealer(A, annual_firearm_sales=500), dealer(B), dealer(D)])
    # world() keeps only the required inspection columns; violation codes are optional.
    tables = dataclasses.replace(tables, inspections=pd.DataFrame([
            _inspection(A, "2018-01-01", "warning_conference", 10,
                        "478.99(c);478.124(c)(1);478.125(e)"),
            _inspection(A, "2021-01-01", "violations_cited", 4, "478.102(a);478.21(a)"),
            _inspection(A, "2023-01-01", "no_violations", 0, kind="other"),
            _inspection(B, "2022-01-01", "warning_letter", None, "478.124(c)(1)"),
            _inspection(B, "2024-01-01", "revocation", 9),  # closes on as_of: not known
        ]))
    features = build_features(tables, AS_OF)
    a, b = features.loc[A], features.loc[B]
    age_serious = (AS_OF - dt.date(2018, 1, 1)).days
    half_life = 3 * HALF_LIFE_DAYS
    assert a["serious_outcomes_decayed"] == pytest.approx(2 ** (-age_serious / half_life))
    ages = np.array([age_serious, (AS_OF - dt.date(2021, 1, 1)).days])
    missing = (np.array([10, 4]) * np.exp2(-ages / half_life)).sum()
    assert a["missing_firearms_decayed_per_1k_annual_sales"] == pytest.approx(
        missing * 1000 / 500)
    assert a["prohibited_sale_citations_total"] == 2
    assert a["record_keeping_citations_total"] == 2
    # The last inspection was not a compliance one; the last compliance one cited.
    assert a["last_compliance_inspection_cited"] == 1
    assert b["last_compliance_inspection_cited"] == 1
    assert b["prohibited_sale_citations_total"] == 0
    assert b["serious_outcomes_decayed"] == 0
    d = features.loc[D]
    assert d["last_compliance_inspection_cited"] == 0
    assert d["missing_firearms_decayed_per_1k_annual_sales"] == 0
