"""Making, storing and reading inspection plans.

A plan is made from one stored scored list (the champion's newest as of the plan's date),
the store's licensees and the inspections known before the date. It is stored once, with
its options and seed, and never changed: the same store, date, options and seed give the
same plan again, as a new plan with its own id.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
)

from data.store.schema import metadata
from data.store.values import as_date, as_utc
from planning.design import (
    EXCLUSIONS,
    Design,
    PlanOptions,
    eligibility,
)
from planning.design import (
    select as select_plan,
)
from scoring.lists import ListInfo
from scoring.score import REASONS_PER_LICENSEE, ScoredList
from training.baselines import demand_letter_2_rule

plans = Table(
    "plans",
    metadata,
    Column("plan_id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("score_lists.list_id"), nullable=False),
    Column("model_name", String(100), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("options", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

plan_rows = Table(
    "plan_rows",
    metadata,
    Column("plan_id", Integer, ForeignKey("plans.plan_id", ondelete="CASCADE"),
           primary_key=True),
    Column("license_number", String(32), primary_key=True),
    Column("field_division", String(100), nullable=False),
    Column("selected_by", String(16), nullable=False),
    Column("selection_probability", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("priority", Integer, nullable=False),
)

#: Why an inspector marks a planned licensee "not inspected" (the API's and page's values).
MARK_REASONS = {
    "out_of_business": "out of business",
    "refused": "refused the inspection",
    "moved": "moved away",
    "deferred": "deferred to a later period",
}
#: The longest free-text note a mark may carry, in characters.
MARK_NOTE_MAX_LENGTH = 500

#: An inspector's mark on a planned licensee: not inspected, and why. One per plan row (a
#: new mark replaces the old one; every mark and unmark is in the audit log). The plan
#: rows themselves never change: a mark is a fact about the field, not about the plan.
plan_marks = Table(
    "plan_marks",
    metadata,
    Column("plan_id", Integer, primary_key=True),
    Column("license_number", String(32), primary_key=True),
    Column("field_division", String(100), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("note", String(MARK_NOTE_MAX_LENGTH)),
    Column("marked_by", String(100), nullable=False),
    Column("marked_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["plan_id", "license_number"],
                         ["plan_rows.plan_id", "plan_rows.license_number"],
                         ondelete="CASCADE"),
)

#: The plan CSV's columns: the contract's first, then what an inspector reads.
PLAN_CSV_COLUMNS = (
    "license_number", "field_division", "selected_by", "selection_probability", "score",
    "priority", "rank", "business_name", "premise_city", "premise_state", "license_type",
    *(f"reason_{i + 1}" for i in range(REASONS_PER_LICENSEE)),
    "plan_id", "model_version", "list_id", "as_of",
)


@dataclass(frozen=True)
class PlanInfo:
    """A stored plan's identity and summary."""

    plan_id: int
    list_id: int
    model_name: str
    model_version: str
    as_of: dt.date
    period_start: dt.date
    period_end: dt.date
    seed: int
    options: dict[str, Any]
    summary: dict[str, Any]
    created_by: str
    created_at: dt.datetime

    @property
    def divisions(self) -> list[dict[str, Any]]:
        return list(self.summary["divisions"])


def make_design(
    scored: ScoredList, dealers: pd.DataFrame, inspections: pd.DataFrame,
    options: PlanOptions,
) -> Design:
    """The plan of ``options`` from a scored list and the store's frames."""
    listed = scored.rows.copy()
    for i in range(REASONS_PER_LICENSEE):
        listed[f"reason_{i + 1}"] = [row[i] if len(row) > i else ""
                                     for row in listed["top_reasons"]]
    listed = listed.drop(columns=["top_reasons"])
    # The Demand Letter 2 rule's order, as the training baselines rank it, when the list's
    # model has the rule's features.
    rule = demand_letter_2_rule()
    columns = [rule.column, *([rule.tie_break] if rule.tie_break else [])]
    if set(columns) <= set(scored.features):
        values = pd.DataFrame(scored.feature_values, columns=list(scored.features))
        listed["demand_letter_2"] = rule.score(values[columns])
    eligible, exclusions = eligibility(listed, dealers, inspections, options.as_of)
    design = select_plan(eligible, options,
                         eligible["demand_letter_2"] if "demand_letter_2" in eligible else None)
    return Design(options=design.options, rows=design.rows, divisions=design.divisions,
                  exclusions=exclusions, eligible=design.eligible)


def _summary(design: Design) -> dict[str, Any]:
    divisions = [asdict(division) | {"planned": division.planned}
                 for division in design.divisions]
    totals = {
        "capacity": sum(d.capacity for d in design.divisions),
        "eligible": sum(d.eligible for d in design.divisions),
        "planned": sum(d.planned for d in design.divisions),
        "risk": sum(d.risk for d in design.divisions),
        "exploration": sum(d.exploration for d in design.divisions),
        "expected_serious": sum(d.expected_serious for d in design.divisions),
        "expected_serious_demand_letter_2": (
            None if any(d.expected_serious_demand_letter_2 is None for d in design.divisions)
            else sum(d.expected_serious_demand_letter_2 or 0.0 for d in design.divisions)),
        "expected_serious_random": sum(d.expected_serious_random for d in design.divisions),
    }
    return {"divisions": divisions, "totals": totals,
            "exclusions": [{"reason": name, "text": text,
                            "licensees": design.exclusions.get(name, 0)}
                           for name, text in EXCLUSIONS],
            "notes": design.notes}


def store_plan(
    engine: Engine, design: Design, listing: ListInfo, *, created_by: str,
    created_at: dt.datetime,
) -> int:
    """Store a plan (never replacing one); its id."""
    options = design.options
    with engine.begin() as connection:
        plan_id = connection.execute(insert(plans).values(
            list_id=listing.list_id, model_name=listing.model_name,
            model_version=listing.model_version, as_of=options.as_of,
            period_start=options.as_of, period_end=options.period_end, seed=options.seed,
            options=json.dumps({
                "period_days": options.period_days,
                "exploration_share": options.exploration_share,
                "capacity": options.capacity,
            }, sort_keys=True),
            summary=json.dumps(_summary(design), sort_keys=True),
            created_by=created_by, created_at=created_at,
        ).returning(plans.c.plan_id)).scalar_one()
        rows = design.rows
        if len(rows):
            connection.execute(insert(plan_rows), [
                {"plan_id": plan_id, "license_number": str(number),
                 "field_division": str(division), "selected_by": str(path),
                 "selection_probability": float(probability), "score": float(score),
                 "priority": int(priority)}
                for number, division, path, probability, score, priority in zip(
                    rows["license_number"], rows["field_division"], rows["selected_by"],
                    rows["selection_probability"], rows["score"], rows["priority"],
                    strict=True)
            ])
    return int(plan_id)


def plan_csv_frame(design: Design, plan_id: int, listing: ListInfo) -> pd.DataFrame:
    """The plan as the CSV has it (``PLAN_CSV_COLUMNS``), by division and priority."""
    frame = design.rows.assign(plan_id=plan_id, model_version=listing.model_version,
                               list_id=listing.list_id, as_of=design.options.as_of.isoformat())
    return frame[list(PLAN_CSV_COLUMNS)]


def _info(row: Any) -> PlanInfo:
    return PlanInfo(
        plan_id=int(row["plan_id"]), list_id=int(row["list_id"]),
        model_name=str(row["model_name"]), model_version=str(row["model_version"]),
        as_of=as_date(row["as_of"]), period_start=as_date(row["period_start"]),
        period_end=as_date(row["period_end"]), seed=int(row["seed"]),
        options=json.loads(row["options"]), summary=json.loads(row["summary"]),
        created_by=str(row["created_by"]), created_at=as_utc(row["created_at"]),
    )


def stored_plans(engine: Engine, limit: int = 100) -> list[PlanInfo]:
    """The newest stored plans, newest first."""
    statement = select(plans).order_by(plans.c.as_of.desc(), plans.c.plan_id.desc()).limit(limit)
    with engine.connect() as connection:
        return [_info(row) for row in connection.execute(statement).mappings()]


def plan_info(engine: Engine, plan_id: int) -> PlanInfo | None:
    """One stored plan, or None."""
    with engine.connect() as connection:
        row = connection.execute(select(plans).where(plans.c.plan_id == plan_id)).mappings().first()
    return _info(row) if row else None


def read_plan_rows(engine: Engine, plan_id: int, field_division: str | None = None
                   ) -> pd.DataFrame:
    """A stored plan's rows, by division and priority (one division's when given)."""
    statement = select(plan_rows).where(plan_rows.c.plan_id == plan_id)
    if field_division is not None:
        statement = statement.where(plan_rows.c.field_division == field_division)
    statement = statement.order_by(plan_rows.c.field_division, plan_rows.c.priority)
    with engine.connect() as connection:
        result = connection.execute(statement)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
