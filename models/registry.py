"""The MLflow boundary: the only module that imports ``mlflow``.

Training writes runs and model versions through it; serving, ``promote`` and
``dealer-risk status`` read them. A registered version's artifact is a pyfunc model
wrapping a :class:`~models.bundle.ModelBundle`, so ``mlflow.pyfunc.load_model`` in a fresh
process gives back everything needed to score and explain.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from models.bundle import ModelBundle

#: The registered model every training run adds a version to.
REGISTERED_MODEL_NAME = "dealer-risk"
#: The alias serving follows.
CHAMPION_ALIAS = "champion"
#: The experiment training runs are logged to.
EXPERIMENT_NAME = "dealer-risk"


def _tracking_store_exists(tracking_uri: str) -> bool:
    """False for a SQLite tracking URI whose file does not exist yet.

    Opening MLflow on a missing SQLite file would create and migrate it, which a read-only
    question such as ``dealer-risk status`` should not do.
    """
    if not tracking_uri.startswith("sqlite:"):
        return True
    database = make_url(tracking_uri).database
    return bool(database) and Path(database).exists()  # type: ignore[arg-type]


@contextmanager
def _tracking(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``tracking_uri`` for a block, then undo it.

    ``mlflow.set_tracking_uri`` also writes MLFLOW_TRACKING_URI into the process
    environment; left there, every Settings() built later would silently follow it.
    """
    import mlflow

    saved = {name: os.environ.get(name)
             for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def list_model_versions(tracking_uri: str) -> dict[str, Any]:
    """Registered versions of the model and the champion, as ``status`` reports them."""
    empty: dict[str, Any] = {"versions": [], "champion": None}
    if not _tracking_store_exists(tracking_uri):
        return empty
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        versions = client.search_model_versions(f"name='{REGISTERED_MODEL_NAME}'")
    except MlflowException:
        return empty
    champion = champion_version(tracking_uri)
    listed = sorted(
        (
            {"version": str(v.version), "run_id": v.run_id,
             "created": _iso_from_millis(v.creation_timestamp),
             "description": v.description or ""}
            for v in versions
        ),
        key=lambda row: int(row["version"]),
    )
    return {"versions": listed, "champion": champion}


def _iso_from_millis(millis: int | None) -> str | None:
    """MLflow's epoch milliseconds as an ISO 8601 UTC timestamp (to the second)."""
    if millis is None:
        return None
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.UTC)
    return moment.replace(microsecond=0).isoformat()


def champion_version(tracking_uri: str) -> str | None:
    """The version the champion alias points at, or None."""
    if not _tracking_store_exists(tracking_uri):
        return None
    from mlflow.exceptions import MlflowException

    try:
        version = _client(tracking_uri).get_model_version_by_alias(
            REGISTERED_MODEL_NAME, CHAMPION_ALIAS
        )
    except MlflowException:
        return None
    return str(version.version)


def set_champion(tracking_uri: str, version: str) -> None:
    """Point the champion alias at ``version``."""
    _client(tracking_uri).set_registered_model_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS, str(version)
    )


def version_run(tracking_uri: str, version: str) -> dict[str, Any]:
    """A version's run: its metrics, params and tags.

    Raises :class:`ModelNotFound` when ``version`` is no registered version.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    known = _known_versions(tracking_uri)
    if str(version) not in known:
        have = f"versions {', '.join(known)}" if known else "no version yet"
        raise ModelNotFound(f"{REGISTERED_MODEL_NAME} has no version {version!r} ({have})")
    try:
        model_version = client.get_model_version(REGISTERED_MODEL_NAME, str(version))
    except MlflowException as error:
        raise ModelNotFound(f"version {version}: {error.message}") from error
    run = client.get_run(model_version.run_id)
    return {
        "version": str(version),
        "run_id": model_version.run_id,
        "metrics": dict(run.data.metrics),
        "params": dict(run.data.params),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    }


def _known_versions(tracking_uri: str) -> list[str]:
    """The registered version numbers, in order (none for a store not created yet)."""
    return [row["version"] for row in list_model_versions(tracking_uri)["versions"]]


def list_run_artifacts(tracking_uri: str, run_id: str) -> list[str]:
    """Paths of a run's top-level artifacts (files and folders)."""
    return sorted(item.path for item in _client(tracking_uri).list_artifacts(run_id))


def download_run_artifact(tracking_uri: str, run_id: str, path: str, destination: Path) -> Path:
    """Download one artifact of a run (e.g. the fairness table) into ``destination``."""
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(destination), tracking_uri=tracking_uri
    )
    return Path(local)


def _pyfunc_class() -> type:
    import mlflow.pyfunc

    class DealerRiskModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """pyfunc wrapper: ``predict`` gives raw_score and calibrated score per row."""

        # The input is the catalogue's feature frame, checked by the bundle itself; MLflow's
        # type-hint validation (and its advice to add hints) has nothing to add.
        _skip_type_hint_validation = True

        def load_context(self, context: Any) -> None:
            self.bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # noqa: ARG002
            return self.bundle.score(model_input)

    return DealerRiskModel


#: The experiment tag MLflow 3's UI reads to show an experiment as classic model training
#: ("Training runs", no experiment-type prompt) rather than as a GenAI application.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def _experiment_id(client: Any, name: str, artifact_root: Path | None) -> str:
    """The experiment ``name``, created (artifacts under ``artifact_root``) when missing.

    Either way it carries the classic model-training kind, so MLflow's UI opens it as such.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = artifact_root.resolve().as_uri() if artifact_root is not None else None
        return str(client.create_experiment(
            name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}))
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return str(experiment.experiment_id)


@dataclass(frozen=True)
class LoggedRun:
    """What a training run left in MLflow."""

    run_id: str
    version: str
    model_uri: str


def log_training_run(
    tracking_uri: str,
    artifact_root: Path | None,
    bundle: ModelBundle,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts_dir: Path | None = None,
    run_name: str | None = None,
    description: str = "",
    started_at: dt.datetime | None = None,
) -> LoggedRun:
    """Log one training run and register its model; returns the new version.

    ``artifact_root`` keeps artifacts under DEALER_RISK_HOME for a local tracking store
    (MLflow would otherwise write ``./mlruns`` wherever the command runs); for a tracking
    server pass None and the server decides. ``description`` becomes the registered
    version's description; ``started_at`` (when training began) the run's start, so the
    run's duration in MLflow is the training's, not the seconds logging took.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, EXPERIMENT_NAME, artifact_root)
    start_millis = None if started_at is None else int(started_at.timestamp() * 1000)
    created = client.create_run(experiment_id, start_time=start_millis, run_name=run_name)
    with (
        _tracking(tracking_uri),
        mlflow.start_run(run_id=created.info.run_id) as run,
    ):
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        clean = {k: float(v) for k, v in metrics.items() if v == v}  # drop NaN
        mlflow.log_metrics(clean)
        mlflow.set_tags(dict(tags))
        if artifacts_dir is not None:
            mlflow.log_artifacts(str(artifacts_dir))
        with tempfile.TemporaryDirectory() as scratch:
            bundle_dir = bundle.save(Path(scratch) / "bundle")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=_pyfunc_class()(),
                artifacts={"bundle": str(bundle_dir)},
                pip_requirements=["lightgbm", "shap", "pandas", "numpy", "scikit-learn"],
            )
    # Registered through the client rather than log_model(registered_model_name=...),
    # which prints "Successfully registered model" on stderr and takes no description.
    try:
        client.create_registered_model(REGISTERED_MODEL_NAME)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    registered = client.create_model_version(
        REGISTERED_MODEL_NAME, source=info.model_uri, run_id=run.info.run_id,
        description=description or None, model_id=info.model_id,
    )
    version = str(registered.version)
    return LoggedRun(run_id=run.info.run_id, version=version,
                     model_uri=f"models:/{REGISTERED_MODEL_NAME}/{version}")


def load_bundle(tracking_uri: str, model_uri: str | None = None) -> tuple[ModelBundle, str]:
    """Load a model version's bundle (the champion by default) and its version number."""
    import mlflow.pyfunc

    uri = model_uri or f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}"
    version = _resolve_version(tracking_uri, uri)
    with _tracking(tracking_uri):
        pyfunc_model = mlflow.pyfunc.load_model(uri)
    bundle: ModelBundle = pyfunc_model.unwrap_python_model().bundle
    return bundle, version


class ModelNotFound(LookupError):
    """The model URI names no registered version (e.g. no champion yet)."""


def _resolve_version(tracking_uri: str, uri: str) -> str:
    """The registered version a ``models:/`` or ``runs:/`` URI names.

    Scored lists record this number, so a URI that is no registered version is refused
    rather than stored in its place.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if uri.startswith("models:/"):
            rest = uri.removeprefix("models:/")
            if "@" in rest:
                name, alias = rest.split("@", 1)
                return str(client.get_model_version_by_alias(name, alias).version)
            name, _, version = rest.partition("/")
            return str(client.get_model_version(name, version).version)
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            versions = client.search_model_versions(f"run_id='{run_id}'")
            if versions:
                return str(versions[0].version)
    except MlflowException as error:
        raise ModelNotFound(f"{uri}: {error.message}") from error
    raise ModelNotFound(f"{uri} is not a registered version of {REGISTERED_MODEL_NAME}")


#: The experiment ``dealer-risk monitor`` logs its runs to, one per call.
MONITORING_EXPERIMENT_NAME = "dealer-risk-monitoring"


def log_monitoring_run(
    tracking_uri: str,
    artifact_root: Path | None,
    *,
    model_version: str,
    as_of: str,
    metrics: Mapping[str, float],
    report: Mapping[str, Any],
) -> str:
    """Log one monitoring run against ``model_version``; returns its run id.

    The run sits in :data:`MONITORING_EXPERIMENT_NAME`, tagged with ``model_version``,
    the registered model's name and ``as_of``, with the figures as metrics and the whole
    output as ``monitoring.json``, so the field record can be read beside the training run.
    """
    import mlflow

    client = _client(tracking_uri)
    experiment_id = _experiment_id(
        client, MONITORING_EXPERIMENT_NAME,
        artifact_root / "monitoring" if artifact_root is not None else None)
    with (
        _tracking(tracking_uri),
        mlflow.start_run(experiment_id=experiment_id, run_name=f"monitor-{as_of}") as run,
    ):
        mlflow.set_tags({"model_version": str(model_version), "model_name": REGISTERED_MODEL_NAME,
                         "as_of": as_of})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v == v})
        mlflow.log_dict(dict(report), "monitoring.json")
    return str(run.info.run_id)


def monitoring_runs(tracking_uri: str, model_version: str | None = None) -> list[dict[str, Any]]:
    """Monitoring runs, newest first (of ``model_version`` when given): id, tags, metrics."""
    if not _tracking_store_exists(tracking_uri):
        return []
    client = _client(tracking_uri)
    experiment = client.get_experiment_by_name(MONITORING_EXPERIMENT_NAME)
    if experiment is None:
        return []
    query = f"tags.model_version = '{model_version}'" if model_version is not None else ""
    runs = client.search_runs([experiment.experiment_id], filter_string=query,
                              order_by=["attributes.start_time DESC"])
    return [{"run_id": run.info.run_id, "tags": dict(run.data.tags),
             "metrics": dict(run.data.metrics)} for run in runs]


@dataclass(frozen=True)
class ChildRun:
    """One nested run under a training run, e.g. a hyperparameter-search trial."""

    name: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


def log_child_runs(tracking_uri: str, parent_run_id: str, children: list[ChildRun]) -> list[str]:
    """Log ``children`` as nested runs of ``parent_run_id`` (same experiment); their ids.

    MLflow shows a run tagged ``mlflow.parentRunId`` under its parent, so a training
    run's search trials fold up beneath it.
    """
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = _client(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    ids = []
    for child in children:
        run = client.create_run(experiment_id, run_name=child.name,
                                tags={**child.tags, MLFLOW_PARENT_RUN_ID: parent_run_id})
        stamp = run.info.start_time
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), stamp, 0) for k, v in child.metrics.items() if v == v],
            params=[Param(k, str(v)[:500]) for k, v in child.params.items()],
        )  # the tags were given to create_run
        client.set_terminated(run.info.run_id)
        ids.append(str(run.info.run_id))
    return ids


def child_runs(tracking_uri: str, parent_run_id: str) -> list[dict[str, Any]]:
    """The nested runs of ``parent_run_id``, oldest first: id, name, params, metrics, tags."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = _client(tracking_uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'",
                              order_by=["attributes.start_time ASC"])
    return [{"run_id": run.info.run_id, "name": run.info.run_name,
             "params": dict(run.data.params), "metrics": dict(run.data.metrics),
             "tags": dict(run.data.tags)} for run in runs]
