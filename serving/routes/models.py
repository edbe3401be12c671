"""``/api/v1/models``: registered versions, the served model's metrics and fairness, reload."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool

from serving.deps import (
    DataScientistDep,
    HolderDep,
    ServingStateDep,
    SettingsDep,
    require_data_scientist,
)
from serving.explain import calibration
from serving.models_info import metric_comparisons, model_versions, run_details
from serving.problems import problem_responses
from serving.query import ApiRoute
from serving.schemas import ModelCurrentPublic, ModelsPublic, ReloadPublic

router = APIRouter(
    dependencies=[Depends(require_data_scientist)],
    prefix="/api/v1/models", tags=["models"], route_class=ApiRoute,
)


@router.get("", response_model=ModelsPublic, responses=problem_responses(401, 403, 503))
def models(
    serving: ServingStateDep, settings: SettingsDep
) -> ModelsPublic:
    """Every registered model version, which one is champion and which one is served."""
    champion, versions = model_versions(settings.mlflow_tracking_uri, serving.model_version)
    return ModelsPublic(model_version=serving.model_version, as_of=serving.as_of,
                        champion_version=champion, versions=versions)


@router.get("/current", response_model=ModelCurrentPublic,
            responses=problem_responses(401, 403, 503))
def current_model(
    serving: ServingStateDep, settings: SettingsDep, holder: HolderDep
) -> ModelCurrentPublic:
    """The served model: validation metrics beside the baselines, and its fairness table."""
    details = run_details(settings.mlflow_tracking_uri, serving.model_version)
    tags, params = details["tags"], details["params"]
    return ModelCurrentPublic(
        model_version=serving.model_version, as_of=serving.as_of, run_id=details["run_id"],
        champion_version=holder.champion_version,
        trained_as_of=tags.get("as_of") or params.get("as_of"),
        experiment=tags.get("experiment"), catalogue_version=tags.get("catalogue_version"),
        features=serving.bundle.features, calibration=calibration(serving),
        metrics=metric_comparisons(details["metrics"]),
        params={str(k): str(v) for k, v in params.items()},
        tags={str(k): str(v) for k, v in tags.items()},
        fairness=details["fairness"], model_card_markdown=details["model_card_markdown"],
    )


@router.post("/reload", response_model=ReloadPublic, responses=problem_responses(401, 403, 503))
async def reload_model(holder: HolderDep, caller: DataScientistDep) -> ReloadPublic:
    """Pick up a promotion (or a newly stored list) now instead of at the next poll.

    Only this worker reloads at once; other workers follow within their poll interval.
    """
    before = holder.current
    changed = await run_in_threadpool(holder.refresh)
    after = holder.current
    if after is None:
        raise HTTPException(503, f"not ready: {holder.last_error or 'nothing to load'}")
    await caller.record("models.reload", "/api/v1/models/reload", after,
                       {"changed": changed,
                        "previous_model_version": before.model_version if before else None})
    return ReloadPublic(
        model_version=after.model_version, as_of=after.as_of, changed=changed,
        previous_model_version=before.model_version if before else None,
        list_id=after.list_id, champion_version=holder.champion_version,
    )
