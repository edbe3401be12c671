"""Labels come only from inspections closed before the as-of date; folds never overlap."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from training.folds import rolling_origin_folds
from training.labels import training_examples


def _inspections() -> pd.DataFrame:
    return pd.DataFrame({
        "inspection_id": ["a", "b", "c", "d", "e"],
        "license_number": ["1-11-111-01-1A-00001"] * 5,
        "inspection_date": pd.to_datetime(
            ["2019-03-01", "2020-06-01", "2021-01-01", "2021-01-02", "2020-02-01"]
        ),
        "inspection_type": ["compliance", "compliance", "compliance", "compliance",
                            "qualification"],
        "outcome": ["revocation", "warning_letter", "warning_conference", "no_violations",
                    "revocation"],
    })


def test_only_compliance_inspections_closed_before_as_of_are_examples() -> None:
    examples = training_examples(_inspections(), dt.date(2021, 1, 2))
    assert examples["inspection_id"].tolist() == ["a", "b", "c"]
    assert examples["label"].tolist() == [1, 0, 1]
    # Each outcome's typical duration: revocation 211, warning letter 105, conference 176.
    assert (examples["closed"] - examples["opened"]).dt.days.tolist() == [211, 105, 176]


def test_a_single_duration_can_be_configured() -> None:
    examples = training_examples(_inspections(), dt.date(2021, 1, 2), duration_days=90,
                                 duration_days_by_outcome={})
    assert (examples["closed"] - examples["opened"]).dt.days.eq(90).all()


def test_other_label_definitions_are_options() -> None:
    examples = training_examples(
        _inspections(), dt.date(2022, 1, 1), label="warning_letter_or_worse", duration_days=30
    )
    assert examples["label"].tolist() == [1, 1, 1, 0]
    with pytest.raises(ValueError, match="unknown label"):
        training_examples(_inspections(), dt.date(2022, 1, 1), label="bad")


def test_folds_train_before_origin_and_validate_the_year_after() -> None:
    folds = rolling_origin_folds(dt.date(2023, 1, 1), n_folds=3)
    assert [fold.origin for fold in folds] == [
        dt.date(2020, 1, 2), dt.date(2021, 1, 1), dt.date(2022, 1, 1),
    ]
    assert folds[-1].validation_end == dt.date(2023, 1, 1)
    closed = pd.Series(pd.to_datetime(
        ["2019-12-31", "2020-01-02", "2022-12-31", "2023-01-01", "2020-03-01"]))
    opened = pd.Series(pd.to_datetime(
        ["2019-09-01", "2020-01-02", "2022-10-01", "2022-11-01", "2019-12-01"]))
    first, last = folds[0], folds[-1]
    assert first.train_mask(closed).tolist() == [True, False, False, False, False]
    # The last row closed after the origin but opened before it: a model trained at the
    # origin never scores such an inspection, so no fold validates on it.
    assert first.validation_mask(closed, opened).tolist() == [False, True, False, False, False]
    assert last.validation_mask(closed, opened).tolist() == [False, False, True, False, False]
    for fold in folds:
        assert not (fold.train_mask(closed) & fold.validation_mask(closed, opened)).any()
