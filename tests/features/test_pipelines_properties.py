"""Invariants of the feature pipelines, checked on generated worlds (hypothesis).

* Point in time: rows known on or after as_of (and licensees licensed on or after it)
  change nothing in the feature table.
* Panels: a training panel's row equals the feature table's row of the same licensee on
  the same date.
* Row order of the input tables does not matter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.contract import FIREARM_TYPES, OUTCOMES
from features.pipelines import EventTables, build_features, build_panel, prepare_world
from features.pipelines.families import fit_gamma_prior, shrunk_rate

EPOCH = dt.date(2012, 1, 1)
HORIZON_DAYS = 13 * 365  # events between 2012 and the end of 2024
LICENSE_TYPES = ("01", "02", "07")
STATES = ("TX", "AZ")
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _day(offset: int) -> dt.date:
    return EPOCH + dt.timedelta(days=offset)


def _number(index: int, license_type: str) -> str:
    return f"1-11-111-{license_type}-1A-{index:05d}"


@st.composite
def dealers(
    draw: st.DrawFn, first: int, count: int, earliest_issue: int | None = None
) -> list[dict[str, Any]]:
    """``count`` licensees numbered from ``first``; issue dates on or after ``earliest_issue``."""
    rows = []
    for index in range(first, first + count):
        license_type = draw(st.sampled_from(LICENSE_TYPES))
        if earliest_issue is None:
            issue = draw(st.one_of(st.none(), st.integers(-3000, HORIZON_DAYS).map(_day)))
        else:
            issue = _day(draw(st.integers(earliest_issue, earliest_issue + 800)))
        rows.append(
            {
                "license_number": _number(index, license_type),
                "license_type": license_type,
                "business_name": f"Shop {index}",
                "premise_state": draw(st.sampled_from(STATES)),
                "license_issue_date": issue,
                "annual_firearm_sales": draw(st.one_of(st.none(), st.integers(0, 3000))),
            }
        )
    return rows


@st.composite
def events(
    draw: st.DrawFn, numbers: list[str], low: int, high: int, tag: str
) -> dict[str, pd.DataFrame]:
    """Event rows for ``numbers`` whose known-dates lie in ``[low, high]`` (day offsets)."""
    known = st.integers(low, high)
    n_traces = draw(st.integers(0, 25))
    traces = []
    for index in range(n_traces):
        trace_day = draw(known)
        recovery = trace_day - draw(st.integers(0, 200))
        purchase = recovery - draw(st.integers(0, 2500))
        traces.append(
            {
                "trace_id": f"{tag}t{index}",
                "license_number": draw(st.sampled_from(numbers)),
                "firearm_type": draw(st.sampled_from(FIREARM_TYPES)),
                "purchase_date": _day(purchase),
                "recovery_date": _day(recovery),
                "trace_date": _day(trace_day),
                "recovery_country": draw(st.sampled_from(("US", "MX"))),
                "purchaser_is_possessor": draw(st.sampled_from((None, True, False))),
                "serial_obliterated": draw(st.sampled_from((None, True, False))),
            }
        )
    reports = [
        {
            "report_id": f"{tag}m{index}",
            "license_number": draw(st.sampled_from(numbers)),
            "report_date": _day(draw(known)),
            "form": draw(st.sampled_from(("3310.4", "3310.12"))),
            "firearm_count": draw(st.integers(2, 9)),
            "purchaser_key": draw(st.sampled_from((None, "p1", "p2", "p3"))),
        }
        for index in range(draw(st.integers(0, 12)))
    ]
    inspections = [
        {
            "inspection_id": f"{tag}i{index}",
            "license_number": draw(st.sampled_from(numbers)),
            "inspection_date": _day(draw(known)),
            "inspection_type": draw(st.sampled_from(("compliance", "compliance", "other"))),
            "outcome": draw(st.sampled_from(OUTCOMES)),
            "violation_count": draw(st.integers(0, 6)),
            "missing_firearms": draw(st.one_of(st.none(), st.integers(0, 20))),
            "violation_codes": draw(st.sampled_from(
                (None, "478.99(c)", "478.124(c)(1);478.125(e)", "478.102(a);478.21(a)"))),
        }
        for index in range(draw(st.integers(0, 8)))
    ]
    theft_loss = [
        {
            "report_id": f"{tag}r{index}",
            "license_number": draw(st.sampled_from(numbers)),
            "report_date": _day(draw(known)),
            "kind": draw(st.sampled_from(("theft", "loss"))),
            "firearm_count": draw(st.integers(1, 9)),
        }
        for index in range(draw(st.integers(0, 6)))
    ]
    return {
        "traces": pd.DataFrame(
            traces,
            columns=None
            if traces
            else [
                "trace_id",
                "license_number",
                "firearm_type",
                "purchase_date",
                "recovery_date",
                "trace_date",
                "recovery_country",
            ],
        ),
        "multiple_sales": pd.DataFrame(
            reports,
            columns=None
            if reports
            else [
                "report_id",
                "license_number",
                "report_date",
                "form",
                "firearm_count",
                "purchaser_key",
            ],
        ),
        "inspections": pd.DataFrame(
            inspections,
            columns=None
            if inspections
            else [
                "inspection_id",
                "license_number",
                "inspection_date",
                "inspection_type",
                "outcome",
                "violation_count",
                "missing_firearms",
                "violation_codes",
            ],
        ),
        "theft_loss": pd.DataFrame(
            theft_loss,
            columns=None
            if theft_loss
            else ["report_id", "license_number", "report_date", "kind", "firearm_count"],
        ),
    }


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, pd.DataFrame]]:
    rows = draw(dealers(first=1, count=draw(st.integers(1, 6))))
    numbers = [row["license_number"] for row in rows]
    return rows, draw(events(numbers, 0, HORIZON_DAYS, tag="a"))


def _tables(dealer_rows: list[dict[str, Any]], frames: dict[str, pd.DataFrame]) -> EventTables:
    return EventTables(dealers=pd.DataFrame(dealer_rows), **frames)


def _concat(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    if second.empty:
        return first
    if first.empty:
        return second
    return pd.concat([first, second], ignore_index=True)


@PROPERTY_SETTINGS
@given(world=worlds(), as_of_offset=st.integers(300, HORIZON_DAYS), data=st.data())
def test_rows_known_on_or_after_as_of_change_nothing(
    world: tuple[list[dict[str, Any]], dict[str, pd.DataFrame]],
    as_of_offset: int,
    data: st.DataObject,
) -> None:
    dealer_rows, frames = world
    as_of = _day(as_of_offset)
    before = build_features(_tables(dealer_rows, frames), as_of)

    # Later licensees (issued on or after as_of) and later events of anyone.
    newcomers = data.draw(
        dealers(first=100, count=data.draw(st.integers(0, 3)), earliest_issue=as_of_offset)
    )
    numbers = [row["license_number"] for row in dealer_rows + newcomers]
    later = data.draw(events(numbers, as_of_offset, as_of_offset + 3000, tag="z"))
    grown = {name: _concat(frames[name], later[name]) for name in frames}
    after = build_features(_tables(dealer_rows + newcomers, grown), as_of)

    pd.testing.assert_frame_equal(before, after, check_exact=True)


@PROPERTY_SETTINGS
@given(world=worlds(), seed=st.integers(0, 2**16))
def test_a_panel_row_equals_the_feature_table_row_of_its_date(
    world: tuple[list[dict[str, Any]], dict[str, pd.DataFrame]], seed: int
) -> None:
    dealer_rows, frames = world
    tables = _tables(dealer_rows, frames)
    generator = np.random.default_rng(seed)
    numbers = [row["license_number"] for row in dealer_rows]
    dates = [_day(int(offset)) for offset in generator.integers(0, HORIZON_DAYS + 400, size=6)]
    pairs = pd.DataFrame(
        {
            "license_number": generator.choice(numbers, size=15),
            "as_of": generator.choice(np.array(dates, dtype=object), size=15),
        }
    )
    panel = build_panel(tables, pairs)
    _assert_panel_matches_feature_tables(tables, pairs, panel)


def _assert_panel_matches_feature_tables(
    tables: Any, pairs: pd.DataFrame, panel: pd.DataFrame
) -> None:
    world = prepare_world(tables) if not hasattr(tables, "licensees") else tables
    expected_rows = []
    expected_index = []
    for as_of, group in pairs.groupby("as_of", sort=False):
        table = build_features(world, pd.Timestamp(as_of).date())
        for index, number in zip(group.index, group["license_number"], strict=True):
            if number in table.index:
                expected_index.append(index)
                expected_rows.append(table.loc[number])
    actual = panel.drop(columns=["license_number", "as_of"]).sort_index()
    expected = pd.DataFrame(
        expected_rows, index=pd.Index(expected_index, dtype=np.int64), columns=actual.columns
    )
    expected = expected.sort_index()
    assert list(actual.index) == list(expected.index)
    pd.testing.assert_frame_equal(
        actual, expected.astype(actual.dtypes.to_dict()), check_exact=True, check_names=False
    )


def test_a_large_random_panel_equals_per_date_feature_tables() -> None:
    """Many licensees, thousands of events, 400 pairs on 40 dates: vectorised == one by one."""
    generator = np.random.default_rng(7)
    n_dealers = 300
    types = generator.choice(np.array(LICENSE_TYPES), n_dealers)
    numbers = [_number(i, t) for i, t in enumerate(types)]
    issue_offsets = generator.integers(-4000, HORIZON_DAYS, n_dealers)
    dealer_frame = pd.DataFrame(
        {
            "license_number": numbers,
            "license_type": types,
            "business_name": "Shop",
            "premise_state": generator.choice(np.array(STATES), n_dealers),
            "license_issue_date": [
                None if i % 17 == 0 else _day(int(o)) for i, o in enumerate(issue_offsets)
            ],
            "annual_firearm_sales": [
                None if i % 13 == 0 else int(s)
                for i, s in enumerate(generator.integers(0, 5000, n_dealers))
            ],
        }
    )

    def days(size: int) -> pd.Series:
        return pd.Series(
            pd.to_datetime(EPOCH)
            + pd.to_timedelta(generator.integers(0, HORIZON_DAYS, size), unit="D")
        )

    n = 6000
    trace_day = days(n)
    recovery = trace_day - pd.to_timedelta(generator.integers(0, 100, n), unit="D")
    purchase = recovery - pd.to_timedelta(generator.integers(0, 3000, n), unit="D")
    traces = pd.DataFrame(
        {
            "trace_id": [f"t{i}" for i in range(n)],
            "license_number": generator.choice(numbers, n),
            "firearm_type": generator.choice(np.array(FIREARM_TYPES), n),
            "purchase_date": purchase,
            "recovery_date": recovery,
            "trace_date": trace_day,
            "recovery_country": generator.choice(np.array(["US", "MX"]), n),
            "purchaser_is_possessor": pd.array(
                generator.choice([True, False, None], n), dtype="boolean"
            ),
            "serial_obliterated": pd.array(
                generator.choice([True, False, None], n), dtype="boolean"
            ),
        }
    )
    m = 2000
    reports = pd.DataFrame(
        {
            "report_id": [f"m{i}" for i in range(m)],
            "license_number": generator.choice(numbers, m),
            "report_date": days(m),
            "form": generator.choice(np.array(["3310.4", "3310.12"]), m),
            "firearm_count": generator.integers(2, 8, m),
            "purchaser_key": generator.choice(
                np.array(["k1", "k2", "k3", "k4", None], dtype=object), m
            ),
        }
    )
    k = 1200
    inspections = pd.DataFrame(
        {
            "inspection_id": [f"i{i}" for i in range(k)],
            "license_number": generator.choice(numbers, k),
            "inspection_date": days(k),
            "inspection_type": "compliance",
            "outcome": generator.choice(np.array(OUTCOMES), k, p=[0.5, 0.2, 0.15, 0.1, 0.05]),
            "violation_count": generator.integers(0, 5, k),
            "missing_firearms": pd.array(generator.integers(0, 4, k), dtype="Int64"),
        }
    )
    theft_loss = pd.DataFrame(
        {
            "report_id": [f"r{i}" for i in range(500)],
            "license_number": generator.choice(numbers, 500),
            "report_date": days(500),
            "kind": "theft",
            "firearm_count": generator.integers(1, 5, 500),
        }
    )
    world = prepare_world(EventTables(dealer_frame, traces, reports, inspections, theft_loss))
    dates = days(40)
    pairs = pd.DataFrame(
        {
            "license_number": generator.choice(numbers, 400),
            "as_of": dates.sample(400, replace=True, random_state=3).to_numpy(),
        }
    )
    panel = build_panel(world, pairs)
    assert len(panel) > 200
    _assert_panel_matches_feature_tables(world, pairs, panel)


@settings(max_examples=25, deadline=None)
@given(world=worlds(), as_of_offset=st.integers(0, HORIZON_DAYS), seed=st.integers(0, 2**16))
def test_row_order_of_the_input_does_not_matter(
    world: tuple[list[dict[str, Any]], dict[str, pd.DataFrame]], as_of_offset: int, seed: int
) -> None:
    dealer_rows, frames = world
    as_of = _day(as_of_offset)
    shuffled = {
        name: frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        for name, frame in frames.items()
    }
    pd.testing.assert_frame_equal(
        build_features(_tables(dealer_rows, frames), as_of),
        build_features(_tables(dealer_rows[::-1], shuffled), as_of),
        check_exact=True,
    )


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(0, 40), min_size=1, max_size=30),
    # Exposures are estimated sales: unknown, none, or at least one firearm.
    exposures=st.lists(st.one_of(st.just(float("nan")), st.just(0.0), st.floats(1.0, 5e4)),
                       min_size=30, max_size=30),
    own=st.integers(0, 40),
    own_exposure=st.floats(1.0, 5e4),
)
def test_a_shrunk_rate_lies_between_the_raw_rate_and_the_peers_mean(
    counts: list[int], exposures: list[float], own: int, own_exposure: float
) -> None:
    count = np.asarray(counts, dtype=np.int64)
    exposure = np.asarray(exposures[: count.size], dtype=np.float64)
    prior = fit_gamma_prior(count, exposure, np.zeros(count.size, dtype=np.int64), 1)
    assert np.isnan(prior.rate[0]) or (prior.shape[0] >= 0 and prior.rate[0] > 0)
    shrunk = shrunk_rate(np.array([own]), np.array([own_exposure]), prior.shape, prior.rate)[0]
    if np.isnan(prior.rate[0]):  # no peer with a known volume: no prior, no rate
        assert np.isnan(shrunk)
        return
    raw = 1000.0 * own / own_exposure
    mean = 1000.0 * prior.shape[0] / prior.rate[0]
    low, high = min(raw, mean), max(raw, mean)
    assert low - 1e-9 * max(1.0, high) <= shrunk <= high + 1e-9 * max(1.0, high)
    # More sales, same rate: closer to the licensee's own rate.
    bigger = shrunk_rate(np.array([own * 10]), np.array([own_exposure * 10]), prior.shape,
                         prior.rate)[0]
    assert abs(bigger - raw) <= abs(shrunk - raw) + 1e-9 * max(1.0, high)
