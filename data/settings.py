"""The one settings object, read only by entry points (the CLI and ``create_app``).

Library functions take plain arguments (an engine, a path, an ``as_of`` date) and never
read the environment themselves, so tests can hand them whatever they need.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where dealer-risk keeps its state.

    Everything lives under ``home`` unless ``database_url`` or ``mlflow_tracking_uri``
    point elsewhere (for example the production PostgreSQL and an MLflow server).
    """

    model_config = SettingsConfigDict(extra="ignore")

    home: Path = Field(default=Path(".dealer-risk"), validation_alias="DEALER_RISK_HOME")
    database_url_override: str | None = Field(
        default=None, validation_alias="DEALER_RISK_DATABASE_URL"
    )
    mlflow_tracking_uri_override: str | None = Field(
        default=None, validation_alias="MLFLOW_TRACKING_URI"
    )

    @property
    def database_url(self) -> str:
        """The store's SQLAlchemy URL: the override, or one SQLite file under ``home``."""
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite:///{(self.home / 'store.db').resolve()}"

    @property
    def mlflow_tracking_uri(self) -> str:
        """MLflow's tracking URI: the override, or a SQLite file under ``home``."""
        if self.mlflow_tracking_uri_override:
            return self.mlflow_tracking_uri_override
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def reports_dir(self) -> Path:
        """Where ingestion error reports and similar outputs are written."""
        return self.home / "reports"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment (tests clear the cache)."""
    return Settings()
