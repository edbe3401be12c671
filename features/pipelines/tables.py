"""The pipelines' input (contract tables as DataFrames) and its prepared, indexed form.

:class:`EventTables` is what callers hand in: the contract's tables in contract form,
however they were read (store, CSV, generator). :func:`prepare_world` turns them into a
:class:`PreparedWorld` once: licensees numbered in license-number order, every date a whole
day, every event table sorted by (licensee, known-date) with the integer prefix sums the
families need. Preparing is the only step whose cost grows with the number of events;
computing features for any number of (licensee, as_of) queries afterwards is a handful of
binary searches per query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.contract import OUTCOMES, SERIOUS_OUTCOMES, TABLES_BY_NAME, recovered_abroad
from features.pipelines.dates import LATEST_DAY, MISSING_DAY, Days, to_days, within_years
from features.pipelines.events import EventIndex, Floats, Ints

#: Outcome severity, in the glossary's rising order: 0 no violations ... 4 revocation.
OUTCOME_SEVERITY: dict[str, int] = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
#: Citations of a transfer without a background check or to a prohibited person
#: (27 CFR 478.99(c), 478.102), and of the acquisition and disposition records (478.121-129).
PROHIBITED_SALE_CODE = r"478\.99\(c\)|478\.102"
RECORD_KEEPING_CODE = r"478\.12\d"


@dataclass(frozen=True)
class EventTables:
    """The contract's tables as DataFrames (see ``shared/data-contract.md``).

    Dates may be ``datetime64`` columns, ``datetime.date`` objects or ``YYYY-MM-DD``
    text; booleans may be nullable booleans or ``true``/``false`` text. Optional columns
    may be absent. ``theft_loss`` is optional, as in the contract.
    """

    dealers: pd.DataFrame
    traces: pd.DataFrame
    multiple_sales: pd.DataFrame
    inspections: pd.DataFrame
    theft_loss: pd.DataFrame | None = None

    @classmethod
    def from_mapping(cls, tables: Mapping[str, pd.DataFrame]) -> EventTables:
        """From ``{"dealers": ..., "traces": ..., ...}``; missing event tables are empty."""
        frames = {
            name: tables[name] if name in tables else empty_table(name)
            for name in ("dealers", "traces", "multiple_sales", "inspections")
        }
        return cls(**frames, theft_loss=tables.get("theft_loss"))


def empty_table(name: str) -> pd.DataFrame:
    """A contract table with its columns and no rows."""
    return pd.DataFrame(
        {column: pd.Series(dtype=object) for column in TABLES_BY_NAME[name].column_names}
    )


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column, or an all-missing one when an optional column is absent."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _text(frame: pd.DataFrame, name: str) -> npt.NDArray[np.object_]:
    """A text column as an object array with ``None`` for missing values."""
    column = _column(frame, name)
    return np.asarray(column.astype(object).where(column.notna(), None), dtype=object)


def _equals(frame: pd.DataFrame, name: str, value: str) -> npt.NDArray[np.bool_]:
    """Rows whose text column equals ``value`` (missing never does); no object copies."""
    return np.asarray(_column(frame, name).eq(value).fillna(False), dtype=bool)


def _boolean(frame: pd.DataFrame, name: str) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """A nullable boolean column as (known, true) masks; accepts ``true``/``false`` text."""
    column = _column(frame, name)
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        lowered = column.astype(object).map(
            lambda value: value.strip().lower() if isinstance(value, str) else value
        )
        # bool keys also match 1 and 0, since they hash alike.
        column = lowered.map({"true": True, "false": False, True: True, False: False})
    # The store and the generator hand over nullable booleans already: no conversion.
    values = (
        column.array
        if isinstance(column.dtype, pd.BooleanDtype)
        else pd.array(column.to_numpy(dtype=object), dtype="boolean")
    )
    known = ~np.asarray(values.isna())
    true = np.asarray(values.fillna(False), dtype=bool)
    return known, true


def _integers(frame: pd.DataFrame, name: str) -> tuple[npt.NDArray[np.bool_], Ints]:
    """A nullable integer column as (known, value with 0 where missing)."""
    values = pd.to_numeric(_column(frame, name), errors="coerce")
    known = np.asarray(values.notna())
    return known, np.asarray(values.fillna(0), dtype=np.float64).astype(np.int64)


@dataclass(frozen=True)
class Licensees:
    """The dealers table, numbered 0..n-1 in license-number order."""

    numbers: pd.Index
    issue_day: Days
    annual_sales: Floats
    license_type: npt.NDArray[np.object_]
    peer_group: Ints
    #: License type as a code (0..types-1), and the license-type code of each peer group.
    type_code: Ints
    group_type: Ints
    #: Licensee codes ordered by peer group, and where each group's run starts and ends.
    group_members: Ints
    group_starts: Ints
    group_sizes: Ints
    #: First day a revocation became known (LATEST_DAY when never revoked).
    revocation_day: Days = field(repr=False)

    def __len__(self) -> int:
        return len(self.numbers)

    def codes_of(self, license_numbers: pd.Series | pd.Index) -> Ints:
        """Codes for license numbers; -1 for numbers not in the dealers table."""
        return np.asarray(
            self.numbers.get_indexer(pd.Index(license_numbers).astype(object)), dtype=np.int64
        )

    def active(self, codes: Ints, days: Days) -> npt.NDArray[np.bool_]:
        """Licensed before the day (or issue date unknown) and not revoked before it."""
        issue = self.issue_day[codes]
        licensed = (issue == MISSING_DAY) | (issue < days)
        return np.asarray(licensed & (self.revocation_day[codes] >= days), dtype=bool)


@dataclass(frozen=True)
class Traces:
    """Traces sorted by (licensee, trace_date), with prefix sums of their flags."""

    index: EventIndex
    prefix: dict[str, Ints]
    time_to_crime_days: Ints  # in sorted order


@dataclass(frozen=True)
class MultipleSales:
    """Multiple-sale reports sorted by (licensee, report_date)."""

    index: EventIndex
    prefix: dict[str, Ints]
    purchaser: Ints  # in sorted order; -1 where no purchaser key
    purchaser_count: int


@dataclass(frozen=True)
class TheftLoss:
    """Theft and loss reports sorted by (licensee, report_date)."""

    index: EventIndex
    prefix: dict[str, Ints]


@dataclass(frozen=True)
class Inspections:
    """Inspections sorted by (licensee, inspection_date, severity, id).

    On a day with several inspections the most severe sorts last, so "the last
    inspection" is the most severe of the latest day's.
    """

    index: EventIndex
    prefix: dict[str, Ints]
    day: Days  # in sorted order
    severity: Ints
    serious: Ints  # 1 where the outcome was serious
    #: Prefix sum of "a compliance inspection that cited violations or worse" in sorted
    #: order, and of compliance inspections.
    compliance_cited: Ints
    compliance: Ints
    violations: Ints
    missing_firearms: Floats  # NaN where not recorded


@dataclass(frozen=True)
class PreparedWorld:
    """Contract tables indexed for point-in-time queries; build with :func:`prepare_world`."""

    licensees: Licensees
    traces: Traces
    multiple_sales: MultipleSales
    theft_loss: TheftLoss
    inspections: Inspections


def arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    """A text column as an Arrow string array (zero-copy for pandas' default str dtype);
    missing values are nulls, other types are cast to text."""
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return array


def _codes(licensees_index: pd.Index, frame: pd.DataFrame) -> Ints:
    """Licensee codes of an event table's rows; -1 for unknown licensees."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    # One hash lookup per row in Arrow: several times faster than pandas' factorize or
    # get_indexer on millions of strings.
    numbers = arrow_text(frame["license_number"])
    value_set = pa.array(np.asarray(licensees_index, dtype=object), type=numbers.type)
    positions = pc.index_in(numbers, value_set=value_set).fill_null(-1)
    return np.asarray(positions.to_numpy(zero_copy_only=False), dtype=np.int64)


def _factorize(values: pd.Series) -> tuple[Ints, int]:
    """Integer codes of a text column (-1 where missing) and the number of distinct values."""
    if values.empty:
        return np.zeros(0, dtype=np.int64), 0
    encoded = pc.dictionary_encode(arrow_text(values))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return np.asarray(codes, dtype=np.int64), len(encoded.dictionary)


def _known_rows(codes: Ints, day: Days) -> npt.NDArray[np.bool_]:
    """Rows that name a known licensee and carry a known-date; others cannot count."""
    return np.asarray((codes >= 0) & (day != MISSING_DAY), dtype=bool)


def _prepare_licensees(dealers: pd.DataFrame, inspections: pd.DataFrame) -> Licensees:
    numbers = pd.Index(dealers["license_number"].astype(object), name="license_number")
    if not numbers.is_unique:
        duplicated = numbers[numbers.duplicated()].unique()[:5].tolist()
        raise ValueError(f"dealers.license_number is not unique, e.g. {duplicated}")
    order = np.argsort(np.asarray(numbers, dtype=str), kind="stable")
    dealers = dealers.iloc[order]
    numbers = numbers[order]
    license_type = _text(dealers, "license_type")
    state = _text(dealers, "premise_state")
    group_labels = pd.Series(license_type).astype(str) + "|" + pd.Series(state).astype(str)
    peer_group, _ = pd.factorize(group_labels, sort=True)
    peer_group = np.asarray(peer_group, dtype=np.int64)
    group_members = np.argsort(peer_group, kind="stable").astype(np.int64)
    group_sizes = np.bincount(peer_group, minlength=int(peer_group.max(initial=-1)) + 1).astype(
        np.int64
    )
    group_starts = (np.cumsum(group_sizes) - group_sizes).astype(np.int64)
    type_code, _ = pd.factorize(pd.Series(license_type).astype(str), sort=True)
    type_code = np.asarray(type_code, dtype=np.int64)
    group_type = np.zeros(group_sizes.size, dtype=np.int64)
    group_type[peer_group] = type_code
    sales = pd.to_numeric(_column(dealers, "annual_firearm_sales"), errors="coerce")

    revocation_day = np.full(len(numbers), LATEST_DAY, dtype=np.int64)
    if not inspections.empty:
        revoked = inspections[inspections["outcome"].astype(object) == "revocation"]
        codes = _codes(numbers, revoked)
        days = to_days(revoked["inspection_date"])
        keep = _known_rows(codes, days)
        np.minimum.at(revocation_day, codes[keep], days[keep])

    return Licensees(
        numbers=numbers,
        issue_day=to_days(_column(dealers, "license_issue_date")),
        annual_sales=np.asarray(sales, dtype=np.float64),
        license_type=license_type,
        peer_group=peer_group,
        type_code=type_code,
        group_type=group_type,
        group_members=group_members,
        group_starts=group_starts,
        group_sizes=group_sizes,
        revocation_day=revocation_day,
    )


def _prepare_traces(numbers: pd.Index, traces: pd.DataFrame) -> Traces:
    codes = _codes(numbers, traces)
    trace_day = to_days(traces["trace_date"]) if len(traces) else np.zeros(0, dtype=np.int64)
    keep = _known_rows(codes, trace_day)
    traces, codes, trace_day = traces[keep], codes[keep], trace_day[keep]
    purchase = to_days(traces["purchase_date"]) if len(traces) else trace_day
    recovery = to_days(traces["recovery_date"]) if len(traces) else trace_day
    possessor_known, possessor = _boolean(traces, "purchaser_is_possessor")
    obliterated_known, obliterated = _boolean(traces, "serial_obliterated")
    index = EventIndex.build(codes, trace_day)
    # Calendar years, as the public statistics count them: under 1 year means recovered
    # before the sale's first anniversary; "3 years or less" includes the third.
    under_1y = within_years(purchase, recovery, 1, inclusive=False)
    not_purchaser = possessor_known & ~possessor
    flags = {
        "under_1y": under_1y,
        "at_most_3y": within_years(purchase, recovery, 3, inclusive=True),
        "mexico": _equals(traces, "recovery_country", "MX"),
        "abroad": recovered_abroad(_column(traces, "recovery_country")),
        "possessor_known": possessor_known,
        "possessor_not_purchaser": not_purchaser,
        "under_1y_possessor_known": under_1y & possessor_known,
        "under_1y_not_purchaser": under_1y & not_purchaser,
        "obliterated_known": obliterated_known,
        "obliterated": obliterated_known & obliterated,
        "rifle": _equals(traces, "firearm_type", "rifle"),
    }
    return Traces(
        index=index,
        prefix={name: index.prefix(values) for name, values in flags.items()},
        time_to_crime_days=index.sorted_values(recovery - purchase).astype(np.int64),
    )


def _prepare_multiple_sales(numbers: pd.Index, reports: pd.DataFrame) -> MultipleSales:
    codes = _codes(numbers, reports)
    day = to_days(reports["report_date"]) if len(reports) else np.zeros(0, dtype=np.int64)
    keep = _known_rows(codes, day)
    reports, codes, day = reports[keep], codes[keep], day[keep]
    _, firearms = _integers(reports, "firearm_count")
    purchaser, distinct_purchasers = _factorize(_column(reports, "purchaser_key"))
    index = EventIndex.build(codes, day)
    is_4 = _equals(reports, "form", "3310.4")
    is_12 = _equals(reports, "form", "3310.12")
    columns = {
        "reports_3310_4": is_4,
        "reports_3310_12": is_12,
        "firearms_3310_4": np.where(is_4, firearms, 0),
        "firearms_3310_12": np.where(is_12, firearms, 0),
    }
    return MultipleSales(
        index=index,
        prefix={name: index.prefix(values) for name, values in columns.items()},
        purchaser=index.sorted_values(purchaser).astype(np.int64),
        purchaser_count=max(distinct_purchasers, 1),
    )


def _prepare_theft_loss(numbers: pd.Index, reports: pd.DataFrame | None) -> TheftLoss:
    reports = reports if reports is not None else empty_table("theft_loss")
    codes = _codes(numbers, reports)
    day = to_days(reports["report_date"]) if len(reports) else np.zeros(0, dtype=np.int64)
    keep = _known_rows(codes, day)
    reports, codes, day = reports[keep], codes[keep], day[keep]
    _, firearms = _integers(reports, "firearm_count")
    index = EventIndex.build(codes, day)
    return TheftLoss(index=index, prefix={"firearms": index.prefix(firearms)})


def _citations(inspections: pd.DataFrame, pattern: str) -> Ints:
    """Per inspection, how many of its ``;``-separated violation codes match ``pattern``.

    ``pattern`` matches at the start of a code; counted in Arrow over the joined text.
    """
    codes = _column(inspections, "violation_codes")
    if len(codes) == 0 or codes.notna().sum() == 0:
        return np.zeros(len(inspections), dtype=np.int64)
    text = arrow_text(codes.astype(object).where(codes.notna(), None))
    counts = pc.count_substring_regex(text, f"(?:^|;)\\s*(?:{pattern})")
    return np.asarray(counts.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _prepare_inspections(numbers: pd.Index, inspections: pd.DataFrame) -> Inspections:
    codes = _codes(numbers, inspections)
    day = (
        to_days(inspections["inspection_date"]) if len(inspections) else np.zeros(0, dtype=np.int64)
    )
    keep = _known_rows(codes, day)
    inspections, codes, day = inspections[keep], codes[keep], day[keep]
    outcome = pd.Series(_text(inspections, "outcome"))
    severity = np.asarray(outcome.map(OUTCOME_SEVERITY).fillna(0), dtype=np.int64)
    _, violations = _integers(inspections, "violation_count")
    missing_known, missing = _integers(inspections, "missing_firearms")
    id_rank, _ = pd.factorize(pd.Series(_text(inspections, "inspection_id")).astype(str), sort=True)
    index = EventIndex.build(
        codes, day, tiebreak=severity * (len(inspections) + 1) + np.asarray(id_rank, dtype=np.int64)
    )
    serious = np.isin(outcome.to_numpy(dtype=object), list(SERIOUS_OUTCOMES))
    compliance = _equals(inspections, "inspection_type", "compliance")
    cited = compliance & (severity >= OUTCOME_SEVERITY["violations_cited"])
    return Inspections(
        index=index,
        prefix={
            "serious": index.prefix(serious),
            "violations": index.prefix(violations),
            "missing_firearms": index.prefix(missing),
            "prohibited_sale_citations": index.prefix(
                _citations(inspections, PROHIBITED_SALE_CODE)),
            "record_keeping_citations": index.prefix(
                _citations(inspections, RECORD_KEEPING_CODE)),
        },
        compliance_cited=index.prefix(cited),
        compliance=index.prefix(compliance),
        day=index.sorted_values(day).astype(np.int64),
        severity=index.sorted_values(severity).astype(np.int64),
        serious=index.sorted_values(serious).astype(np.int64),
        violations=index.sorted_values(violations).astype(np.int64),
        missing_firearms=index.sorted_values(np.where(missing_known, missing, np.nan)).astype(
            np.float64
        ),
    )


def prepare_world(tables: EventTables | Mapping[str, pd.DataFrame]) -> PreparedWorld:
    """Index the contract tables for point-in-time queries.

    Events that name a licensee missing from ``dealers`` are dropped: ingestion rejects
    them, and a feature of nobody cannot be reported.
    """
    if not isinstance(tables, EventTables):
        tables = EventTables.from_mapping(tables)
    licensees = _prepare_licensees(tables.dealers, tables.inspections)
    numbers = licensees.numbers
    return PreparedWorld(
        licensees=licensees,
        traces=_prepare_traces(numbers, tables.traces),
        multiple_sales=_prepare_multiple_sales(numbers, tables.multiple_sales),
        theft_loss=_prepare_theft_loss(numbers, tables.theft_loss),
        inspections=_prepare_inspections(numbers, tables.inspections),
    )
