"""The feature catalogue: every feature the pipelines produce, as data.

Training reads the expected directions (monotone constraints), explanations and web pages
read the descriptions, and every model records :data:`CATALOGUE_VERSION`. A feature
exists when it is listed here; ``tests/features/test_catalogue.py`` fails when the
pipelines produce a column that is not (or the catalogue lists one they do not produce).

Each description is a sentence an inspector understands, with a ``{value}`` slot that
:func:`describe` fills with the value formatted for the feature's unit.

Urbanicity is deliberately *not* a feature. It says where a shop is, not how it behaves;
the research the project builds on (``shared/calibration.md``) points at behaviour (traces
per sale, short time-to-crime, multiple sales, pawnbroking), and a place-type feature would
let the model steer inspections by geography and its demographic correlates. Keeping it out
of the model keeps it usable as an independent fairness grouping (``training/fairness.py``):
a disparity found by urbanicity then cannot be the model's own doing by construction.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from enum import StrEnum

import pandas as pd


class Family(StrEnum):
    """Groups of features, in the order the feature table lists them."""

    TRACES = "traces"
    TIME_TO_CRIME = "time_to_crime"
    TRACE_CHARACTERISTICS = "trace_characteristics"
    MULTIPLE_SALES = "multiple_sales"
    THEFT_LOSS = "theft_loss"
    INSPECTIONS = "inspections"
    PROFILE = "profile"


class Unit(StrEnum):
    """What a value measures; decides how :func:`describe` formats it."""

    COUNT = "count"
    FIREARMS = "firearms"
    SHARE = "share of the window's events, 0 to 1"
    PER_1K_SALES = "per 1,000 firearms sold"
    PERCENTILE = "percentile among peers, 0 to 100"
    DAYS = "days"
    YEARS = "years"
    FIREARMS_PER_YEAR = "firearms per year"
    FIREARMS_PER_REPORT = "firearms per multiple-sale report"
    INDICATOR = "indicator, 1 = yes"
    SEVERITY = "outcome severity, 0 = no violations to 4 = revocation"
    WEIGHTED_COUNT = "recency-weighted count: recent events count 1, older ones less"
    CHANGE = "change in a count per year, negative = fewer"


class Window(StrEnum):
    """The span of known-dates a feature counts, always ending the day before ``as_of``."""

    ONE_YEAR = "1y"
    THREE_YEARS = "3y"
    FIVE_YEARS = "5y"
    PREVIOUS_CALENDAR_YEAR = "previous calendar year"
    ALL_TIME = "all time"
    AT_AS_OF = "at as-of date"
    DECAYED = "recency-weighted"


@dataclass(frozen=True)
class Feature:
    """One feature of the feature table.

    ``direction`` is the expected monotone relation to the risk of a serious outcome:
    +1 more is riskier, -1 less is riskier, None no expectation. ``missing_text`` is what
    an explanation says when the value is missing (NaN), and why it can be.
    """

    name: str
    family: Family
    window: Window
    unit: Unit
    description: str
    direction: int | None = None
    missing_text: str | None = None


#: Bumped when a feature's *computation* changes without its catalogue entry changing,
#: so the catalogue version (which models record) still changes.
DEFINITIONS_REVISION = 1

_NO_TRACES_3Y = "No crime gun sold by this licensee was traced in the last 3 years."
_NO_SALES = "Sales volume unknown, so no rate per sale."

_F = Feature
_T, _TTC, _TC = Family.TRACES, Family.TIME_TO_CRIME, Family.TRACE_CHARACTERISTICS
_MS, _TL, _IN, _PR = Family.MULTIPLE_SALES, Family.THEFT_LOSS, Family.INSPECTIONS, Family.PROFILE
_1Y, _3Y, _5Y = Window.ONE_YEAR, Window.THREE_YEARS, Window.FIVE_YEARS
_ALL, _NOW, _PREV = Window.ALL_TIME, Window.AT_AS_OF, Window.PREVIOUS_CALENDAR_YEAR
_DEC = Window.DECAYED
_SHRUNK = ", pulled toward its peers' rate when its sales are few"


def _trace_counts() -> list[Feature]:
    spans = {_1Y: "the last year", _3Y: "the last 3 years", _5Y: "the last 5 years"}
    counts = [
        _F(
            f"traces_{window}",
            _T,
            window,
            Unit.COUNT,
            f"{{value}} crime guns sold by this licensee were traced in {text}.",
            +1,
        )
        for window, text in spans.items()
    ]
    rates = [
        _F(
            f"traces_per_1k_sales_{window}",
            _T,
            window,
            Unit.PER_1K_SALES,
            f"{{value}} crime-gun traces in {text} per 1,000 firearms this licensee sold.",
            +1,
            _NO_SALES,
        )
        for window, text in spans.items()
    ]
    return counts + rates


def _window_counts(
    prefix: str, family: Family, what: str, windows: tuple[Window, ...]
) -> list[Feature]:
    spans = {_1Y: "the last year", _3Y: "the last 3 years"}
    return [
        _F(
            f"{prefix}_{window}",
            family,
            window,
            Unit.COUNT if "reports" in prefix else Unit.FIREARMS,
            f"{{value}} {what} in {spans[window]}.",
            +1,
        )
        for window in windows
    ]


CATALOGUE: tuple[Feature, ...] = (
    # --- traces -------------------------------------------------------------------------
    *_trace_counts(),
    _F(
        "traces_3y_peer_percentile",
        _T,
        _3Y,
        Unit.PERCENTILE,
        "More crime-gun traces in the last 3 years than {value} of licensees of the same "
        "type in the same state.",
        +1,
        "No active peer of the same type in the same state.",
    ),
    _F(
        "traces_per_1k_sales_3y_peer_percentile",
        _T,
        _3Y,
        Unit.PERCENTILE,
        "More crime-gun traces per sale in the last 3 years than {value} of licensees of "
        "the same type in the same state.",
        +1,
        "Sales volume unknown, or no peer of the same type in the same state with a known one.",
    ),
    _F(
        "traces_per_1k_sales_3y_shrunk",
        _T,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} crime-gun traces in the last 3 years per 1,000 firearms sold" + _SHRUNK + ".",
        +1,
        _NO_SALES,
    ),
    _F(
        "traces_decayed",
        _T,
        _DEC,
        Unit.WEIGHTED_COUNT,
        "{value} crime-gun traces in the last 5 years, recent ones counting most (those of "
        "the last 12 months count 1, of the 12 before 1/2, and so on).",
        +1,
    ),
    # --- time to crime ------------------------------------------------------------------
    _F(
        "time_to_crime_median_days_3y",
        _TTC,
        _3Y,
        Unit.DAYS,
        "Half of the crime guns traced to this licensee in the last 3 years were recovered "
        "within {value} of their sale.",
        -1,
        _NO_TRACES_3Y,
    ),
    _F(
        "time_to_crime_under_1y_traces_3y",
        _TTC,
        _3Y,
        Unit.COUNT,
        "{value} crime guns traced in the last 3 years had been sold by this licensee less "
        "than a year before police recovered them.",
        +1,
    ),
    _F(
        "time_to_crime_under_1y_share_3y",
        _TTC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years were "
        "recovered less than a year after their sale.",
        +1,
        _NO_TRACES_3Y,
    ),
    _F(
        "time_to_crime_at_most_3y_traces_3y",
        _TTC,
        _3Y,
        Unit.COUNT,
        "{value} crime guns traced in the last 3 years had been sold by this licensee 3 "
        "years or less before police recovered them.",
        +1,
    ),
    _F(
        "time_to_crime_at_most_3y_share_3y",
        _TTC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years were "
        "recovered 3 years or less after their sale.",
        +1,
        _NO_TRACES_3Y,
    ),
    _F(
        "demand_letter_2_traces_previous_year",
        _TTC,
        _PREV,
        Unit.COUNT,
        "{value} crime guns traced last calendar year had been sold by this licensee 3 "
        "years or less before recovery (Demand Letter 2 counts these).",
        +1,
    ),
    _F(
        "meets_demand_letter_2_previous_year",
        _TTC,
        _PREV,
        Unit.INDICATOR,
        "Met the Demand Letter 2 rule last calendar year (25 or more traces with a "
        "time-to-crime of 3 years or less): {value}.",
        +1,
    ),
    _F(
        "time_to_crime_under_1y_per_1k_sales_3y_shrunk",
        _TTC,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} per 1,000 firearms sold: crime guns recovered within a year of their sale, "
        "traced in the last 3 years" + _SHRUNK + ".",
        +1,
        _NO_SALES,
    ),
    _F(
        "time_to_crime_under_1y_traces_1y",
        _TTC,
        _1Y,
        Unit.COUNT,
        "{value} crime guns traced in the last year had been sold by this licensee less than "
        "a year before police recovered them.",
        +1,
    ),
    _F(
        "time_to_crime_under_1y_change_1y",
        _TTC,
        _1Y,
        Unit.CHANGE,
        "Crime guns recovered within a year of sale, traced in the last year against the "
        "licensee's yearly average of the 4 years before: {value}.",
        +1,
    ),
    _F(
        "time_to_crime_under_1y_traces_decayed",
        _TTC,
        _DEC,
        Unit.WEIGHTED_COUNT,
        "{value} crime guns recovered within a year of their sale, traced in the last 5 "
        "years, recent traces counting most (the last 12 months count 1, the 12 before 1/2).",
        +1,
    ),
    # --- trace characteristics ----------------------------------------------------------
    _F(
        "recovered_in_mexico_traces_3y",
        _TC,
        _3Y,
        Unit.COUNT,
        "{value} crime guns sold by this licensee and traced in the last 3 years were "
        "recovered in Mexico.",
        +1,
    ),
    _F(
        "recovered_in_mexico_share_3y",
        _TC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years were "
        "recovered in Mexico.",
        +1,
        _NO_TRACES_3Y,
    ),
    _F(
        "possessor_not_purchaser_share_3y",
        _TC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years were found "
        "with someone other than their buyer (a sign of straw purchasing).",
        +1,
        "No trace in the last 3 years says who possessed the gun.",
    ),
    _F(
        "time_to_crime_under_1y_not_purchaser_traces_3y",
        _TC,
        _3Y,
        Unit.COUNT,
        "{value} crime guns were recovered within a year of sale from someone other than "
        "their buyer (last 3 years).",
        +1,
    ),
    _F(
        "time_to_crime_under_1y_not_purchaser_share_3y",
        _TC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns recovered within a year of sale (last 3 years) were with "
        "someone other than their buyer.",
        +1,
        "No crime gun recovered within a year of sale in the last 3 years says who had it.",
    ),
    _F(
        "serial_obliterated_traces_3y",
        _TC,
        _3Y,
        Unit.COUNT,
        "{value} crime guns traced to this licensee in the last 3 years had their serial "
        "number obliterated.",
        +1,
    ),
    _F(
        "serial_obliterated_share_3y",
        _TC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years had their "
        "serial number obliterated.",
        +1,
        "No trace in the last 3 years records whether the serial number was intact.",
    ),
    _F(
        "rifle_share_3y",
        _TC,
        _3Y,
        Unit.SHARE,
        "{value} of the crime guns traced to this licensee in the last 3 years were rifles.",
        None,
        _NO_TRACES_3Y,
    ),
    _F(
        "recovered_abroad_per_1k_sales_3y_shrunk",
        _TC,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} per 1,000 firearms sold: crime guns recovered outside the United States, "
        "traced in the last 3 years" + _SHRUNK + ".",
        +1,
        _NO_SALES,
    ),
    _F(
        "possessor_not_purchaser_per_1k_sales_3y_shrunk",
        _TC,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} per 1,000 firearms sold: crime guns found with someone other than their "
        "buyer, traced in the last 3 years" + _SHRUNK + ".",
        +1,
        _NO_SALES,
    ),
    # --- multiple sales -----------------------------------------------------------------
    *_window_counts(
        "multiple_sale_reports_3310_4",
        _MS,
        "multiple-handgun sale reports (Form 3310.4) filed by this licensee",
        (_1Y, _3Y),
    ),
    *_window_counts(
        "multiple_sale_firearms_3310_4",
        _MS,
        "handguns sold in multiple sales reported on Form 3310.4",
        (_1Y, _3Y),
    ),
    *_window_counts(
        "multiple_sale_reports_3310_12",
        _MS,
        "multiple-rifle sale reports (Form 3310.12) filed by this licensee",
        (_1Y, _3Y),
    ),
    *_window_counts(
        "multiple_sale_firearms_3310_12",
        _MS,
        "rifles sold in multiple sales reported on Form 3310.12",
        (_1Y, _3Y),
    ),
    _F(
        "multiple_sale_reports_per_1k_sales_3y",
        _MS,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} multiple-sale reports in the last 3 years per 1,000 firearms this licensee sold.",
        +1,
        _NO_SALES,
    ),
    _F(
        "multiple_sale_firearms_per_1k_sales_3y",
        _MS,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} of every 1,000 firearms this licensee sold in the last 3 years went out in "
        "reported multiple sales.",
        +1,
        _NO_SALES,
    ),
    _F(
        "repeat_multiple_sale_purchasers_3y",
        _MS,
        _3Y,
        Unit.COUNT,
        "{value} buyers appear in more than one of this licensee's multiple-sale reports of "
        "the last 3 years.",
        +1,
    ),
    _F(
        "multiple_sale_reports_per_1k_sales_3y_shrunk",
        _MS,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} multiple-sale reports in the last 3 years per 1,000 firearms sold" + _SHRUNK
        + ".",
        +1,
        _NO_SALES,
    ),
    _F(
        "repeat_purchaser_report_share_3y",
        _MS,
        _3Y,
        Unit.SHARE,
        "{value} of this licensee's multiple-sale reports of the last 3 years name a buyer "
        "who appears in more than one of them.",
        +1,
        "No multiple-sale report in the last 3 years.",
    ),
    _F(
        "multiple_sale_firearms_per_report_3y",
        _MS,
        _3Y,
        Unit.FIREARMS_PER_REPORT,
        "{value} firearms per multiple-sale report on average (last 3 years; at least 2 "
        "make a report).",
        +1,
        "No multiple-sale report in the last 3 years.",
    ),
    _F(
        "multiple_sale_reports_decayed",
        _MS,
        _DEC,
        Unit.WEIGHTED_COUNT,
        "{value} multiple-sale reports in the last 3 years, recent ones counting most (the "
        "last 12 months count 1, the 12 before 1/2, the 12 before those 1/4).",
        +1,
    ),
    # --- theft and loss -----------------------------------------------------------------
    *_window_counts(
        "theft_loss_reports", _TL, "theft or loss reports filed by this licensee", (_1Y, _3Y)
    ),
    *_window_counts(
        "theft_loss_firearms", _TL, "firearms reported stolen or lost by this licensee", (_1Y, _3Y)
    ),
    _F(
        "theft_loss_firearms_per_1k_sales_3y",
        _TL,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} firearms reported stolen or lost in the last 3 years per 1,000 this "
        "licensee sold.",
        +1,
        _NO_SALES,
    ),
    _F(
        "theft_loss_reports_per_1k_sales_3y_shrunk",
        _TL,
        _3Y,
        Unit.PER_1K_SALES,
        "{value} theft or loss reports in the last 3 years per 1,000 firearms sold" + _SHRUNK
        + ".",
        +1,
        _NO_SALES,
    ),
    # --- inspection history -------------------------------------------------------------
    _F(
        "inspections_total",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} inspections of this licensee closed so far.",
        None,
    ),
    _F("never_inspected", _IN, _ALL, Unit.INDICATOR, "Never inspected: {value}.", None),
    _F(
        "days_since_last_inspection",
        _IN,
        _ALL,
        Unit.DAYS,
        "The last inspection closed {value} ago.",
        None,
        "Never inspected.",
    ),
    _F(
        "serious_outcomes_total",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} earlier inspections ended in a warning conference or revocation.",
        +1,
    ),
    _F(
        "violations_total",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} violations cited across all earlier inspections.",
        +1,
    ),
    _F(
        "violations_at_last_inspection",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} violations cited at the last inspection.",
        +1,
        "Never inspected.",
    ),
    _F(
        "missing_firearms_total",
        _IN,
        _ALL,
        Unit.FIREARMS,
        "{value} firearms the records could not account for, across all earlier inspections.",
        +1,
    ),
    _F(
        "missing_firearms_at_last_inspection",
        _IN,
        _ALL,
        Unit.FIREARMS,
        "{value} firearms the records could not account for at the last inspection.",
        +1,
        "Never inspected, or the last inspection did not record missing firearms.",
    ),
    _F(
        "last_inspection_outcome_severity",
        _IN,
        _ALL,
        Unit.SEVERITY,
        "The last inspection ended with {value}.",
        +1,
        "Never inspected.",
    ),
    _F(
        "prohibited_sale_citations_total",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} citations, across all earlier inspections, for transferring a firearm "
        "without a background check or to a prohibited person (27 CFR 478.99(c), 478.102).",
        +1,
    ),
    _F(
        "record_keeping_citations_total",
        _IN,
        _ALL,
        Unit.COUNT,
        "{value} citations of the acquisition and disposition records (27 CFR 478.121 to "
        "478.129) across all earlier inspections.",
        +1,
    ),
    _F(
        "last_compliance_inspection_cited",
        _IN,
        _ALL,
        Unit.INDICATOR,
        "The last compliance inspection cited violations or worse: {value}.",
        +1,
    ),
    _F(
        "serious_outcomes_decayed",
        _IN,
        _DEC,
        Unit.WEIGHTED_COUNT,
        "{value} earlier inspections ended in a warning conference or revocation, recent "
        "ones counting most (one of 3 years ago counts half).",
        +1,
    ),
    _F(
        "missing_firearms_decayed_per_1k_annual_sales",
        _IN,
        _DEC,
        Unit.PER_1K_SALES,
        "{value} firearms the records could not account for at inspections, per 1,000 "
        "firearms sold a year (an inspection of 3 years ago counts half).",
        +1,
        _NO_SALES,
    ),
    # --- profile ------------------------------------------------------------------------
    _F(
        "years_licensed",
        _PR,
        _NOW,
        Unit.YEARS,
        "Licensed for {value}.",
        None,
        "License issue date unknown.",
    ),
    _F(
        "estimated_annual_firearm_sales",
        _PR,
        _NOW,
        Unit.FIREARMS_PER_YEAR,
        "Sells an estimated {value} firearms a year.",
        None,
        "Sales volume unknown.",
    ),
    _F(
        "license_type_dealer",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as a dealer (type 01): {value}.",
        None,
    ),
    _F(
        "license_type_pawnbroker",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as a pawnbroker (type 02): {value}.",
        +1,
    ),
    _F(
        "license_type_collector",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as a collector (type 03): {value}.",
        None,
    ),
    _F(
        "license_type_ammunition_maker",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as an ammunition maker (type 06): {value}.",
        None,
    ),
    _F(
        "license_type_manufacturer",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as a manufacturer (type 07): {value}.",
        None,
    ),
    _F(
        "license_type_importer",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed as an importer (type 08): {value}.",
        None,
    ),
    _F(
        "license_type_destructive_devices",
        _PR,
        _NOW,
        Unit.INDICATOR,
        "Licensed for destructive devices (types 09 to 11): {value}.",
        None,
    ),
)

#: Feature names in table order.
FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in CATALOGUE)
FEATURES_BY_NAME: dict[str, Feature] = {feature.name: feature for feature in CATALOGUE}


def _catalogue_digest() -> str:
    payload = json.dumps(
        {"revision": DEFINITIONS_REVISION, "features": [asdict(f) for f in CATALOGUE]},
        sort_keys=True,
        ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


#: Content hash of the catalogue (and of DEFINITIONS_REVISION): equal versions, equal features.
CATALOGUE_VERSION: str = _catalogue_digest()

_SEVERITY_TEXT = (
    "no violations",
    "violations cited",
    "a warning letter",
    "a warning conference",
    "a revocation",
)


def get_feature(name: str) -> Feature:
    """The catalogue entry of ``name``; ``KeyError`` names the unknown feature."""
    try:
        return FEATURES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the feature catalogue") from None


def monotone_directions() -> dict[str, int]:
    """Expected direction per feature for monotone constraints (0 = unconstrained)."""
    return {feature.name: feature.direction or 0 for feature in CATALOGUE}


def format_value(feature: Feature, value: float | int | None) -> str:
    """A value as an inspector reads it: "42%", "1,204", "3.5 years", "yes"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    number = float(value)
    if math.isinf(number):  # no unit rounds an infinity (round() raises OverflowError)
        return "infinite" if number > 0 else "minus infinite"
    match feature.unit:
        case Unit.COUNT | Unit.FIREARMS | Unit.FIREARMS_PER_YEAR:
            return f"{round(number):,}"
        case Unit.SHARE:
            return f"{number * 100:.0f}%"
        case Unit.PERCENTILE:
            # Never "more than 100% of peers": a mid-rank percentile is below 100 anyway.
            return f"{min(number, 99.0):.0f}%"
        case Unit.PER_1K_SALES | Unit.FIREARMS_PER_REPORT:
            return f"{number:,.1f}"
        case Unit.DAYS:
            return f"{round(number):,} days"
        case Unit.YEARS:
            return f"{number:.1f} years"
        case Unit.INDICATOR:
            return "yes" if number >= 0.5 else "no"
        case Unit.WEIGHTED_COUNT:
            return f"{number:,.1f}"
        case Unit.CHANGE:
            return f"{number:+,.1f}"
        case Unit.SEVERITY:
            return _SEVERITY_TEXT[min(max(round(number), 0), len(_SEVERITY_TEXT) - 1)]
    return f"{number:g}"  # pragma: no cover - every unit is matched above


def describe(name: str, value: float | int | None) -> str:
    """The plain-language sentence for one feature's value.

    >>> describe("traces_3y", 12)
    '12 crime guns sold by this licensee were traced in the last 3 years.'
    >>> describe("time_to_crime_median_days_3y", float("nan"))
    'No crime gun sold by this licensee was traced in the last 3 years.'
    """
    feature = get_feature(name)
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing and feature.missing_text is not None:
        return feature.missing_text
    formatted = format_value(feature, value)
    text = feature.description.format(value=formatted)
    if formatted == "1" and feature.unit in (Unit.COUNT, Unit.FIREARMS):
        return _singular(text)
    return text


#: A count sentence's first plural noun (after any words describing it), and the words
#: that agree with it, for a count of one: "1 crime gun ... was traced", not "1 crime guns".
_COUNTED_NOUN = re.compile(
    r"^1 ((?:[\w-]+ )*?)(crime gun|firearm|handgun|rifle|buyer|report|inspection|violation"
    r"|citation)s\b"
)
_AGREEING = ((" were ", " was "), (" their ", " its "), (" appear ", " appears "),
             (" recovered them.", " recovered it."), (" counts these)", " counts it)"))


def _singular(text: str) -> str:
    """A count sentence told for one of its things.

    >>> _singular("1 crime guns sold by this licensee were traced in the last year.")
    '1 crime gun sold by this licensee was traced in the last year.'
    >>> _singular("1 theft or loss reports filed by this licensee in the last year.")
    '1 theft or loss report filed by this licensee in the last year.'
    """
    singular, found = _COUNTED_NOUN.subn(r"1 \1\2", text, count=1)
    if not found:
        return text
    for plural, one in _AGREEING:
        singular = singular.replace(plural, one)
    return singular


def catalogue_frame() -> pd.DataFrame:
    """The catalogue as a table (one row per feature), e.g. for a web page or a report."""
    rows = [{**asdict(feature), "version": CATALOGUE_VERSION} for feature in CATALOGUE]
    frame = pd.DataFrame(rows)
    for column in ("family", "window", "unit"):
        frame[column] = frame[column].astype(str)
    frame["direction"] = frame["direction"].astype("Int64")
    return frame
