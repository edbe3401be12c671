"""The quarantine file: every rejected row, as given, with its reasons.

One CSV for all tables: ``table``, ``line``, ``reasons``, then the union of the
contract's columns in contract order; each row fills the columns of its own table and
leaves the others empty. Reasons are ``column: reason`` joined by ``"; "``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import pandas as pd

from data.contract import TABLES

#: The quarantine file's columns.
QUARANTINE_COLUMNS: list[str] = ["table", "line", "reasons"]
for _table in TABLES:
    QUARANTINE_COLUMNS += [name for name in _table.column_names if name not in QUARANTINE_COLUMNS]


class QuarantineWriter:
    """Appends rejected rows to the quarantine file, which always gets its header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO | None = path.open("w", encoding="utf-8", newline="")
        pd.DataFrame(columns=QUARANTINE_COLUMNS).to_csv(self._handle, index=False)

    def write(self, table: str, rejected: pd.DataFrame) -> None:
        """Append ``rejected`` (columns ``line``, ``reasons`` and the raw fields)."""
        if rejected.empty or self._handle is None:
            return
        frame = rejected.reindex(columns=QUARANTINE_COLUMNS, fill_value="")
        frame["table"] = table
        frame.to_csv(self._handle, index=False, header=False)
        self.rows += len(frame)

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
