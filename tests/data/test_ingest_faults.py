"""Input that once crashed ingestion is rejected with ``file:line: column: reason``.

Each fault is planted in a small valid world laid over one already stored, and loaded on
SQLite and on PostgreSQL (``store_url``), with and without quarantine: a quote left open
early in a file, a value past Python's 131,072-character field limit, a NUL character,
and a file that is not UTF-8. Problems must be the same on both stores, no stored row is
lost, and quarantine holds only the rows that are bad themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data.ingest import ingest_directory
from data.ingest.sources import first_undecodable_byte
from data.store import open_store
from tests.data.test_ingest import VALID, snapshot, write_directory

DEALERS_HEADER = VALID["dealers"].splitlines()[0]
TRACES_HEADER = VALID["traces"].splitlines()[0]


def _dealer(number: int, name: str | None = None) -> str:
    return f"1-01-001-01-9Z-{number:05d},01,{name or f'Delta Arms {number}'},TX,,,\n"


def _trace(number: int, dealer: int) -> str:
    return (
        f"N{number},1-01-001-01-9Z-{dealer:05d},pistol,,2019-01-01,2020-01-01,2020-01-02,"
        "US,,,\n"
    )


def _world(dealer_lines: list[str], trace_lines: list[str] | None = None) -> dict[str, str]:
    """The stored world again, plus new dealers (lines 5 on) and new traces (6 on)."""
    traces = VALID["traces"] + "".join(trace_lines or [_trace(1, 4), _trace(2, 5)])
    return {**VALID, "dealers": VALID["dealers"] + "".join(dealer_lines), "traces": traces}


def _many_dealers(first: int, count: int) -> list[str]:
    return [_dealer(number) for number in range(first, first + count)]


@dataclass(frozen=True)
class Fault:
    """A directory with one fault, and the problems ingestion must report for it."""

    tables: dict[str, str | bytes]
    problems: list[str]
    #: Whether the fault rejects its whole file (and so the load, in either mode).
    whole_file: bool
    #: (table, line) of every row quarantine must write.
    quarantined: set[tuple[str, str]]


def _unclosed_quote_early() -> Fault:
    # The quote opened on line 5 is never closed; 5,000 rows (about 180 KB) follow it.
    dealers = [_dealer(4, '"Delta Arms'), *_many_dealers(5, 5000)]
    return Fault(
        {**_world(dealers)},
        [
            "dealers.csv:5: *: a value in the row starting here runs past 131,072 characters "
            "(is a quote left open?)"
        ],
        whole_file=True,
        quarantined=set(),
    )


def _unclosed_quote_short() -> Fault:
    traces = [_trace(1, 4).replace(",pistol,", ',"pistol,'), _trace(2, 5), _trace(3, 5)]
    return Fault(
        {**_world(_many_dealers(4, 2), traces)},
        [
            "traces.csv:6: *: expected 11 fields, found 3 (the row runs on to line 8: "
            "is a quote left open?)"
        ],
        whole_file=True,
        quarantined=set(),
    )


def _unclosed_quote_closed_later() -> Fault:
    # A stray quote on line 41 closes the one opened on line 5: the file parses, the 36
    # rows in between becoming one name. Quarantine must not load the rows around it as if
    # the file were sound.
    dealers = [_dealer(4, '"Delta Arms'), *_many_dealers(5, 35), _dealer(40, 'Omega" Arms'),
               *_many_dealers(41, 3)]
    return Fault(
        {**_world(dealers)},
        [
            "dealers.csv:5: business_name: longer than 200 characters",
            "dealers.csv:5: *: a quoted business_name runs from line 5 to line 41 and is "
            "longer than 200 characters: is a quote left open on line 5?",
        ],
        whole_file=True,
        quarantined={("dealers", "5")},
    )


def _huge_value() -> Fault:
    # Past Python's csv field limit; the fast reader parses it, validation refuses it.
    dealers = [_dealer(4, "Delta " + "x" * 140_000), _dealer(5)]
    return Fault(
        {**_world(dealers)},
        [
            "dealers.csv:5: business_name: longer than 200 characters",
            "traces.csv:6: license_number: unknown licensee '1-01-001-01-9Z-00004': "
            "its row in dealers.csv was rejected",
        ],
        whole_file=False,
        quarantined={("dealers", "5"), ("traces", "6")},
    )


def _huge_header() -> Fault:
    dealers = DEALERS_HEADER + ",notes" + "x" * 140_000 + "\n"
    dealers += "".join(VALID["dealers"].splitlines(keepends=True)[1:])
    return Fault(
        {**_world([]), "dealers": dealers},
        ["dealers.csv:1: *: header cannot be read: field larger than field limit (131072)"],
        whole_file=True,
        quarantined=set(),
    )


def _nul_character() -> Fault:
    dealers = [_dealer(4, "Delta\x00Arms"), _dealer(5)]
    return Fault(
        {**_world(dealers)},
        [
            "dealers.csv:5: business_name: 'Delta\\x00Arms' contains a NUL character (\\x00)",
            "traces.csv:6: license_number: unknown licensee '1-01-001-01-9Z-00004': "
            "its row in dealers.csv was rejected",
        ],
        whole_file=False,
        quarantined={("dealers", "5"), ("traces", "6")},
    )


def _not_utf8() -> Fault:
    # Latin-1 from a spreadsheet: the first accent is far past the reader's first block,
    # and every new trace names a licensee after it; one bad trace is bad by itself.
    dealers = [*_many_dealers(4, 3000), _dealer(3004, "Caf\u00e9 Arms"), _dealer(3005)]
    text = VALID["dealers"] + "".join(dealers)
    before_accent = text[: text.index("\u00e9")]
    bad_byte, bad_line = len(before_accent.encode()), before_accent.count("\n") + 1
    traces = [_trace(number, 4 + number % 3000) for number in range(1, 50)]
    traces.append(_trace(50, 4).replace("pistol", "cannon"))
    world = _world([], traces)
    return Fault(
        {**world, "dealers": text.encode("latin-1")},
        [
            f"dealers.csv:{bad_line}: *: not UTF-8 text: byte 0xE9 at byte offset {bad_byte:,} "
            "cannot be decoded (the whole file is rejected; save it as UTF-8)",
            "traces.csv:55: firearm_type: 'cannon' is not one of pistol, revolver, rifle, "
            "shotgun, derringer, other",
        ],
        whole_file=True,
        quarantined={("traces", "55")},
    )


FAULTS: dict[str, Callable[[], Fault]] = {
    "unclosed quote early": _unclosed_quote_early,
    "unclosed quote, short file": _unclosed_quote_short,
    "unclosed quote, closed later": _unclosed_quote_closed_later,
    "value over 131,072 characters": _huge_value,
    "header over 131,072 characters": _huge_header,
    "NUL character": _nul_character,
    "not UTF-8": _not_utf8,
}


def write_fault(directory: Path, tables: dict[str, str | bytes]) -> Path:
    """Write each table as given: text as UTF-8, bytes untouched."""
    directory.mkdir(parents=True)
    for name, content in tables.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (directory / f"{name}.csv").write_bytes(data)
    return directory


@pytest.mark.parametrize("quarantine", [False, True], ids=["reject", "quarantine"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_is_named_and_no_stored_row_is_lost(
    store_url: str, tmp_path: Path, name: str, quarantine: bool
) -> None:
    fault = FAULTS[name]()
    engine = open_store(store_url)
    assert ingest_directory(
        engine, write_directory(tmp_path / "stored", VALID), report_path=tmp_path / "first.txt"
    ).accepted
    before = snapshot(engine)
    quarantine_path = tmp_path / "quarantine.csv" if quarantine else None

    result = ingest_directory(
        engine,
        write_fault(tmp_path / "in", fault.tables),
        report_path=tmp_path / "report.txt",
        quarantine_path=quarantine_path,
        chunk_rows=1000,
    )

    assert [str(problem) for problem in result.first_problems] == fault.problems
    assert (tmp_path / "report.txt").read_text(encoding="utf-8").splitlines() == fault.problems
    after = snapshot(engine)
    loads = quarantine and not fault.whole_file
    assert result.accepted is loads
    if loads:
        for table, rows in before.items():
            assert set(rows) <= set(after[table]), table
        assert len(after["dealers"]) == len(before["dealers"]) + 1  # the sound new dealer
    else:
        assert after == before
    if quarantine_path is not None:
        # pandas, as Python's csv module would refuse the 140,000-character value.
        quarantined = pd.read_csv(quarantine_path, dtype=str, keep_default_na=False)
        written = set(zip(quarantined["table"], quarantined["line"], strict=True))
        assert written == fault.quarantined
    engine.dispose()


def test_the_first_undecodable_byte_is_found_across_block_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "dealers.csv"
    text = "a,b\n" + "".join(f"{n},Bj\u00f6rk\n" for n in range(300))
    data = text.encode() + b"301,B\xe9ta\n"
    path.write_bytes(data)

    # Blocks of 7 bytes cut the two-byte "\u00f6" of many rows in half: none is an error.
    found = first_undecodable_byte(path, block_bytes=7)

    assert found == (302, data.index(b"\xe9"), 0xE9)
    path.write_bytes(text.encode())
    assert first_undecodable_byte(path, block_bytes=7) is None


def _problems(result: Any) -> list[str]:
    return [str(problem) for problem in result.first_problems]


def test_a_nul_character_in_any_text_column_is_refused_without_touching_the_store(
    store_url: str, tmp_path: Path
) -> None:
    engine = open_store(store_url)
    traces = VALID["traces"].replace(",9mm,", ",9\x00mm,").replace(",NV,", ",N\x00V,")

    result = ingest_directory(
        engine,
        write_directory(tmp_path / "in", {**VALID, "traces": traces}),
        report_path=tmp_path / "report.txt",
    )

    assert _problems(result) == [
        "traces.csv:2: caliber: '9\\x00mm' contains a NUL character (\\x00)",
        "traces.csv:4: recovery_state: 'N\\x00V' contains a NUL character (\\x00)",
    ]
    assert not result.accepted
    assert all(not rows for rows in snapshot(engine).values())
    engine.dispose()
