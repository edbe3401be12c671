"""Plans: eligibility, capacity, selection paths, probabilities and determinism."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.design import (
    EXPLORATION,
    RISK,
    PlanError,
    PlanOptions,
    default_capacity,
    eligibility,
    read_capacity,
    select,
)

AS_OF = dt.date(2024, 1, 1)


def _listed(n: int, divisions: tuple[str, ...] = ("Dallas", "Miami"), seed: int = 0
            ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scores = np.sort(rng.uniform(0, 0.5, n))[::-1]
    return pd.DataFrame({
        "license_number": [f"9-99-001-01-ZZ-{i:05d}" for i in range(n)],
        "score": scores,
        "rank": np.arange(1, n + 1),
        "license_type": "01",
        "field_division": [divisions[i % len(divisions)] for i in range(n)],
    })


def _no_history(listed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    dealers = pd.DataFrame({"license_number": listed["license_number"],
                            "license_issue_date": pd.Timestamp("2010-01-01")})
    inspections = pd.DataFrame({
        "license_number": pd.Series(dtype=object), "inspection_date": pd.Series(
            dtype="datetime64[s]"),
        "inspection_type": pd.Series(dtype=object), "outcome": pd.Series(dtype=object)})
    return dealers, inspections


def test_every_exclusion_is_applied_and_counted_once() -> None:
    listed = _listed(8)
    listed.loc[1, "license_type"] = "03"  # collector
    listed.loc[6, "field_division"] = None  # nowhere to plan it
    dealers, _ = _no_history(listed)
    dealers.loc[0, "license_issue_date"] = pd.Timestamp(AS_OF)  # licensed on the date
    number = listed["license_number"]
    inspections = pd.DataFrame({
        "license_number": [number[2], number[3], number[4], number[5], number[5]],
        "inspection_date": pd.to_datetime(["2023-06-01", "2022-12-31", "2023-01-02",
                                           "2019-05-01", "2023-03-01"]),
        # 2: compliance within 365 days; 3: compliance 366 days before (still eligible);
        # 4: a qualification inspection within 365 days (still eligible);
        # 5: revoked in 2019 (and a later compliance inspection: counted once).
        "inspection_type": ["compliance", "compliance", "qualification", "compliance",
                            "compliance"],
        "outcome": ["no_violations", "warning_letter", "no_violations", "revocation",
                    "no_violations"],
    })
    eligible, counts = eligibility(listed, dealers, inspections, AS_OF)
    assert counts == {"licensed_on_or_after_as_of": 1, "collector": 1,
                      "inspected_in_last_365_days": 2, "revoked": 0, "no_field_division": 1}
    assert eligible["license_number"].tolist() == [number[3], number[4], number[7]]
    # Without the later inspection, licensee 5 counts as revoked.
    _, counts = eligibility(listed, dealers, inspections.iloc[:4], AS_OF)
    assert counts["revoked"] == 1 and counts["inspected_in_last_365_days"] == 1


def test_inspections_known_on_or_after_the_date_do_not_count() -> None:
    listed = _listed(2)
    dealers, _ = _no_history(listed)
    inspections = pd.DataFrame({
        "license_number": listed["license_number"],
        "inspection_date": pd.to_datetime([AS_OF, AS_OF]),
        "inspection_type": ["compliance", "compliance"], "outcome": ["revocation"] * 2})
    eligible, counts = eligibility(listed, dealers, inspections, AS_OF)
    assert len(eligible) == 2 and sum(counts.values()) == 0


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), dallas=st.integers(0, 80), share=st.floats(0.01, 1.0),
       seed=st.integers(0, 2**31 - 1))
def test_capacity_is_never_exceeded_and_probabilities_add_up(
    n: int, dallas: int, share: float, seed: int
) -> None:
    eligible = _listed(n, seed=seed % 1000)
    options = PlanOptions(as_of=AS_OF, exploration_share=share, seed=seed,
                          capacity={"Dallas": dallas})
    design = select(eligible, options)
    for division in design.divisions:
        rows = design.rows[design.rows["field_division"] == division.field_division]
        assert len(rows) == min(division.capacity, division.eligible) <= division.capacity
        assert rows["priority"].tolist() == list(range(1, len(rows) + 1))
        assert rows["selection_probability"].between(0, 1, inclusive="right").all()
        assert (rows.loc[rows["selected_by"] == RISK, "selection_probability"] == 1).all()
        # Every eligible licensee of the division has a known, nonzero chance, and the
        # chances of each path add up to the number that path plans.
        everyone = design.eligible[design.eligible["field_division"] == division.field_division]
        if division.capacity > 0:
            assert (everyone["selection_probability"] > 0).all()
        risk_numbers = set(rows.loc[rows["selected_by"] == RISK, "license_number"])
        in_risk = everyone["license_number"].isin(risk_numbers)
        assert everyone.loc[in_risk, "selection_probability"].sum() == pytest.approx(
            division.risk)
        assert everyone.loc[~in_risk, "selection_probability"].sum() == pytest.approx(
            division.exploration)
    dallas_plan = next(d for d in design.divisions if d.field_division == "Dallas")
    assert dallas_plan.capacity == dallas and dallas_plan.capacity_source == "file"


def test_risk_takes_the_top_scores_and_exploration_draws_from_the_rest() -> None:
    eligible = _listed(200, divisions=("Dallas",))
    design = select(eligible, PlanOptions(as_of=AS_OF, capacity={"Dallas": 20}))
    rows = design.rows
    (division,) = design.divisions
    assert (division.risk, division.exploration) == (18, 2)
    assert division.exploration_probability == pytest.approx(2 / 182)
    risk = rows[rows["selected_by"] == RISK]
    assert sorted(risk["rank"]) == list(range(1, 19))
    explored = rows[rows["selected_by"] == EXPLORATION]
    assert (explored["rank"] > 18).all()
    assert explored["selection_probability"].tolist() == pytest.approx([2 / 182] * 2)
    # The exploration picks are spread through the order, not left at its end.
    assert explored["priority"].max() < 20
    # Expected findings: the plan's scores, beside a random plan of the same size.
    assert division.expected_serious == pytest.approx(rows["score"].sum())
    assert division.expected_serious_random == pytest.approx(20 * eligible["score"].mean())


def test_the_same_seed_gives_the_same_plan_and_another_seed_another_draw() -> None:
    eligible = _listed(2000)
    plans = [select(eligible, PlanOptions(as_of=AS_OF, seed=seed)).rows for seed in (7, 7, 8)]
    pd.testing.assert_frame_equal(plans[0], plans[1])
    explored = [set(p.loc[p["selected_by"] == EXPLORATION, "license_number"]) for p in plans]
    assert explored[0] == explored[1] != explored[2]
    assert set(plans[0].loc[plans[0]["selected_by"] == RISK, "license_number"]) == set(
        plans[2].loc[plans[2]["selected_by"] == RISK, "license_number"])


def test_default_capacity_is_twelve_percent_a_year_scaled_to_the_period() -> None:
    assert default_capacity(1000, 365) == 120
    assert default_capacity(1000, 730) == 240
    assert default_capacity(3, 365) == 1  # anyone eligible: at least one inspection
    assert default_capacity(0, 365) == 0


def test_bad_options_and_capacity_files_are_refused_naming_the_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanError, match="exploration-share"):
        PlanOptions(as_of=AS_OF, exploration_share=0)
    with pytest.raises(PlanError, match="period-days"):
        PlanOptions(as_of=AS_OF, period_days=0)
    path = tmp_path / "capacity.csv"
    path.write_text("field_division,inspections\nDallas,10\nMiami,ten\n")
    with pytest.raises(PlanError, match=r"capacity.csv:3: inspections: not a whole number"):
        read_capacity(str(path))
    path.write_text("field_division,inspections\nDallas,10\nDallas,3\n")
    with pytest.raises(PlanError, match=r":3: field_division: 'Dallas' given twice"):
        read_capacity(str(path))
    path.write_text("division,count\n")
    with pytest.raises(PlanError, match=r":1: header: missing column"):
        read_capacity(str(path))
    path.write_text("field_division,inspections\nDallas,10\n")
    assert read_capacity(str(path)) == {"Dallas": 10}
