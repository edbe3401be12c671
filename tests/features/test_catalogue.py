"""The feature catalogue: complete, consistent with the pipelines, and readable."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from features import catalogue
from features.catalogue import (
    CATALOGUE,
    CATALOGUE_VERSION,
    FEATURE_NAMES,
    Family,
    Unit,
    catalogue_frame,
    describe,
    get_feature,
    monotone_directions,
)
from features.pipelines import build_features


def _tiny_world() -> dict[str, pd.DataFrame]:
    return {
        "dealers": pd.DataFrame(
            {
                "license_number": ["1-11-111-01-1A-00001"],
                "license_type": ["01"],
                "business_name": ["A"],
                "premise_state": ["TX"],
            }
        )
    }


def test_every_produced_feature_is_catalogued_and_every_catalogued_one_produced() -> None:
    produced = list(build_features(_tiny_world(), dt.date(2024, 1, 1)).columns)
    assert sorted(set(produced) - set(FEATURE_NAMES)) == []
    assert sorted(set(FEATURE_NAMES) - set(produced)) == []
    assert produced == list(FEATURE_NAMES)


def test_names_are_unique_and_lower_snake_case() -> None:
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in FEATURE_NAMES)


def test_every_family_of_the_issue_has_features_in_table_order() -> None:
    families = [feature.family for feature in CATALOGUE]
    assert set(families) == set(Family)
    # Grouped: a family's features are contiguous, in the Family enum's order.
    order = list(dict.fromkeys(families))
    assert order == list(Family)


@pytest.mark.parametrize("feature", CATALOGUE, ids=lambda feature: feature.name)
def test_each_entry_has_one_value_slot_a_direction_and_a_unit_its_name_agrees_with(
    feature: catalogue.Feature,
) -> None:
    assert feature.description.count("{value}") == 1
    assert feature.direction in (-1, 1, None)
    # Names say their unit: the unit-bearing words and the unit agree.
    if "_share_" in feature.name:
        assert feature.unit is Unit.SHARE
    if "per_1k_sales" in feature.name and not feature.name.endswith("percentile"):
        assert feature.unit is Unit.PER_1K_SALES
    if feature.name.endswith("percentile"):
        assert feature.unit is Unit.PERCENTILE
    if "_days" in feature.name:
        assert feature.unit is Unit.DAYS
    if feature.name.endswith(("_1y", "_3y", "_5y")):
        assert feature.window.value == feature.name.rsplit("_", 1)[1]


@pytest.mark.parametrize("feature", CATALOGUE, ids=lambda feature: feature.name)
def test_describe_fills_the_slot_for_values_and_explains_missing_ones(
    feature: catalogue.Feature,
) -> None:
    text = describe(feature.name, 1.0)
    assert "{" not in text and text.endswith(".")
    missing = describe(feature.name, float("nan"))
    assert "{" not in missing
    if feature.missing_text is not None:
        assert missing == feature.missing_text


def test_describe_formats_values_for_an_inspector() -> None:
    assert describe("time_to_crime_under_1y_share_3y", 0.25).startswith("25% of")
    assert "412 days" in describe("time_to_crime_median_days_3y", 412.0)
    assert describe("traces_3y", 1204) == (
        "1,204 crime guns sold by this licensee were traced in the last 3 years."
    )
    assert describe("last_inspection_outcome_severity", 3.0).endswith("a warning conference.")
    assert describe("license_type_pawnbroker", 1).endswith(": yes.")


def test_a_count_of_one_is_told_in_the_singular() -> None:
    assert describe("missing_firearms_at_last_inspection", 1) == (
        "1 firearm the records could not account for at the last inspection.")
    assert describe("traces_1y", 1.0) == (
        "1 crime gun sold by this licensee was traced in the last year.")
    assert describe("repeat_multiple_sale_purchasers_3y", 1).startswith("1 buyer appears in")
    assert describe("time_to_crime_under_1y_traces_3y", 1).endswith("recovered it.")
    counted = [feature.name for feature in CATALOGUE
               if feature.unit in (Unit.COUNT, Unit.FIREARMS)]
    noun = re.compile(r"\b(crime guns?|firearms?|handguns?|rifles?|buyers?|reports?"
                      r"|inspections?|violations?|citations?)\b")
    for name in counted:
        one = describe(name, 1)
        first = noun.search(one)
        assert first is not None and not first.group(1).endswith("s"), one
        assert not any(word in one for word in (" were ", " appear ", " their ")), one
        assert describe(name, 2) != one.replace("1 ", "2 ", 1)  # the plural is kept for 2
    # Rates, shares and decayed counts keep their words whatever their value.
    assert describe("traces_decayed", 1.0).startswith("1.0 ")


def test_unknown_features_are_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="not_a_feature"):
        get_feature("not_a_feature")


def test_version_is_a_content_hash_that_changes_with_the_catalogue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", CATALOGUE_VERSION)
    assert catalogue._catalogue_digest() == CATALOGUE_VERSION
    monkeypatch.setattr(catalogue, "DEFINITIONS_REVISION", catalogue.DEFINITIONS_REVISION + 1)
    assert catalogue._catalogue_digest() != CATALOGUE_VERSION
    edited = (*CATALOGUE[:-1], catalogue.Feature(**{**CATALOGUE[-1].__dict__, "direction": 1}))
    monkeypatch.setattr(catalogue, "CATALOGUE", edited)
    assert catalogue._catalogue_digest() != CATALOGUE_VERSION


def test_monotone_directions_and_the_catalogue_table() -> None:
    directions = monotone_directions()
    assert list(directions) == list(FEATURE_NAMES)
    assert directions["traces_per_1k_sales_3y"] == 1
    assert directions["time_to_crime_median_days_3y"] == -1
    assert directions["years_licensed"] == 0
    frame = catalogue_frame()
    assert list(frame["name"]) == list(FEATURE_NAMES)
    assert set(frame["version"]) == {CATALOGUE_VERSION}
