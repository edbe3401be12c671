"""ATF inspection reports (FOIA export, one JSON object a line), loaded into ``inspections``.

The export (The Trace and USA Today, 2015-2017) holds compliance inspections that ended
in a warning letter or worse. Each report becomes one contract ``inspections`` row, and
the licensee it names is created in ``dealers`` when the store does not hold it yet;
licensees already stored are never overwritten, since the listing or an ingest usually
knows more about them than a report does. docs/importers.md gives the mapping and the
measured counts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from data.contract import DEALERS, INSPECTIONS
from data.importers.common import (
    ImportRejected,
    ImportSummary,
    Row,
    check_row,
    clean_text,
    insert_missing,
    write_rows,
    zip5,
)
from data.importers.fips import county_fips
from data.problems import Problem
from data.store import schema

#: Dispositions that name a contract outcome directly.
DIRECT_OUTCOMES: dict[str, str] = {
    "Warning letter": "warning_letter",
    "Warning conference": "warning_conference",
    "Revocation/denial of renewal": "revocation",
}
SETTLEMENT = "Settlement"
SURRENDERED = "Surrendered/out of business"

#: Stand-in for a missing completion date, counted from the assignment date. In this
#: export 95% of inspections closed within 355 days of assignment, so a year later is
#: almost never *before* the outcome was really known: the point-in-time rule holds.
COMPLETION_FALLBACK = timedelta(days=365)

#: Placeholders the export writes where a citation's code was not captured. They count
#: as violations (``citation_count`` includes them) but are not codes.
_PLACEHOLDER_CODES = frozenset({"[MISSING]"})

#: Which report field a contract column comes from, to name it in error messages.
_SOURCE_OF: dict[str, str] = {
    "inspection_id": "ui_number",
    "license_number": "ffl_number",
    "inspection_date": "inspection_complete_date",
    "outcome": "final_disposition",
    "violation_count": "citation_count",
    "violation_codes": "violations",
    "license_type": "license_type",
    "business_name": "ffl_proprietor",
    "premise_city": "ffl_city",
    "premise_state": "ffl_state",
    "premise_zip": "ffl_zip",
}


class ReportError(ValueError):
    """One field of a report cannot be mapped; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class ParsedReports:
    """An export read and checked, ready to be written.

    ``inspections`` and ``dealers`` are contract rows; ``dealers`` holds one row per
    licensee named, built from its latest report.
    """

    file: Path
    records_read: int
    inspections: list[Row]
    dealers: list[Row]
    skipped: tuple[Problem, ...]
    notes: tuple[Problem, ...]


def revocation_found(report: Mapping[str, Any]) -> bool:
    """Whether the inspection found revocation warranted or recommended it.

    ``revocation_warranted`` is ``"Y"``/``"N"``; ``revocation_recommended`` is a boolean
    that some reports lack. Either one saying yes is enough.
    """
    warranted = report.get("revocation_warranted")
    if warranted not in (None, "Y", "N"):
        raise ReportError("revocation_warranted", f"{warranted!r} is not Y or N")
    recommended = report.get("revocation_recommended")
    if recommended not in (None, True, False):
        raise ReportError("revocation_recommended", f"{recommended!r} is not true or false")
    return warranted == "Y" or recommended is True


def map_outcome(report: Mapping[str, Any]) -> str:
    """The contract outcome of a report, from ``final_disposition`` (else ``..._2``).

    Warning letter, warning conference and revocation map directly. The other two
    depend on what the inspection found (see docs/importers.md):

    - ``Settlement`` ends an administrative proceeding by agreement: ``revocation`` when
      revocation was warranted or recommended (the proceeding it settled), else
      ``warning_conference``, the lightest action that is itself a proceeding.
    - ``Surrendered/out of business``: ``revocation`` when revocation was warranted or
      recommended (a surrender in lieu of revocation), else ``warning_letter``, the
      floor of this export, since nothing more than that is on record.

    Raises ``ReportError`` for a missing or unknown disposition.

    Examples
    --------
    >>> map_outcome({"final_disposition": "Settlement", "revocation_warranted": "Y"})
    'revocation'
    >>> map_outcome({"final_disposition": "Surrendered/out of business",
    ...              "revocation_warranted": "N", "revocation_recommended": False})
    'warning_letter'
    """
    disposition = report.get("final_disposition") or report.get("final_disposition_2")
    if not disposition:
        raise ReportError("final_disposition", "required value is missing")
    if disposition in DIRECT_OUTCOMES:
        # Validate the flags even where they do not decide the outcome.
        revocation_found(report)
        return DIRECT_OUTCOMES[disposition]
    if disposition == SETTLEMENT:
        return "revocation" if revocation_found(report) else "warning_conference"
    if disposition == SURRENDERED:
        return "revocation" if revocation_found(report) else "warning_letter"
    known = [*DIRECT_OUTCOMES, SETTLEMENT, SURRENDERED]
    raise ReportError("final_disposition", f"{disposition!r} is not one of {', '.join(known)}")


def normalise_violation_codes(violations: object) -> tuple[str | None, int]:
    """The contract's ``;``-separated codes and the number of citations listed.

    ``"478.21(a), 478.102(a)"`` becomes ``"478.21(a);478.102(a)"``. Whitespace inside a
    code is collapsed; repeated codes are listed once; ``[MISSING]`` placeholders count
    as citations but are not listed. Statutory citations (``18 USC 923(g)(5)(A)``) are
    kept, since they are violations the inspection cited.

    Examples
    --------
    >>> normalise_violation_codes("478.21(a), [MISSING], 478.21(a)")
    ('478.21(a)', 3)
    """
    if violations is None:
        return None, 0
    if not isinstance(violations, str):
        raise ReportError("violations", f"expected text, got {violations!r}")
    tokens = [" ".join(token.split()) for token in re.split(r"[,;]", violations)]
    tokens = [token for token in tokens if token]
    codes = list(dict.fromkeys(token for token in tokens if token not in _PLACEHOLDER_CODES))
    return (";".join(codes) if codes else None), len(tokens)


def _parse_date(report: Mapping[str, Any], field: str) -> date | None:
    value = report.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ReportError(field, f"expected a date YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReportError(field, f"{value!r} is not a date YYYY-MM-DD") from None


def inspection_date(report: Mapping[str, Any]) -> tuple[date, str | None]:
    """When the outcome became known, and a note when it had to be estimated.

    The completion date; without one, the assignment date plus ``COMPLETION_FALLBACK``.
    """
    completed = _parse_date(report, "inspection_complete_date")
    assigned = _parse_date(report, "inspection_assign_date")
    if completed is not None:
        if assigned is not None and completed < assigned:
            # A recording slip in the export; the completion date is still the best
            # statement of when the outcome was known.
            return completed, (
                f"completed ({completed.isoformat()}) before it was assigned "
                f"({assigned.isoformat()}); the completion date is kept"
            )
        return completed, None
    if assigned is None:
        raise ReportError(
            "inspection_complete_date", "missing, and no inspection_assign_date to fall back on"
        )
    estimate = assigned + COMPLETION_FALLBACK
    return estimate, (
        f"no completion date; inspection_date set to the assignment date + "
        f"{COMPLETION_FALLBACK.days} days ({estimate.isoformat()})"
    )


def _violation_count(report: Mapping[str, Any], listed: int) -> int:
    count = report.get("citation_count")
    if count is None:
        return listed
    if isinstance(count, bool) or not isinstance(count, int):
        raise ReportError("citation_count", f"expected a whole number, got {count!r}")
    return count


def _inspection_row(report: Mapping[str, Any]) -> tuple[Row, str | None]:
    when, note = inspection_date(report)
    codes, listed = normalise_violation_codes(report.get("violations"))
    row: Row = {
        "inspection_id": clean_text(report.get("ui_number")),
        "license_number": clean_text(report.get("ffl_number")),
        "inspection_date": when,
        # Every report in the export is a compliance inspection.
        "inspection_type": "compliance",
        "outcome": map_outcome(report),
        "violation_count": _violation_count(report, listed),
        "violation_codes": codes,
    }
    return row, note


def _dealer_row(report: Mapping[str, Any]) -> Row:
    number = str(report["ffl_number"]).strip()
    _, _, county_code, type_code, _, _ = number.split("-")
    stated_type = clean_text(report.get("license_type"))
    if stated_type is not None and stated_type != type_code:
        raise ReportError(
            "license_type", f"{stated_type!r} disagrees with the type {type_code} in ffl_number"
        )
    state = clean_text(report.get("ffl_state"))
    state = state.upper() if state else None
    return {
        "license_number": number,
        "license_type": type_code,
        # ffl_proprietor_2 is the trade name when it differs from the licensee's name,
        # like the listing's business name; ffl_proprietor is the license name.
        "business_name": clean_text(report.get("ffl_proprietor_2"))
        or clean_text(report.get("ffl_proprietor")),
        "premise_city": clean_text(report.get("ffl_city")),
        "premise_state": state,
        "premise_zip": zip5(report.get("ffl_zip")),
        "county_fips": county_fips(state, county_code),
    }


def _is_attribution(record: Mapping[str, Any]) -> bool:
    # The export ends with a line crediting its source in the ui_number field, with no
    # other field; it is not a report.
    text = record.get("ui_number")
    return set(record) == {"ui_number"} and isinstance(text, str) and text.startswith("Source:")


def _content_digest(record: Mapping[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()[:8]


def _merge_dealers(candidates: list[tuple[date, str, Row]]) -> Row:
    # Latest report first; a field it lacks is taken from the next latest.
    ordered = [row for _, _, row in sorted(candidates, key=lambda item: item[:2], reverse=True)]
    merged = dict(ordered[0])
    for row in ordered[1:]:
        for name, value in row.items():
            if merged.get(name) is None and value is not None:
                merged[name] = value
    return merged


def parse_atf_inspection_reports(path: Path) -> ParsedReports:
    """Read and check an inspection-report export without touching any store.

    Raises ``ImportRejected`` with every error (``file:line: field: reason``). The
    closing attribution line is skipped and reported. Two different reports sharing a
    ``ui_number`` both get ``ui_number~<8 hex digits of their content hash>`` as their
    id, which does not depend on file order; an exact repeat of a report is skipped.
    """
    path = Path(path)
    name = path.name
    errors: list[Problem] = []
    skipped: list[Problem] = []
    notes: list[Problem] = []
    reports: list[tuple[int, dict[str, Any]]] = []
    records_read = 0
    with path.open(encoding="utf-8-sig") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            records_read += 1
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as error:
                errors.append(Problem(name, line, "record", f"not valid JSON: {error.msg}"))
                continue
            if not isinstance(record, dict):
                errors.append(Problem(name, line, "record", "not a JSON object"))
                continue
            if _is_attribution(record):
                skipped.append(Problem(name, line, "record", "source attribution, not a report"))
                continue
            reports.append((line, record))

    # Settle id collisions before mapping, so every row's id is final.
    by_id: dict[object, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for line, record in reports:
        by_id[record.get("ui_number")].append((line, record))
    renamed: dict[int, str] = {}
    repeats: set[int] = set()
    for ui_number, group in by_id.items():
        if len(group) < 2 or not isinstance(ui_number, str):
            continue
        first_line_of: dict[str, int] = {}
        for line, record in group:
            digest = _content_digest(record)
            if digest in first_line_of:
                repeats.add(line)
                skipped.append(
                    Problem(name, line, "record", f"exact repeat of line {first_line_of[digest]}")
                )
                continue
            first_line_of[digest] = line
            renamed[line] = f"{ui_number}~{digest}"
        if len(first_line_of) == 1:
            # Only exact repeats: the one report keeps its own number.
            renamed.pop(group[0][0], None)

    inspections: list[Row] = []
    dealer_candidates: dict[str, list[tuple[date, str, Row]]] = defaultdict(list)
    for line, record in reports:
        if line in repeats:
            continue
        try:
            row, note = _inspection_row(record)
        except ReportError as error:
            errors.append(Problem(name, line, error.field, error.reason))
            continue
        row["inspection_id"] = renamed.get(line, row["inspection_id"])
        problems = check_row(INSPECTIONS, row)
        for column, reason in problems:
            errors.append(Problem(name, line, _SOURCE_OF.get(column, column), reason))
        if problems:
            continue
        try:
            dealer = _dealer_row(record)
        except ReportError as error:
            errors.append(Problem(name, line, error.field, error.reason))
            continue
        dealer_problems = check_row(DEALERS, dealer)
        for column, reason in dealer_problems:
            errors.append(Problem(name, line, _SOURCE_OF.get(column, column), reason))
        if dealer_problems:
            continue
        if note is not None:
            notes.append(Problem(name, line, "inspection_complete_date", note))
        inspections.append(row)
        dealer_candidates[dealer["license_number"]].append(
            (row["inspection_date"], row["inspection_id"], dealer)
        )

    if errors:
        raise ImportRejected(sorted(errors, key=lambda issue: issue.line or 0))
    dealers = [_merge_dealers(candidates) for candidates in dealer_candidates.values()]
    return ParsedReports(
        file=path,
        records_read=records_read,
        inspections=inspections,
        dealers=dealers,
        skipped=tuple(sorted(skipped, key=lambda issue: issue.line or 0)),
        notes=tuple(notes),
    )


def import_atf_inspection_reports(engine: Engine, path: Path) -> ImportSummary:
    """Load an inspection-report export into ``inspections``, in one transaction.

    Licensees the reports name are inserted into ``dealers`` first when they are not
    stored; stored licensees are left as they are. Inspections are upserted by id, so
    importing the same export twice changes nothing the second time. Raises
    ``ImportRejected`` (the store unchanged) when any report is malformed.
    """
    parsed = parse_atf_inspection_reports(path)
    with engine.begin() as connection:
        dealer_counts = insert_missing(connection, schema.dealers, parsed.dealers)
        inspection_counts = write_rows(connection, schema.inspections, parsed.inspections)
    return ImportSummary(
        file=parsed.file,
        records_read=parsed.records_read,
        written={"inspections": inspection_counts, "dealers": dealer_counts},
        skipped=parsed.skipped,
        notes=parsed.notes,
    )
