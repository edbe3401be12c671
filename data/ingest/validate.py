"""Vectorised validation of text chunks against the contract.

Each check works on whole columns (pandas/pyarrow string kernels), never on one row at a
time, so validating 5,000,000 traces costs seconds. A chunk comes out as the rows fit to
store (in the store's form: text, ISO dates, nullable integers and booleans), the
rejected rows as they were given, and one problem per offending value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.contract import DEALERS, Column, Kind, Table
from data.ingest.sources import RawChunk

#: Columns of the store's 32-bit INTEGER type cannot hold more.
MAX_INTEGER = 2**31 - 1
#: Pairs (later, earlier) of date columns whose order the contract fixes.
DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "traces": (("recovery_date", "purchase_date"), ("trace_date", "recovery_date")),
}
_DATE_SHAPE = r"\d{4}-\d{2}-\d{2}"
_INTEGER_SHAPE = r"-?\d+"
# Digits beyond this many are out of range whatever they say; they are not parsed at all.
_INTEGER_DIGITS = 15
_BOOLEANS = ("true", "false")
_SHOWN_CHARACTERS = 40  # of an offending value, in a reason


class Licensees:
    """The licensees events may name: stored ones plus this directory's valid dealers.

    Also remembers dealers rejected in this load, so an event naming one is reported as
    a consequence of that rejection rather than as a mystery.
    """

    def __init__(self, stored: Iterable[str], dealers_file: str = "dealers.csv") -> None:
        self._valid: set[str] = set(stored)
        self._rejected: set[str] = set()
        self._index: pd.Index | None = None
        self.dealers_file = dealers_file

    def add_valid(self, license_numbers: Iterable[str]) -> None:
        """Mark licensees as known (their dealers rows were accepted)."""
        self._valid.update(license_numbers)
        self._index = None

    def add_rejected(self, license_numbers: Iterable[str]) -> None:
        """Remember licensees whose dealers rows were rejected."""
        self._rejected.update(license_numbers)

    def unknown(self, license_numbers: pd.Series) -> np.ndarray:
        """A mask of the values that name no known licensee."""
        if self._index is None:
            # Index lookups reuse one hash table; Series.isin would rebuild it per chunk.
            self._index = pd.Index(sorted(self._valid), dtype="str")
        return np.asarray(self._index.get_indexer(pd.Index(license_numbers)) < 0)

    def reasons(self, license_numbers: pd.Series) -> pd.Series:
        """Why each of these (unknown) license numbers is unknown, as a reason's ending."""
        rejected = license_numbers.isin(self._rejected) if self._rejected else False
        return pd.Series(
            np.where(
                rejected,
                f": its row in {self.dealers_file} was rejected",
                f": not in {self.dealers_file} nor in the store",
            ),
            index=license_numbers.index,
            dtype="str",
        )


class FirstLines:
    """The line where each id of one file first appeared, to name duplicates.

    A dict of str -> int is exact and costs about 150 bytes per id (under 1 GiB for
    5,000,000 traces); set operations keep the work per chunk in C.
    """

    def __init__(self) -> None:
        self._first: dict[str, int] = {}

    def duplicates(self, ids: pd.Series, lines: np.ndarray, present: np.ndarray) -> pd.Series:
        """Record ``ids`` (where ``present``); return, per row, the line of an earlier
        occurrence, or 0 where the id is new."""
        first_line = np.zeros(len(ids), dtype=np.int64)
        candidates = ids[present]
        if candidates.empty:
            return pd.Series(first_line, index=ids.index)
        candidate_lines = lines[present]
        earlier = self._first.keys() & set(candidates.tolist())
        repeated_here = candidates.duplicated(keep="first").to_numpy()
        seen_before = (
            candidates.isin(earlier).to_numpy()
            if earlier
            else np.zeros(len(candidates), dtype=bool)
        )
        new = ~repeated_here & ~seen_before
        self._first.update(
            zip(candidates[new].tolist(), candidate_lines[new].tolist(), strict=True)
        )
        duplicate = ~new
        if duplicate.any():
            # Only duplicates are looked up one by one, and they are the rare case.
            found = [self._first[value] for value in candidates[duplicate].tolist()]
            positions = np.flatnonzero(present)[duplicate]
            first_line[positions] = found
        return pd.Series(first_line, index=ids.index)


@dataclass
class CheckedChunk:
    """The outcome of validating one chunk."""

    #: Valid rows in the store's form, columns as present in the file.
    rows: pd.DataFrame
    #: Rejected rows as given, with ``line`` and ``reasons``.
    rejected: pd.DataFrame
    #: One row per problem: ``line``, ``column``, ``reason``, sorted by line.
    errors: pd.DataFrame
    #: Rows that were blank lines, skipped.
    blank: int = 0
    #: The ids of the valid rows.
    valid_ids: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"))
    #: The ids of rejected rows.
    rejected_ids: pd.Series = field(default_factory=lambda: pd.Series(dtype="str"))
    #: (line, reason) of the first value that runs on over lines past its column's
    #: width: most likely a quote left open, after which the rows cannot be trusted.
    runaway: tuple[int, str] | None = None


#: Builds the reasons for the rows of a mask (see ``_Findings.add``).
Reasons = Callable[[np.ndarray], pd.Series]


def _quoting(values: pd.Series, text: str) -> Reasons:
    """Reasons that quote each offending value, then say ``text``."""
    return lambda rows: _shown(values[rows]) + text


class _Findings:
    """Problems of one chunk as (positions, column, reasons) triples, merged at the end."""

    def __init__(self, size: int, column_order: dict[str, int]) -> None:
        self.size = size
        self.bad = np.zeros(size, dtype=bool)
        self._parts: list[pd.DataFrame] = []
        self._order = column_order
        #: (position, column, width, line breaks) of over-long values spanning lines.
        self._runaways: list[tuple[int, str, int, int]] = []

    def note_runaway(self, values: pd.Series, long: np.ndarray, column: str, width: int) -> None:
        """Remember the first of the over-long ``values`` (mask ``long``) spanning lines.

        A quote left open that a later stray quote closes again parses without error:
        the rows in between become one long value. Short multi-line values are allowed.
        """
        candidates = values[long]
        spans = candidates.str.contains("\n", regex=False).to_numpy(dtype=bool, na_value=False)
        if spans.any():
            first = int(np.flatnonzero(long)[np.flatnonzero(spans)[0]])
            self._runaways.append((first, column, width, values.iloc[first].count("\n")))

    def runaway(self, lines: np.ndarray) -> tuple[int, str] | None:
        """The line and reason of the first value :meth:`note_runaway` found, if any."""
        if not self._runaways:
            return None
        position, column, width, breaks = min(self._runaways)
        line = int(lines[position])
        return line, (
            f"a quoted {column} runs from line {line} to line {line + breaks} and is longer "
            f"than {width} characters: is a quote left open on line {line}?"
        )

    def add(self, mask: np.ndarray, column: str, reason: str | Reasons) -> None:
        """Record a problem in ``column`` for the rows of ``mask``.

        ``reason`` may be a function of the mask, so that per-row reasons are only
        built for the offending rows, not for every row of every chunk.
        """
        if not mask.any():
            return
        positions = np.flatnonzero(mask)
        if isinstance(reason, str):
            reasons = pd.Series(reason, index=range(len(positions)), dtype="str")
        else:
            reasons = reason(mask).reset_index(drop=True).astype("str")
        self.bad |= mask
        self._parts.append(
            pd.DataFrame(
                {
                    "position": positions,
                    "order": self._order.get(column, len(self._order)),
                    "column": column,
                    "reason": reasons,
                }
            )
        )

    def frame(self, lines: np.ndarray) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(
                {
                    "position": pd.Series(dtype=np.int64),
                    "line": pd.Series(dtype=np.int64),
                    "column": pd.Series(dtype="str"),
                    "reason": pd.Series(dtype="str"),
                }
            )
        errors = pd.concat(self._parts, ignore_index=True)
        errors = errors.sort_values(["position", "order"], kind="stable", ignore_index=True)
        errors.insert(1, "line", lines[errors["position"].to_numpy()])
        return errors.drop(columns="order")


def _shown(values: pd.Series) -> pd.Series:
    # Quote the offending value, cut short so one absurd field cannot flood the report.
    # Line breaks are escaped: the report holds one problem per line.
    text = values.str.slice(0, _SHOWN_CHARACTERS)
    text = (
        text.str.replace("\n", "\\n", regex=False)
        .str.replace("\r", "\\r", regex=False)
        .str.replace("\x00", "\\x00", regex=False)
    )
    long = values.str.len() > _SHOWN_CHARACTERS
    return "'" + text.where(~long, text + "...") + "'"


def _order_reasons(raw: pd.DataFrame, later: str, earlier: str) -> Reasons:
    def reasons(rows: np.ndarray) -> pd.Series:
        return f"{later} " + raw[later][rows] + f" is before {earlier} " + raw[earlier][rows]

    return reasons


class TableValidator:
    """Validates the chunks of one table's file, in order.

    Parameters
    ----------
    table : Table
        The contract table the file holds.
    columns : list of str
        The contract columns present in the file (required ones are all there).
    licensees : Licensees or None
        Known licensees, for tables whose rows name one.
    """

    def __init__(self, table: Table, columns: list[str], licensees: Licensees | None) -> None:
        self.table = table
        self.columns = [name for name in table.column_names if name in columns]
        self.licensees = licensees
        self._first_lines = FirstLines()
        self._order = {name: position for position, name in enumerate(table.column_names)}

    def check(self, chunk: RawChunk) -> CheckedChunk:
        """Validate one chunk; ids are remembered across chunks to catch duplicates."""
        raw = chunk.frame
        blank = (
            (raw == "").all(axis=1).to_numpy()
            if len(raw.columns)
            else np.ones(len(raw), dtype=bool)
        )
        if blank.any():
            raw = raw.loc[~blank].reset_index(drop=True)
            lines = chunk.lines[~blank]
        else:
            lines = chunk.lines
        raw = raw[self.columns]
        findings = _Findings(len(raw), self._order)
        store: dict[str, pd.Series] = {}
        dates: dict[str, pd.Series] = {}
        for name in self.columns:
            store[name] = self._check_column(self.table.column(name), raw[name], findings, dates)
        self._check_date_order(raw, dates, findings)
        self._check_licensees(raw, findings)
        self._check_unique_ids(raw, lines, findings)

        good = ~findings.bad
        errors = findings.frame(lines)
        rows = pd.DataFrame(store).loc[good].reset_index(drop=True)
        rejected = raw.loc[findings.bad].reset_index(drop=True)
        if findings.bad.any():
            rejected.insert(0, "line", lines[findings.bad])
            joined = (
                (errors["column"] + ": " + errors["reason"])
                .groupby(errors["position"].to_numpy())
                .agg("; ".join)
            )
            rejected.insert(1, "reasons", joined.to_numpy())
        ids = raw[self.table.id_column]
        return CheckedChunk(
            runaway=findings.runaway(lines),
            rows=rows,
            rejected=rejected,
            errors=errors.drop(columns="position"),
            blank=int(blank.sum()),
            valid_ids=ids.loc[good].reset_index(drop=True),
            rejected_ids=ids.loc[findings.bad & (ids != "").to_numpy()].reset_index(drop=True),
        )

    def _check_column(
        self,
        column: Column,
        values: pd.Series,
        findings: _Findings,
        dates: dict[str, pd.Series],
    ) -> pd.Series:
        """Check one column; return it in the store's form (NA where empty or invalid)."""
        name = column.name
        present = (values != "").to_numpy()
        if column.required:
            findings.add(~present, name, "missing required value")
        if column.kind is Kind.DATE:
            shaped = values.str.fullmatch(_DATE_SHAPE).to_numpy(dtype=bool, na_value=False)
            parsed = pd.to_datetime(values.where(shaped), format="%Y-%m-%d", errors="coerce")
            bad = present & parsed.isna().to_numpy()
            findings.add(bad, name, _quoting(values, " is not a date (YYYY-MM-DD)"))
            dates[name] = parsed
            # The store takes dates as ISO text on both backends, which the input already is.
            return values.where(present & ~bad)
        if column.kind is Kind.INTEGER:
            shaped = values.str.fullmatch(_INTEGER_SHAPE).to_numpy(dtype=bool, na_value=False)
            bad_shape = present & ~shaped
            findings.add(bad_shape, name, _quoting(values, " is not an integer"))
            long = shaped & (values.str.lstrip("-").str.len() > _INTEGER_DIGITS).to_numpy(
                dtype=bool, na_value=False)
            numbers = pd.to_numeric(values.where(shaped & ~long), errors="coerce")
            too_big = long | (numbers.abs() > MAX_INTEGER).to_numpy(dtype=bool, na_value=False)
            findings.add(
                too_big, name, _quoting(values, f" is out of range (at most {MAX_INTEGER})")
            )
            too_small = np.zeros(len(values), dtype=bool)
            if column.minimum is not None:
                too_small = (numbers < column.minimum).to_numpy(dtype=bool, na_value=False)
                too_small = too_small & ~too_big
                findings.add(
                    too_small, name, _quoting(values, f" is below the minimum {column.minimum}")
                )
            keep = shaped & ~too_big & ~too_small
            return numbers.where(keep).astype("Int64")
        if column.kind is Kind.BOOLEAN:
            bad = present & ~values.isin(_BOOLEANS).to_numpy()
            findings.add(bad, name, _quoting(values, " is not a boolean (true or false)"))
            flags = pd.Series(values == "true", dtype="boolean")
            return flags.where(pd.Series(present & ~bad, index=values.index))
        bad = np.zeros(len(values), dtype=bool)
        if column.choices is None and column.pattern is None:
            # PostgreSQL text cannot hold NUL (SQLite would store it): refused on both
            # alike. A choice or a pattern already refuses it.
            bad = present & values.str.contains("\x00", regex=False).to_numpy(
                dtype=bool, na_value=False
            )
            findings.add(bad, name, _quoting(values, " contains a NUL character (\\x00)"))
        if column.choices is not None:
            wrong = present & ~values.isin(column.choices).to_numpy()
            shown = (
                ", ".join(column.choices) if len(column.choices) <= 10 else "the contract's list"
            )
            findings.add(wrong, name, _quoting(values, f" is not one of {shown}"))
            bad |= wrong
        if column.pattern is not None:
            wrong = present & ~values.str.contains(column.pattern, regex=True).to_numpy(
                dtype=bool, na_value=False
            )
            findings.add(wrong, name, _quoting(values, f" does not match {column.pattern}"))
            bad |= wrong
        if column.max_length is not None:
            wrong = present & (values.str.len() > column.max_length).to_numpy()
            findings.add(wrong, name, f"longer than {column.max_length} characters")
            if wrong.any():
                findings.note_runaway(values, wrong, name, column.max_length)
            bad |= wrong
        return values.where(present & ~bad)

    def _check_date_order(
        self, raw: pd.DataFrame, dates: dict[str, pd.Series], findings: _Findings
    ) -> None:
        for later, earlier in DATE_ORDER.get(self.table.name, ()):
            if later not in dates or earlier not in dates:
                continue
            before = (dates[later] < dates[earlier]).to_numpy(dtype=bool, na_value=False)
            findings.add(before, later, _order_reasons(raw, later, earlier))

    def _check_licensees(self, raw: pd.DataFrame, findings: _Findings) -> None:
        if self.licensees is None or not self.table.references_dealers:
            return
        numbers = raw["license_number"]
        checkable = (numbers != "").to_numpy() & numbers.str.contains(
            DEALERS.column("license_number").pattern or "", regex=True
        ).to_numpy(dtype=bool, na_value=False)
        unknown = checkable & self.licensees.unknown(numbers)
        licensees = self.licensees
        findings.add(
            unknown,
            "license_number",
            lambda rows: (
                "unknown licensee " + _shown(numbers[rows]) + licensees.reasons(numbers[rows])
            ),
        )

    def _check_unique_ids(self, raw: pd.DataFrame, lines: np.ndarray, findings: _Findings) -> None:
        name = self.table.id_column
        ids = raw[name]
        first = self._first_lines.duplicates(ids, lines, (ids != "").to_numpy())
        findings.add(
            (first > 0).to_numpy(),
            name,
            lambda rows: (
                f"duplicate {name} "
                + _shown(ids[rows])
                + " (first at line "
                + first[rows].astype(str)
                + ")"
            ),
        )
