"""Baselines rank as their rule says."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baselines import ColumnRule, LogisticBaseline, RandomOrder, default_baselines


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "meets_demand_letter_2_previous_year": [0, 1, 1, 0],
        "demand_letter_2_traces_previous_year": [20, 30, 60, 24],
        "traces_3y": [5, 40, 80, 30],
        "traces_per_1k_sales_3y": [np.nan, 2.0, 1.0, 9.0],
    })


def test_demand_letter_2_rule_puts_letter_recipients_first_by_count() -> None:
    rule = ColumnRule("dl2", "meets_demand_letter_2_previous_year",
                      tie_break="demand_letter_2_traces_previous_year")
    order = np.argsort(-rule.score(_frame()), kind="stable")
    assert order.tolist() == [2, 1, 3, 0]


def test_rate_rule_ranks_missing_rates_last() -> None:
    order = np.argsort(-ColumnRule("r", "traces_per_1k_sales_3y").score(_frame()), kind="stable")
    assert order.tolist() == [3, 1, 2, 0]


def test_random_order_is_seeded() -> None:
    frame = _frame()
    assert np.array_equal(RandomOrder(1).score(frame), RandomOrder(1).score(frame))
    assert not np.array_equal(RandomOrder(1).score(frame), RandomOrder(2).score(frame))


def test_logistic_baseline_learns_a_planted_signal() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"traces_3y": rng.poisson(3, 2000).astype(float),
                      "empty": np.full(2000, np.nan)})
    y = (rng.random(2000) < 0.02 + 0.03 * X["traces_3y"].clip(0, 8)).astype(int)
    scores = LogisticBaseline().fit(X, y).score(X)
    assert np.corrcoef(scores, X["traces_3y"])[0, 1] > 0.9


def test_five_baselines_with_distinct_names() -> None:
    names = [baseline.name for baseline in default_baselines()]
    assert names == ["random", "demand_letter_2", "trace_count", "traces_per_sales",
                     "logistic_regression"]
