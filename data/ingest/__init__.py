"""Validated ingestion of an input directory in the data contract's layout.

See ``docs/ingestion.md`` for the checks, the two modes and how lines are numbered.
"""

from data.ingest.load import (
    DEFAULT_CHUNK_ROWS,
    IngestResult,
    TableSummary,
    ingest_directory,
)
from data.problems import Problem

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "IngestResult",
    "Problem",
    "TableSummary",
    "ingest_directory",
]
