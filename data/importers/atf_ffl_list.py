"""ATF's published listing of federal firearms licensees, loaded into ``dealers``.

The listing is tab-delimited with one header row in one of two styles: spaced names
(``Lic Regn`` ... ``Voice Phone``) followed by a row of dashes (older monthly files), or
underscore names (``LIC_REGN`` ... ``VOICE_PHONE``) without the dash row (newer files).
Fields may be quoted (``"SALAZAR-MORET, CHARLES"``), with doubled quotes inside.

Each record becomes one contract ``dealers`` row: the license number assembled from its
six parts, the business name (the license name when the business name is empty), the
premise city, state and ZIP, the license type and the county FIPS code derived from the
state and ``LIC_CNTY``. Rows are upserted by license number, so importing the same
listing twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from data.contract import DEALERS
from data.importers.common import (
    ImportRejected,
    ImportSummary,
    Row,
    check_row,
    clean_text,
    write_rows,
    zip5,
)
from data.importers.fips import county_fips
from data.problems import Problem
from data.store import schema

#: The license number's parts in order, with the width ATF zero-pads each one to.
#: Spreadsheet round trips of the newer files drop the leading zeros, so they are restored.
LICENSE_PARTS: tuple[tuple[str, int], ...] = (
    ("LIC_REGN", 1),
    ("LIC_DIST", 2),
    ("LIC_CNTY", 3),
    ("LIC_TYPE", 2),
    ("LIC_XPRDTE", 2),
    ("LIC_SEQN", 5),
)

#: Columns this importer reads; the mail address and phone are not kept.
REQUIRED_COLUMNS: tuple[str, ...] = (
    *(name for name, _ in LICENSE_PARTS),
    "LICENSE_NAME",
    "BUSINESS_NAME",
    "PREMISE_CITY",
    "PREMISE_STATE",
    "PREMISE_ZIP_CODE",
)

#: Which listing column a contract column comes from, to name it in error messages.
_SOURCE_OF: dict[str, str] = {
    "license_type": "LIC_TYPE",
    "business_name": "BUSINESS_NAME",
    "premise_city": "PREMISE_CITY",
    "premise_state": "PREMISE_STATE",
    "premise_zip": "PREMISE_ZIP_CODE",
    "county_fips": "LIC_CNTY",
}


@dataclass(frozen=True)
class ParsedListing:
    """A listing read and checked, ready to be written.

    ``rows`` are contract ``dealers`` rows and ``lines`` the line each came from.
    """

    file: Path
    records_read: int
    rows: list[Row]
    lines: list[int]
    skipped: tuple[Problem, ...]
    notes: tuple[Problem, ...]


def normalise_header(name: str) -> str:
    """``"Lic Regn"`` and ``"LIC_REGN"`` both become ``"LIC_REGN"``."""
    return re.sub(r"[\s_]+", "_", name.strip()).upper()


def _is_dash_row(fields: list[str]) -> bool:
    present = [field.strip() for field in fields if field.strip()]
    return bool(present) and all(re.fullmatch(r"-+", field) for field in present)


def read_text(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark is dropped), else Windows-1252, else Latin-1.

    ATF's exports come from Windows tools; the two 2013 files are plain ASCII. Latin-1
    decodes any byte, so an odd byte never stops an import (names are kept, not parsed).
    """
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def license_number(parts: dict[str, str]) -> tuple[str | None, list[tuple[str, str]]]:
    """Assemble ``R-DD-CCC-TT-XX-SSSSS`` from the six listing fields, restoring zero padding.

    Returns the number, or None with ``(field, reason)`` for every malformed part.

    Examples
    --------
    >>> license_number({"LIC_REGN": "1", "LIC_DIST": "66", "LIC_CNTY": "3",
    ...                 "LIC_TYPE": "1", "LIC_XPRDTE": "4l", "LIC_SEQN": "150"})[0]
    '1-66-003-01-4L-00150'
    """
    pieces: list[str] = []
    problems: list[tuple[str, str]] = []
    for name, width in LICENSE_PARTS:
        value = (parts.get(name) or "").strip().upper()
        if name == "LIC_XPRDTE":
            # Expiration code: last digit of the year and a month letter, e.g. "4L".
            ok = re.fullmatch(r"[0-9A-Z]{2}", value) is not None
            expected = "two characters (year digit and month letter)"
        else:
            ok = value.isdigit() and len(value) <= width
            value = value.zfill(width) if ok else value
            expected = f"up to {width} digits"
        if not ok:
            problems.append((name, f"{value!r} is not {expected}"))
        pieces.append(value)
    if problems:
        return None, problems
    return "-".join(pieces), []


def _dealer_row(fields: dict[str, str]) -> tuple[Row, list[tuple[str, str]]]:
    number, problems = license_number(fields)
    state = clean_text(fields.get("PREMISE_STATE"))
    state = state.upper() if state else None
    cnty = (fields.get("LIC_CNTY") or "").strip()
    row: Row = {
        "license_number": number,
        "license_type": (fields.get("LIC_TYPE") or "").strip().zfill(2) or None,
        # Many records leave the business name empty (written NULL); a sole proprietor
        # trades under the licensee's own name.
        "business_name": clean_text(fields.get("BUSINESS_NAME"))
        or clean_text(fields.get("LICENSE_NAME")),
        "premise_city": clean_text(fields.get("PREMISE_CITY")),
        "premise_state": state,
        "premise_zip": zip5(fields.get("PREMISE_ZIP_CODE")),
        "county_fips": county_fips(state, cnty),
    }
    # A malformed part is already reported under its own column name; the assembled
    # number and type would only repeat it.
    repeated = {"license_number", "license_type"} if problems else set()
    problems += [
        (_SOURCE_OF.get(column, column), reason)
        for column, reason in check_row(DEALERS, row)
        if column not in repeated
    ]
    return row, problems


def parse_atf_ffl_list(path: Path) -> ParsedListing:
    """Read and check a listing file without touching any store.

    Raises ``ImportRejected`` with every error (``file:line: field: reason``) when any
    record is malformed. A final record cut short by the end of the file (the partial
    extracts end mid-record) is loaded when every field this importer keeps is complete,
    and otherwise skipped and reported in ``skipped``; a short record anywhere else is an
    error.
    """
    path = Path(path)
    name = path.name
    text = read_text(path)
    terminated = text.endswith(("\n", "\r"))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"')
    errors: list[Problem] = []
    skipped: list[Problem] = []
    notes: list[Problem] = []
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    line_end = 0
    for fields in reader:
        line = line_end + 1
        line_end = reader.line_num
        if not fields or fields == [""]:
            continue
        if header is None:
            header = [normalise_header(field) for field in fields]
            continue
        if not records and _is_dash_row(fields):
            continue
        records.append((line, fields))

    if header is None:
        raise ImportRejected([Problem(name, 1, "header", "the file is empty")])
    if len(header) < 2:
        raise ImportRejected(
            [Problem(name, 1, "header", "no tab-separated columns; expected ATF's listing")]
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ImportRejected(
            [Problem(name, 1, "header", f"missing column {column}") for column in missing]
        )
    index = {column: header.index(column) for column in REQUIRED_COLUMNS}
    last_kept = max(index.values())

    rows: list[Row] = []
    lines: list[int] = []
    first_line_of: dict[str, int] = {}
    for position, (line, fields) in enumerate(records):
        if any("\n" in field or "\r" in field for field in fields):
            reason = "a quoted field is not closed before the line ends"
            errors.append(Problem(name, line, "record", reason))
            continue
        if len(fields) != len(header):
            is_cut_tail = not terminated and position == len(records) - 1 and (
                len(fields) < len(header)
            )
            if not is_cut_tail:
                reason = f"expected {len(header)} fields, found {len(fields)}"
                errors.append(Problem(name, line, "record", reason))
                continue
            # The last field present may itself be cut; anything we keep must precede it.
            if last_kept >= len(fields) - 1:
                skipped.append(
                    Problem(
                        name,
                        line,
                        "record",
                        f"cut off by the end of the file after {len(fields)} of "
                        f"{len(header)} fields, before the premise address was complete",
                    )
                )
                continue
            notes.append(
                Problem(
                    name,
                    line,
                    "record",
                    f"cut off by the end of the file after {len(fields)} of {len(header)} "
                    "fields; the fields kept are complete, so it is loaded",
                )
            )
        values = {column: fields[i] for column, i in index.items()}
        row, problems = _dealer_row(values)
        for field_name, reason in problems:
            errors.append(Problem(name, line, field_name, reason))
        if problems:
            continue
        number = row["license_number"]
        if number in first_line_of:
            errors.append(
                Problem(
                    name, line, "license_number", f"{number} repeats line {first_line_of[number]}"
                )
            )
            continue
        first_line_of[number] = line
        rows.append(row)
        lines.append(line)

    if errors:
        raise ImportRejected(errors)
    return ParsedListing(
        file=path,
        records_read=len(records),
        rows=rows,
        lines=lines,
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def import_atf_ffl_list(engine: Engine, path: Path) -> ImportSummary:
    """Load an ATF licensee listing into the store's ``dealers`` table, in one transaction.

    Raises ``ImportRejected`` (the store unchanged) when any record is malformed.
    Stored licensees are updated from the listing; their other columns (sales, field
    division, ...) are kept.
    """
    parsed = parse_atf_ffl_list(path)
    with engine.begin() as connection:
        counts = write_rows(connection, schema.dealers, parsed.rows)
    return ImportSummary(
        file=parsed.file,
        records_read=parsed.records_read,
        written={"dealers": counts},
        skipped=parsed.skipped,
        notes=parsed.notes,
    )
