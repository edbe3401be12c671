"""Commands that load data into the store: ``ingest`` and ``import``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the store-loading commands to ``app``."""
