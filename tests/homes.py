"""Pointing the settings at a home for the length of a block (the CLI's own environment)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from data.settings import get_settings


@contextmanager
def home_settings(home: Path, database_url: str | None = None,
                  tracking_uri: str | None = None, *,
                  patch: pytest.MonkeyPatch | None = None) -> Iterator[Path]:
    """``DEALER_RISK_HOME=home`` inside the block, the settings cache cleared around it.

    ``DEALER_RISK_DATABASE_URL`` and ``MLFLOW_TRACKING_URI`` are set when given, else
    unset, so the home's embedded store and tracking are used. The variables are restored
    on the way out, or, with ``patch`` (a test's own ``monkeypatch``), when that one undoes
    its changes, so a test's later changes to the same variables unwind in order.
    """
    with ExitStack() as stack:
        if patch is None:
            patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("DEALER_RISK_HOME", str(home))
        for name, value in (("DEALER_RISK_DATABASE_URL", database_url),
                            ("MLFLOW_TRACKING_URI", tracking_uri)):
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield home
        finally:
            get_settings.cache_clear()
