"""What the importers share: row errors, contract checks, summaries and store writes.

An importer parses its whole file first and checks every produced row against the
contract (``data.contract``); only a file without errors reaches the store, and then
in one transaction, so a rejected import leaves the store exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, any_, bindparam, select
from sqlalchemy.dialects import postgresql

from data.contract import Column, Kind
from data.contract import Table as ContractTable
from data.problems import Problem
from data.store.write import upsert_frame

#: Keys per ``IN (...)`` query when looking up stored rows; well under SQLite's limit.
_LOOKUP_CHUNK = 1000
#: Keys per ``= ANY(:keys)`` query on PostgreSQL, where the keys travel as one array.
_ARRAY_LOOKUP_CHUNK = 50_000

Row = dict[str, Any]


class ImportRejected(Exception):
    """The input file has errors; nothing of it was written.

    ``errors`` holds every error found, in file order.
    """

    def __init__(self, errors: Sequence[Problem]) -> None:
        self.errors: tuple[Problem, ...] = tuple(errors)
        count = len(self.errors)
        first = str(self.errors[0]) if self.errors else "no details"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"import rejected, {count} error(s): {first}{more}")


@dataclass(frozen=True)
class WriteCounts:
    """What writing a batch of rows did to one store table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class ImportSummary:
    """The outcome of one import.

    ``records_read`` counts the data records in the file (header lines excluded, skipped
    records included); ``written`` maps store tables to what happened to their rows;
    ``skipped`` names every record that was deliberately not loaded, with the reason;
    ``notes`` names records that were loaded with a repair or an assumption worth knowing.
    """

    file: Path
    records_read: int
    written: dict[str, WriteCounts]
    skipped: tuple[Problem, ...] = field(default_factory=tuple)
    notes: tuple[Problem, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """One line for people: records read, then per table inserted/updated/unchanged."""
        parts = [f"{self.file.name}: {self.records_read} records read"]
        for table, counts in self.written.items():
            parts.append(
                f"{table}: {counts.inserted} inserted, {counts.updated} updated, "
                f"{counts.unchanged} unchanged"
            )
        parts.append(f"{len(self.skipped)} skipped, {len(self.notes)} noted")
        return "; ".join(parts)


def _describe_choices(choices: tuple[str, ...]) -> str:
    if len(choices) <= 12:
        return "one of " + ", ".join(choices)
    return "an allowed value (see the data contract)"


def check_value(column: Column, value: object) -> str | None:
    """Why ``value`` breaks the contract ``column``, or None when it is fine.

    ``value`` is already typed: ``str`` for text, ``date``, ``int``, ``bool`` or None.
    """
    if value is None or value == "":
        return "required value is missing" if column.required else None
    if column.kind is Kind.TEXT:
        if not isinstance(value, str):
            return f"expected text, got {value!r}"
        if "\x00" in value:  # PostgreSQL text cannot hold it; refused on both stores
            return f"{value!r} contains a NUL character (\\x00)"
        if column.max_length is not None and len(value) > column.max_length:
            return f"longer than {column.max_length} characters"
        if column.choices is not None and value not in column.choices:
            return f"{value!r} is not {_describe_choices(column.choices)}"
        if column.pattern is not None and not re.fullmatch(column.pattern, value):
            return f"{value!r} does not match {column.pattern}"
    elif column.kind is Kind.DATE:
        if not isinstance(value, date):
            return f"expected a date, got {value!r}"
    elif column.kind is Kind.INTEGER:
        # bool is an int subclass; a flag in a count column is a mapping bug.
        if not isinstance(value, int) or isinstance(value, bool):
            return f"expected an integer, got {value!r}"
        if column.minimum is not None and value < column.minimum:
            return f"{value} is below the minimum {column.minimum}"
    elif column.kind is Kind.BOOLEAN and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    return None


def check_row(table: ContractTable, row: Mapping[str, object]) -> list[tuple[str, str]]:
    """Every ``(column, reason)`` by which ``row`` breaks ``table``'s contract.

    Only the columns present in ``row`` are checked, but a required column that is
    absent is reported, since the store would refuse the row anyway.
    """
    problems: list[tuple[str, str]] = []
    for column in table.columns:
        if column.name not in row:
            if column.required:
                problems.append((column.name, "required value is missing"))
            continue
        reason = check_value(column, row[column.name])
        if reason is not None:
            problems.append((column.name, reason))
    return problems


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stored_rows(
    connection: Connection, table: Table, key: str, columns: Sequence[str], keys: Sequence[Any]
) -> dict[Any, tuple[Any, ...]]:
    stored: dict[Any, tuple[Any, ...]] = {}
    selected = [table.c[name] for name in columns]
    key_column = table.c[key]
    key_position = list(columns).index(key)
    postgres = connection.dialect.name == "postgresql"
    for chunk in _chunks(keys, _ARRAY_LOOKUP_CHUNK if postgres else _LOOKUP_CHUNK):
        if postgres:
            # One array parameter: PostgreSQL hashes it, while a list of a thousand
            # separate parameters is compared row by row (measured 10x slower).
            keys_param = bindparam("keys", list(chunk), type_=postgresql.ARRAY(key_column.type))
            condition = key_column == any_(keys_param)
        else:
            condition = key_column.in_(chunk)
        for record in connection.execute(select(*selected).where(condition)):
            values = tuple(record)
            stored[values[key_position]] = values
    return stored


def _primary_key(table: Table) -> str:
    (key,) = [column.name for column in table.primary_key.columns]
    return key


def _frame(rows: Sequence[Row], columns: Sequence[str]) -> pd.DataFrame:
    # object dtype keeps dates as ``date`` and None as None, the typed form upsert_frame takes.
    return pd.DataFrame(list(rows), columns=list(columns), dtype=object)


def write_rows(connection: Connection, table: Table, rows: Sequence[Row]) -> WriteCounts:
    """Upsert ``rows`` into ``table`` by primary key, counting what actually changed.

    All rows carry the same columns; only those are written, so columns another source
    filled (e.g. ``annual_firearm_sales``) are kept. Rows identical to the stored ones
    are not sent at all, which keeps re-imports cheap and lets the summary say so.
    """
    if not rows:
        return WriteCounts()
    key = _primary_key(table)
    columns = list(rows[0])
    stored = _stored_rows(connection, table, key, columns, [row[key] for row in rows])
    new: list[Row] = []
    changed: list[Row] = []
    for row in rows:
        previous = stored.get(row[key])
        if previous is None:
            new.append(row)
        elif previous != tuple(row[name] for name in columns):
            changed.append(row)
    if new or changed:
        upsert_frame(connection, table, _frame(new + changed, columns))
    return WriteCounts(
        inserted=len(new), updated=len(changed), unchanged=len(rows) - len(new) - len(changed)
    )


def insert_missing(connection: Connection, table: Table, rows: Sequence[Row]) -> WriteCounts:
    """Insert the ``rows`` whose key is not stored yet; stored rows are left untouched.

    For sources that know less about a row than the store may already hold (an
    inspection report names a licensee, the licensee listing describes it).
    """
    if not rows:
        return WriteCounts()
    key = _primary_key(table)
    stored = _stored_rows(connection, table, key, [key], [row[key] for row in rows])
    missing = [row for row in rows if row[key] not in stored]
    if missing:
        upsert_frame(connection, table, _frame(missing, list(rows[0])))
    return WriteCounts(inserted=len(missing), unchanged=len(rows) - len(missing))


def clean_text(value: object) -> str | None:
    """Text with runs of whitespace collapsed; None for empty or the literal ``NULL``.

    ATF's exports write ``NULL`` for an empty business name and pad some fields.
    """
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text or text.upper() == "NULL":
        return None
    return text


def zip5(value: object) -> str | None:
    """The five-digit ZIP code at the start of ``value`` (``"061100000"`` -> ``"06110"``).

    None when the field does not start with five digits; the contract column is optional
    and a guessed ZIP would be worse than none.
    """
    text = clean_text(value)
    if text is None:
        return None
    match = re.match(r"\d{5}", text)
    return match.group(0) if match else None
