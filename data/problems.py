"""The one problem type of the data layer: ``file:line: column: reason``.

Ingestion and the importers both report what they reject as :class:`Problem`; problems
about a whole file (missing, unreadable) carry ``column = "*"``, and those without a line
print as ``file: *: reason``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The column named by problems that concern a whole file rather than one value.
WHOLE_FILE = "*"


@dataclass(frozen=True)
class Problem:
    """One reason an input was rejected."""

    file: str
    line: int | None
    column: str
    reason: str
    #: Whether the problem concerns the whole file (missing, unreadable, lacking a
    #: required column): such problems reject the load even in quarantine mode.
    whole_file: bool = False

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.column}: {self.reason}"
        return f"{self.file}:{self.line}: {self.column}: {self.reason}"
