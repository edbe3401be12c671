"""Principal reasons: distinct facts, largest contribution first, compared with peers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import FEATURE_NAMES, describe
from models.reasons import (
    MAX_REASONS,
    Peers,
    _clauses,
    fact_of,
    indicator_clause,
    peer_clause,
    top_reason_texts,
    top_reasons,
)


def test_reasons_are_positive_contributions_largest_first_one_per_fact() -> None:
    contributions = pd.DataFrame({
        "traces_3y": [0.9, -0.2],
        "time_to_crime_under_1y_share_3y": [1.5, -0.1],
        "never_inspected": [-0.3, -0.4],
        "traces_per_1k_sales_3y": [0.2, 0.05],
        "serial_obliterated_traces_3y": [0.1, -0.1],
    })
    values = pd.DataFrame({
        "traces_3y": [42.0, 0.0],
        "time_to_crime_under_1y_share_3y": [0.61, np.nan],
        "never_inspected": [0.0, 1.0],
        "traces_per_1k_sales_3y": [3.2, 0.5],
        "serial_obliterated_traces_3y": [2.0, 0.0],
    })
    first, second = top_reasons(contributions, values, count=3)
    # traces_per_1k_sales_3y is the same fact as traces_3y (crime-gun traces): left out.
    assert [reason.feature for reason in first] == [
        "time_to_crime_under_1y_share_3y", "traces_3y", "serial_obliterated_traces_3y",
    ]
    assert first[1].text == describe("traces_3y", 42.0)
    assert first[0].family == "time_to_crime"
    # Only one feature raised the second licensee's score.
    assert [reason.feature for reason in second] == ["traces_per_1k_sales_3y"]


def test_one_rate_in_three_windows_is_one_reason() -> None:
    names = ["traces_per_1k_sales_1y", "traces_per_1k_sales_3y", "traces_per_1k_sales_5y",
             "traces_per_1k_sales_3y_shrunk", "traces_3y_peer_percentile",
             "multiple_sale_reports_per_1k_sales_3y", "theft_loss_firearms_3y"]
    contributions = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1]])
    values = np.array([[5.0, 4.0, 3.0, 3.5, 97.0, 12.0, 3.0]])
    reasons = top_reasons(pd.DataFrame(contributions, columns=names),
                          pd.DataFrame(values, columns=names))[0]
    assert [r.feature for r in reasons] == ["traces_per_1k_sales_1y",
                                            "multiple_sale_reports_per_1k_sales_3y",
                                            "theft_loss_firearms_3y"]
    assert len({fact_of(r.feature) for r in reasons}) == len(reasons)


def test_every_list_has_at_most_four_reasons_of_distinct_facts() -> None:
    generator = np.random.default_rng(3)
    names = list(FEATURE_NAMES)
    contributions = generator.normal(size=(200, len(names)))
    values = generator.integers(0, 5, size=(200, len(names))).astype(float)
    for row in top_reasons(pd.DataFrame(contributions, columns=names),
                           pd.DataFrame(values, columns=names)):
        assert 0 < len(row) <= MAX_REASONS
    values[generator.random(values.shape) < 0.2] = np.nan
    for raises in (True, False):  # every feature, stand-ins included: one row as in a list
        listed = top_reason_texts(contributions, values, names, raises=raises)
        assert [top_reason_texts(contributions[row:row + 1], values[row:row + 1], names,
                                 raises=raises)[0] for row in range(200)] == listed
        assert len({fact_of(reason.feature) for reason in row}) == len(row)
        assert [r.shap_value for r in row] == sorted((r.shap_value for r in row), reverse=True)


def test_volume_and_nothing_happened_are_never_reasons() -> None:
    names = ["estimated_annual_firearm_sales", "years_licensed", "license_type_dealer",
             "traces_3y", "time_to_crime_under_1y_share_3y", "license_type_pawnbroker",
             "days_since_last_inspection"]
    contributions = np.array([[2.0, 1.5, 1.2, 0.9, 0.8, 0.3, 0.2]])
    # 3 firearms a year; no trace (0, and an unknown share); a pawnbroker; never inspected.
    values = np.array([[3.0, 20.0, 0.0, 0.0, np.nan, 1.0, np.nan]])
    reasons = top_reasons(pd.DataFrame(contributions, columns=names),
                          pd.DataFrame(values, columns=names))[0]
    assert [r.feature for r in reasons] == ["license_type_pawnbroker",
                                            "days_since_last_inspection"]
    assert reasons[1].text == "Never inspected."


def test_what_speaks_for_a_licensee_are_the_largest_negative_facts() -> None:
    names = ["traces_3y", "traces_per_1k_sales_3y", "serious_outcomes_total",
             "time_to_crime_median_days_3y", "multiple_sale_reports_3310_4_3y"]
    contributions = np.array([[-0.9, -0.8, 0.4, -0.3, -0.1]])
    values = np.array([[0.0, 0.0, 1.0, 3000.0, 0.0]])
    lowering = top_reason_texts(contributions, values, names, raises=False)[0]
    assert lowering == [describe("traces_3y", 0.0), describe("time_to_crime_median_days_3y",
                                                              3000.0),
                        describe("multiple_sale_reports_3310_4_3y", 0.0)]
    # A count speaks for a licensee only when it is zero; a low rate does on its own.
    values = np.array([[13.0, 0.4, 1.0, 3000.0, 13.0]])
    lowering = top_reason_texts(contributions, values, names, raises=False)[0]
    assert lowering == [describe("traces_per_1k_sales_3y", 0.4),
                        describe("time_to_crime_median_days_3y", 3000.0)]


def test_peer_comparison_in_words_never_says_100_percent() -> None:
    assert peer_clause(211, 0, 212, "pawnbrokers in Texas") == (
        "The highest among 212 peers (pawnbrokers in Texas).")
    assert peer_clause(4811, 0, 4812, "dealers in Texas") == (
        "The highest among 4,812 peers (dealers in Texas).")
    # Tied at the top with another: not "the highest", and capped at 99%.
    assert peer_clause(999, 0, 1001, "dealers in Ohio") == (
        "Higher than 99% of peers (dealers in Ohio).")
    assert peer_clause(97, 2, 100, "x") == "Higher than 97% of peers (x)."
    assert peer_clause(1, 1, 3, "x") == ""  # too few peers to compare


def test_a_list_says_each_comparison_in_the_words_of_one_comparison() -> None:
    """Clauses written once per distinct key read exactly as a call per row, including
    shares that floating point puts on either side of a percent (58 of 200 is "28%" in
    indicator_clause's arithmetic, 59 of 200 "29%")."""
    below = np.array([141, 141, 0, 199, 2, 150, 1])
    above = np.array([0, 1, 199, 0, 190, 49, 1])
    size = np.array([200, 200, 200, 200, 200, 200, 3])
    yes = np.array([True, True, False, False, False, False, True])
    codes = np.zeros(below.size, dtype=np.int64)
    texts, position = _clauses(below, above, size, codes, ["x"], yes)
    told = [texts[i] for i in position]
    expected = [indicator_clause((n - b - a) / n, n, "x") if y else peer_clause(b, a, n, "x")
                for b, a, n, y in zip(below.tolist(), above.tolist(), size.tolist(),
                                      yes.tolist(), strict=True)]
    assert told == expected
    assert told[:2] == ["So are 29% of peers (x).", "So are 28% of peers (x)."]


def test_a_yes_is_compared_by_how_many_peers_share_it() -> None:
    names = ["last_compliance_inspection_cited"]
    values = np.array([[1.0]] * 3 + [[0.0]] * 7)
    peers = Peers.of(["01"] * 10, ["OH"] * 10)
    texts = top_reason_texts(np.ones_like(values), values, names, peers=peers)
    assert texts[0] == [describe(names[0], 1.0) + " So are 30% of peers (dealers in Ohio)."]
    assert texts[5] == []  # "no" is nothing to inspect for


def test_reasons_compare_with_peers_of_the_same_type_and_state() -> None:
    names = ["traces_per_1k_sales_3y"]
    values = np.array([[float(v)] for v in range(10)] + [[50.0], [1.0]])
    contributions = np.ones_like(values)
    peers = Peers.of(["02"] * 10 + ["01", "02"], ["TX"] * 10 + ["TX", "OH"])
    reasons = top_reasons(pd.DataFrame(contributions, columns=names),
                          pd.DataFrame(values, columns=names), peers=peers)
    # Row 9 has the highest of ten Texas pawnbrokers' rates; the 01 in TX has no peers.
    assert reasons[9][0].text.endswith("The highest among 10 peers (pawnbrokers in Texas).")
    assert reasons[9][0].peers == 10 and reasons[9][0].peers_below == 0.9
    assert reasons[5][0].text.endswith("Higher than 50% of peers (pawnbrokers in Texas).")
    assert reasons[10][0].text == describe("traces_per_1k_sales_3y", 50.0)
    assert reasons[11][0].text == describe("traces_per_1k_sales_3y", 1.0)
    texts = top_reason_texts(contributions, values, names, peers=peers)
    assert texts == [[r.text for r in row] for row in reasons]


_NAMES = ["traces_3y", "time_to_crime_under_1y_share_3y", "never_inspected",
          "traces_per_1k_sales_3y", "days_since_last_inspection", "serial_obliterated_traces_3y"]


@settings(max_examples=60, deadline=None)
@given(
    contributions=st.lists(st.lists(st.sampled_from([-1.0, -0.0, 0.0, 0.2, 0.2, 0.7, 3.0]),
                                    min_size=6, max_size=6), min_size=0, max_size=30),
    values=st.lists(st.sampled_from([np.nan, -0.0, 0.0, 0.5, 1.0, 42.0, 1234.5]),
                    min_size=180, max_size=180),
    count=st.integers(1, 5),
    raises=st.booleans(),
    states=st.lists(st.sampled_from(["TX", "OH"]), min_size=30, max_size=30),
)
def test_list_reason_texts_equal_the_per_row_reasons(
    contributions: list[list[float]], values: list[float], count: int, raises: bool,
    states: list[str],
) -> None:
    matrix = np.asarray(contributions, dtype=float).reshape(-1, len(_NAMES))
    value_matrix = np.asarray(values[: matrix.size], dtype=float).reshape(matrix.shape)
    peers = Peers.of(["01"] * len(matrix), states[: len(matrix)])
    expected = [[reason.text for reason in row] for row in top_reasons(
        pd.DataFrame(matrix, columns=_NAMES), pd.DataFrame(value_matrix, columns=_NAMES),
        count, peers, raises=raises)]
    assert top_reason_texts(matrix, value_matrix, _NAMES, count, peers,
                            raises=raises) == expected
    # Without peers, one row alone (an explanation's, a shorter path) as in the list.
    unpeered = top_reason_texts(matrix, value_matrix, _NAMES, count, raises=raises)
    assert [top_reason_texts(matrix[row:row + 1], value_matrix[row:row + 1], _NAMES, count,
                             raises=raises)[0] for row in range(len(matrix))] == unpeered
    for row in expected:
        assert len(row) <= count


def _walk_the_columns(contributions: list[float], values: list[float], count: int,
                      raises: bool) -> list[str]:
    """The rule as a person states it, one row at a time: from the largest contribution
    down (equal ones in column order), take a column whose fact is not yet taken."""
    sign = 1.0 if raises else -1.0
    taken: list[str] = []
    facts: set[str] = set()
    for column in sorted(range(len(_NAMES)), key=lambda c: (-sign * contributions[c], c)):
        name = _NAMES[column]
        says = top_reasons(pd.DataFrame([[contributions[column]]], columns=[name]),
                           pd.DataFrame([[values[column]]], columns=[name]), 1,
                           raises=raises)[0]
        if sign * contributions[column] > 0 and says and fact_of(name) not in facts \
                and len(taken) < count:
            taken.append(name)
            facts.add(fact_of(name))
    return taken


@settings(max_examples=60, deadline=None)
@given(
    contributions=st.lists(st.lists(st.sampled_from([-1.0, -0.2, 0.0, 0.2, 0.2, 0.7, 3.0]),
                                    min_size=6, max_size=6), min_size=1, max_size=20),
    values=st.lists(st.sampled_from([np.nan, 0.0, 0.5, 1.0, 42.0]), min_size=120,
                    max_size=120),
    count=st.integers(1, 5),
    raises=st.booleans(),
)
def test_the_whole_list_choice_follows_the_one_row_rule_ties_in_column_order(
    contributions: list[list[float]], values: list[float], count: int, raises: bool,
) -> None:
    matrix = np.asarray(contributions, dtype=float)
    value_matrix = np.asarray(values[: matrix.size], dtype=float).reshape(matrix.shape)
    frame, value_frame = (pd.DataFrame(matrix, columns=_NAMES),
                          pd.DataFrame(value_matrix, columns=_NAMES))
    chosen = top_reasons(frame, value_frame, count, raises=raises)
    for row, reasons in enumerate(chosen):
        assert [reason.feature for reason in reasons] == _walk_the_columns(
            matrix[row].tolist(), value_matrix[row].tolist(), count, raises)
        # One row alone (an explanation's) takes the one-row path: the same reasons.
        alone = top_reasons(frame.iloc[[row]], value_frame.iloc[[row]], count, raises=raises)
        assert alone[0] == reasons
