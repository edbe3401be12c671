"""What ingestion found wrong, and the report file it is written to.

A problem names a file, a line, a column and a reason, printed as
``file:line: column: reason``. Problems about a whole file (missing, unreadable) carry
``column = "*"``; those without a line print as ``file: *: reason``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import pandas as pd

from data.problems import Problem


class ProblemLog:
    """Collects problems: every one goes to the report file, the first few stay in memory.

    The report is streamed rather than held, because a badly broken 5,000,000-row file
    yields millions of problems. The file is only created when there is something to say.

    Parameters
    ----------
    report_path : Path
        Where all problems are written, one per line.
    keep_first : int
        How many problems to keep for the screen.
    """

    def __init__(self, report_path: Path, keep_first: int = 50) -> None:
        self.report_path = report_path
        self.keep_first = keep_first
        self.first: list[Problem] = []
        self.total = 0
        self.file_level = 0
        self._handle: TextIO | None = None

    def _out(self) -> TextIO:
        if self._handle is None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.report_path.open("w", encoding="utf-8")
        return self._handle

    def add(self, problem: Problem) -> None:
        """Record one problem (file-level problems are counted apart: they block quarantine)."""
        if problem.whole_file:
            self.file_level += 1
        self.total += 1
        if len(self.first) < self.keep_first:
            self.first.append(problem)
        self._out().write(f"{problem}\n")

    def add_rows(self, file: str, errors: pd.DataFrame) -> None:
        """Record row problems given as a frame with columns ``line``, ``column``, ``reason``."""
        if errors.empty:
            return
        room = self.keep_first - len(self.first)
        if room > 0:
            for line, column, reason in (
                errors[["line", "column", "reason"]].head(room).itertuples(index=False)
            ):
                self.first.append(Problem(file, int(line), str(column), str(reason)))
        # One vectorised string per problem; no Python loop over what may be millions.
        text = (
            file
            + ":"
            + errors["line"].astype(str)
            + ": "
            + errors["column"]
            + ": "
            + errors["reason"]
        )
        self._out().write("\n".join(text.tolist()) + "\n")
        self.total += len(errors)

    def close(self) -> None:
        """Flush and close the report file, if one was written."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def written(self) -> bool:
        """Whether the report file exists (there was at least one problem)."""
        return self.total > 0


def file_problem(file: str, line: int | None, column: str, reason: str) -> Problem:
    """A problem that rejects a whole file (and so the load, in either mode)."""
    return Problem(file, line, column, reason, whole_file=True)
