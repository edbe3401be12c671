"""Request and response models of the API (``XBase`` shared fields, ``XPublic`` answers).

Every answer derives from :class:`Stamped`, so each one says which model version and which
as-of date produced its numbers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from features.catalogue import FEATURE_NAMES
from serving.users import USER_NAME_PATTERN, Role

#: The longest license number a request may name (ATF's have 15 to 20 characters).
LICENSE_NUMBER_MAX_LENGTH = 32
#: Text a request may send: anything but NUL (PostgreSQL text cannot hold it).
NO_NUL_PATTERN = r"^[^\x00]*$"


class Stamped(BaseModel):
    """Which model version and as-of date the numbers of a response come from."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str | None = Field(
        description="Registered model version that produced the scores (null before one "
        "is loaded)."
    )
    as_of: dt.date | None = Field(
        description="The scores use only facts known strictly before this date."
    )


# --- health ------------------------------------------------------------------------------


class HealthPublic(Stamped):
    """Liveness: the process answers."""

    status: str = "ok"
    served_by: str = Field(description="host:pid of the worker that answered.")


class ReadinessPublic(Stamped):
    """Readiness: a champion model and a scored list are loaded."""

    status: str = "ready"
    list_id: int = Field(description="The stored list served.")
    loaded_at: dt.datetime
    champion_version: str | None = Field(
        description="The champion alias at the last check. It differs from model_version "
        "while a promotion is being loaded, and while the champion has no stored list of "
        "its own (the previous list is then served, and notes say so)."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What an operator should know about the served state, in words.")
    served_by: str


# --- dealers and the ranked list ---------------------------------------------------------


class RankedItemPublic(BaseModel):
    """One licensee of the ranked list."""

    license_number: str
    business_name: str | None
    premise_city: str | None
    premise_state: str | None
    field_division: str | None
    license_type: str | None
    score: float = Field(description="Calibrated probability that an inspection ends serious.")
    rank: int = Field(description="1 = inspect first.")
    percentile: float = Field(description="Share of scored licensees ranked below, in percent.")
    top_reasons: list[str] = Field(
        description="Up to four reasons, each a distinct fact in plain words.")


class RankedPagePublic(Stamped):
    """A page of the ranked list."""

    list_id: int = Field(description="The stored list these numbers come from.")
    total: int = Field(description="Licensees matching the filters.")
    limit: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    items: list[RankedItemPublic]


class DealerBase(BaseModel):
    """A licensee's profile, as the contract's dealers table holds it."""

    license_number: str
    license_type: str
    business_name: str
    premise_city: str | None = None
    premise_state: str
    premise_zip: str | None = None
    county_fips: str | None = None
    license_issue_date: dt.date | None = None
    annual_firearm_sales: int | None = None
    field_division: str | None = None
    urbanicity: str | None = None


class CurrentScorePublic(BaseModel):
    """The licensee's place on the list being served."""

    score: float
    raw_score: float
    rank: int
    percentile: float
    top_reasons: list[str]
    licensees_ranked: int


class ScoreHistoryPublic(BaseModel):
    """The licensee's score on one stored list."""

    list_id: int
    model_version: str
    as_of: dt.date
    score: float
    rank: int
    percentile: float
    licensees_ranked: int


class InspectionPublic(BaseModel):
    """One closed inspection of the licensee."""

    inspection_id: str
    inspection_date: dt.date
    inspection_type: str
    outcome: str
    violation_count: int
    missing_firearms: int | None
    violation_codes: list[str]


class DealerPublic(Stamped):
    """Profile, current score and rank, score history and recent inspections."""

    profile: DealerBase
    current: CurrentScorePublic | None = Field(
        description="Null when the licensee is not on the served list (e.g. collectors)."
    )
    history: list[ScoreHistoryPublic] = Field(description="Stored lists, newest first.")
    recent_inspections: list[InspectionPublic] = Field(description="Newest first.")


# --- explanations and what-if ------------------------------------------------------------


class ContributionPublic(BaseModel):
    """One feature's part in a score."""

    feature: str
    family: str
    value: float | None = Field(description="The feature's value (null: unknown).")
    shap_value: float = Field(description="Contribution to raw_score, in log-odds.")
    description: str = Field(description="The value in plain words, from the catalogue.")
    peer_percentile: float | None = Field(
        description="Percent of licensees of the same license type on the scored list with "
        "a lower value (ties count half); null when the value is unknown."
    )


class FamilyContributionPublic(BaseModel):
    """The contributions of one feature family, summed."""

    family: str
    shap_value: float
    features: int


class CalibrationPublic(BaseModel):
    """How raw_score (log-odds) maps to score."""

    kind: str = "platt"
    slope: float
    intercept: float
    formula: str = "score = 1 / (1 + exp(-(slope * raw_score + intercept)))"
    description: str


class ExplanationBase(BaseModel):
    """A score and its exact decomposition: base_value + sum(shap_value) = raw_score."""

    score: float
    raw_score: float = Field(description="Log-odds before calibration.")
    base_value: float = Field(description="The model's average raw score (SHAP base value).")
    contributions_total: float = Field(description="Sum of every shap_value.")
    contributions: list[ContributionPublic] = Field(
        description="Every feature of the model, largest absolute contribution first."
    )
    families: list[FamilyContributionPublic]
    calibration: CalibrationPublic


class ExplanationPublic(Stamped, ExplanationBase):
    """Why a licensee scores as it does."""

    license_number: str
    rank: int | None
    percentile: float | None
    lowering_reasons: list[str] = Field(
        default_factory=list,
        description="What speaks for this licensee: up to four distinct facts that lowered "
        "the score most, in plain words (the explanation is for supervisors and above).")


class WhatIfCreate(BaseModel):
    """A licensee with some feature values changed."""

    model_config = ConfigDict(extra="forbid")

    license_number: str = Field(min_length=1, max_length=LICENSE_NUMBER_MAX_LENGTH,
                                pattern=NO_NUL_PATTERN)
    # Finite only: 1e999 parses as infinity and NaN as NaN, neither a feature value.
    changes: dict[str, FiniteFloat | None] = Field(
        default_factory=dict,
        description="Feature name -> new value (null: unknown). Names are the model's "
        "features, as listed in an explanation; any other name is a 422.",
        max_length=200,
        json_schema_extra={"propertyNames": {"enum": list(FEATURE_NAMES)}},
    )


class ChangePublic(BaseModel):
    """One changed feature."""

    feature: str
    from_value: float | None
    to_value: float | None


class WhatIfPublic(Stamped, ExplanationBase):
    """The changed licensee, scored and explained, beside its current score."""

    license_number: str
    changes: list[ChangePublic]
    current_score: float
    current_raw_score: float
    current_rank: int | None
    rank_if_rescored: int = Field(
        description="Where the changed licensee would rank among the list being served."
    )


# --- models ------------------------------------------------------------------------------


class ModelVersionPublic(BaseModel):
    """One registered model version."""

    model_config = ConfigDict(protected_namespaces=())

    version: str
    run_id: str | None
    created_at: dt.datetime | None
    is_champion: bool
    is_serving: bool
    trained_as_of: str | None
    experiment: str | None
    selection_metric: str | None
    selection_metric_value: float | None


class ModelsPublic(Stamped):
    """Every registered version and which one is champion."""

    champion_version: str | None
    versions: list[ModelVersionPublic]


class MetricComparisonPublic(BaseModel):
    """One validation metric of the model beside the same metric of each baseline."""

    model_config = ConfigDict(protected_namespaces=())

    metric: str
    model: float | None
    baselines: dict[str, float | None]


class FairnessRowPublic(BaseModel):
    """One group of the fairness audit (see training/fairness.py)."""

    model_config = ConfigDict(extra="allow")

    grouping: str
    group: str
    licensees: int | None = None
    flagged: int | None = None
    flagged_share: float | None = None
    precision: float | None = None
    false_positive_rate: float | None = None
    flagged_share_ratio: float | None = None
    precision_ratio: float | None = None
    false_positive_rate_ratio: float | None = None
    flags: list[str] = Field(default_factory=list)


class ModelCurrentPublic(Stamped):
    """The model being served: its run, metrics beside baselines, fairness table."""

    run_id: str
    champion_version: str | None
    trained_as_of: str | None
    experiment: str | None
    catalogue_version: str | None
    features: list[str]
    calibration: CalibrationPublic
    metrics: list[MetricComparisonPublic]
    params: dict[str, str]
    tags: dict[str, str]
    fairness: list[FairnessRowPublic]
    model_card_markdown: str | None


class ReloadPublic(Stamped):
    """The outcome of a reload: what is served now."""

    changed: bool = Field(description="Whether a newer champion or list was loaded.")
    previous_model_version: str | None
    list_id: int | None
    champion_version: str | None


# --- audit and users ---------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    """One audited action."""

    model_config = ConfigDict(protected_namespaces=())

    event_id: int
    at: dt.datetime
    user_name: str
    role: str
    action: str
    resource: str
    model_version: str | None
    as_of: dt.date | None
    detail: dict[str, Any]


class AuditPagePublic(Stamped):
    """A page of the audit log, newest first."""

    next_cursor: str | None
    items: list[AuditEntryPublic]


class UserBase(BaseModel):
    """A user of the API."""

    name: str
    role: Role
    division: str | None = None


class TokenExpiry(BaseModel):
    """When a new token stops working: a lifetime in days or a moment, or neither (never)."""

    model_config = ConfigDict(extra="forbid")

    expires_in_days: int | None = Field(
        default=None, ge=1, le=3660, description="The token works for this many days.")
    expires_at: dt.datetime | None = Field(
        default=None, description="The token works until this moment (ISO 8601, in the "
        "future; without an offset it is UTC).")


class UserCreate(UserBase, TokenExpiry):
    """A user to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=USER_NAME_PATTERN)
    division: str | None = Field(default=None, min_length=1, max_length=100,
                                 pattern=NO_NUL_PATTERN)


class UserPublic(UserBase):
    """A user as listed (never its token)."""

    created_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(
        default=None, description="When the user's token stops working (null: never).")
    revoked_at: dt.datetime | None = Field(
        default=None, description="When the user's token was revoked (null: it was not).")
    status: Literal["active", "expired", "revoked"] = Field(
        default="active", description="Whether the user's token works now.")


class UserCreatedPublic(Stamped, UserPublic):
    """A created user (or one whose token was rotated) with its token, shown this once."""

    token: str


class UserChangedPublic(Stamped, UserPublic):
    """A user after a change of its token (revoked)."""


class UsersPublic(Stamped):
    """Every user."""

    items: list[UserPublic]


# --- plans -------------------------------------------------------------------------------


class PlanTotalsPublic(BaseModel):
    """A plan's figures, summed over the divisions the caller may see."""

    capacity: int = Field(description="Compliance inspections the divisions can open.")
    eligible: int = Field(description="Licensees eligible to be planned.")
    planned: int
    risk: int = Field(description="Planned for their risk score (probability 1).")
    exploration: int = Field(description="Drawn at random from the other eligible licensees.")
    coverage: float | None = Field(description="planned / eligible (null when none eligible).")
    expected_serious: float = Field(
        description="Expected serious findings of the plan: the sum of its calibrated scores.")
    expected_serious_demand_letter_2: float | None = Field(
        description="The same for the plan the Demand Letter 2 rule would give "
        "(null when the list lacks the rule's features).")
    expected_serious_random: float = Field(
        description="The same for a random plan of the same capacity.")


class PlanDivisionPublic(PlanTotalsPublic):
    """One field division's part of a plan."""

    field_division: str
    capacity_source: str = Field(description="`file` or `default share`.")
    exploration_probability: float | None = Field(
        description="Each non-risk eligible licensee's chance of the exploration draw.")


class PlanExclusionPublic(BaseModel):
    """Licensees left out of a plan by one eligibility rule (counted under the first)."""

    reason: str
    text: str
    licensees: int


class PlanSummaryPublic(BaseModel):
    """A stored plan's identity and totals."""

    model_config = ConfigDict(protected_namespaces=())

    plan_id: int
    list_id: int = Field(description="The stored list the plan was made from.")
    model_name: str
    model_version: str
    as_of: dt.date
    period_start: dt.date
    period_end: dt.date
    seed: int
    options: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    field_division: str | None = Field(
        description="The division the figures are limited to (the caller's), or null.")
    totals: PlanTotalsPublic


class PlansPublic(Stamped):
    """The stored plans, newest first (``model_version`` and ``as_of``: the served list's)."""

    items: list[PlanSummaryPublic]


class PlanMarkCreate(BaseModel):
    """Mark a planned licensee "not inspected": why, and an optional note."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["out_of_business", "refused", "moved", "deferred"] = Field(
        description="Why the licensee was not inspected.")
    note: str | None = Field(default=None, max_length=500,
                             description="Free text, at most 500 characters.")


class PlanMarkPublic(BaseModel):
    """An inspector's "not inspected" mark on a planned licensee."""

    plan_id: int
    license_number: str
    field_division: str
    reason: str = Field(description="`out_of_business`, `refused`, `moved` or `deferred`.")
    reason_text: str = Field(description="The reason in plain words.")
    note: str | None
    marked_by: str
    marked_at: dt.datetime


class PlanRowPublic(BaseModel):
    """One planned inspection, with what an inspector reads about the licensee."""

    license_number: str
    field_division: str
    priority: int = Field(description="Order within the division's plan (1 = first).")
    selected_by: str = Field(description="`risk` or `exploration`.")
    selection_probability: float = Field(description="Chance of being planned, in (0, 1].")
    selection_path: str = Field(description="How the licensee was chosen, in plain words.")
    score: float
    rank: int | None = Field(description="Rank on the plan's list.")
    business_name: str | None
    premise_city: str | None
    premise_state: str | None
    license_type: str | None
    top_reasons: list[str]
    mark: PlanMarkPublic | None = Field(
        default=None, description='The "not inspected" mark an inspector set, if any.')


class PlanPublic(Stamped):
    """A stored plan (``model_version`` and ``as_of``: the plan's), rows in priority order."""

    plan: PlanSummaryPublic
    divisions: list[PlanDivisionPublic]
    exclusions: list[PlanExclusionPublic] = Field(
        description="Plan-wide exclusion counts; empty for a caller limited to a division.")
    notes: list[str]
    total: int = Field(description="Rows returned.")
    items: list[PlanRowPublic] = Field(description="By division, then priority.")


# --- what changed between two lists ------------------------------------------------------


class DivisionChangePublic(BaseModel):
    """Who entered and who left a division's top between two lists."""

    field_division: str
    top: int = Field(description="How many licensees the division's top holds (N).")
    entered: list[str] = Field(description="License numbers, by their new rank.")
    left: list[str] = Field(description="License numbers, by their old rank.")


class LicenseeChangePublic(BaseModel):
    """One licensee's change from the earlier list to the later one."""

    license_number: str
    field_division: str | None
    status: str = Field(description="`listed` (on both), `new` (later only), `gone` "
                                    "(earlier only).")
    score_before: float | None
    score_after: float | None
    score_change: float | None
    rank_before: int | None
    rank_after: int | None
    rank_change: int | None = Field(description="Places moved up (positive) or down.")
    division_rank_before: int | None
    division_rank_after: int | None
    entered_top: bool
    left_top: bool
    reasons_changed: bool


class ListChangesPublic(Stamped):
    """What changed from ``against_list_id`` to ``list_id`` (``model_version``, ``as_of``:
    the later list's)."""

    list_id: int
    against_list_id: int
    against_model_version: str
    against_as_of: dt.date
    divisions: list[DivisionChangePublic]
    total: int = Field(description="Licensees matching the filters.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page.")
    items: list[LicenseeChangePublic]
