"""The MLflow boundary: the only module that imports ``mlflow``.

Training writes model versions through it; serving and ``dealer-risk status`` read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

#: The registered model every training run adds a version to.
REGISTERED_MODEL_NAME = "dealer-risk"
#: The alias serving follows.
CHAMPION_ALIAS = "champion"


def _tracking_store_exists(tracking_uri: str) -> bool:
    """False for a SQLite tracking URI whose file does not exist yet.

    Opening MLflow on a missing SQLite file would create and migrate it, which a read-only
    question such as ``dealer-risk status`` should not do.
    """
    if not tracking_uri.startswith("sqlite:"):
        return True
    database = make_url(tracking_uri).database
    return bool(database) and Path(database).exists()  # type: ignore[arg-type]


def list_model_versions(tracking_uri: str) -> dict[str, Any]:
    """Registered versions of the model and the champion, as ``status`` reports them."""
    empty: dict[str, Any] = {"versions": [], "champion": None}
    if not _tracking_store_exists(tracking_uri):
        return empty
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        versions = client.search_model_versions(f"name='{REGISTERED_MODEL_NAME}'")
    except MlflowException:
        return empty
    champion: str | None = None
    try:
        champion = client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version
    except MlflowException:
        champion = None
    listed = sorted(
        ({"version": str(v.version), "run_id": v.run_id, "created": v.creation_timestamp}
         for v in versions),
        key=lambda row: int(row["version"]),
    )
    return {"versions": listed, "champion": champion}
