"""Stored inspection plans as the API and the pages show them.

Plans are read from the store (``planning.plans``) through SQLAlchemy on each request:
they are small (a division's plan is a few hundred rows) and never change once stored.
Each row is joined with the licensee's profile and its rank and top reasons on the list
the plan was made from (the ``scores`` table), so a plan reads the same whichever list is
being served. A caller limited to a field division sees only that division's figures and
rows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, and_, select

from data.csv_cells import csv_writer
from data.store import schema
from planning.design import EXPLORATION, RISK
from planning.marks import (
    Mark,
    check_mark,
    clear_mark,
    planned_division,
    read_marks,
    set_mark,
)
from planning.plans import (
    MARK_REASONS,
    PLAN_CSV_COLUMNS,
    PlanInfo,
    plan_info,
    plan_rows,
    stored_plans,
)
from scoring.lists import scores
from scoring.score import REASONS_PER_LICENSEE
from serving.memo import KeptValues
from serving.schemas import (
    PlanDivisionPublic,
    PlanExclusionPublic,
    PlanMarkPublic,
    PlanPublic,
    PlanRowPublic,
    PlanSummaryPublic,
    PlanTotalsPublic,
)

#: How many stored plans the list of plans shows.
PLANS_LISTED = 100


def selection_path(selected_by: str, probability: float) -> str:
    """How a planned licensee was chosen, in words an inspector reads.

    >>> selection_path("exploration", 0.05)
    'drawn at random so the plan can measure itself (1 in 20 chance)'
    """
    if selected_by == RISK:
        return "chosen for its risk score"
    if selected_by == EXPLORATION:
        chance = f"1 in {round(1 / probability):,}" if 0 < probability < 1 else "certain"
        return f"drawn at random so the plan can measure itself ({chance} chance)"
    return selected_by


def _totals(divisions: Iterable[Mapping[str, Any]]) -> PlanTotalsPublic:
    rows = list(divisions)
    eligible = sum(int(d["eligible"]) for d in rows)
    planned = sum(int(d["planned"]) for d in rows)
    demand_letter_2 = [d.get("expected_serious_demand_letter_2") for d in rows]
    return PlanTotalsPublic(
        capacity=sum(int(d["capacity"]) for d in rows), eligible=eligible, planned=planned,
        risk=sum(int(d["risk"]) for d in rows),
        exploration=sum(int(d["exploration"]) for d in rows),
        coverage=planned / eligible if eligible else None,
        expected_serious=sum(float(d["expected_serious"]) for d in rows),
        expected_serious_demand_letter_2=(
            None if any(v is None for v in demand_letter_2)
            else sum(float(v) for v in demand_letter_2 if v is not None)),
        expected_serious_random=sum(float(d["expected_serious_random"]) for d in rows),
    )


def _divisions(info: PlanInfo, field_division: str | None) -> list[dict[str, Any]]:
    return [d for d in info.divisions
            if field_division is None or d["field_division"] == field_division]


def plan_summary(info: PlanInfo, field_division: str | None) -> PlanSummaryPublic:
    """A plan's identity and totals (one division's when ``field_division`` is given)."""
    return PlanSummaryPublic(
        plan_id=info.plan_id, list_id=info.list_id, model_name=info.model_name,
        model_version=info.model_version, as_of=info.as_of, period_start=info.period_start,
        period_end=info.period_end, seed=info.seed, options=info.options,
        created_by=info.created_by, created_at=info.created_at,
        field_division=field_division,
        totals=_totals(_divisions(info, field_division)),
    )


def list_plans(engine: Engine, field_division: str | None) -> list[PlanSummaryPublic]:
    """The stored plans, newest first, with totals over ``field_division`` (or all)."""
    return [plan_summary(info, field_division)
            for info in stored_plans(engine, limit=PLANS_LISTED)]


def plan_division_rows(info: PlanInfo, field_division: str | None) -> list[PlanDivisionPublic]:
    """The plan's per-division figures (one division's when ``field_division`` is given)."""
    return [
        PlanDivisionPublic(
            **_totals([d]).model_dump(), field_division=str(d["field_division"]),
            capacity_source=str(d["capacity_source"]),
            exploration_probability=d.get("exploration_probability"),
        )
        for d in _divisions(info, field_division)
    ]


def _rows(engine: Engine, info: PlanInfo, field_division: str | None) -> list[PlanRowPublic]:
    dealers = schema.dealers
    statement = (
        select(plan_rows, dealers.c.business_name, dealers.c.premise_city,
               dealers.c.premise_state, dealers.c.license_type, scores.c.rank,
               scores.c.top_reasons)
        .outerjoin(dealers, dealers.c.license_number == plan_rows.c.license_number)
        .outerjoin(scores, and_(scores.c.list_id == info.list_id,
                                scores.c.license_number == plan_rows.c.license_number))
        .where(plan_rows.c.plan_id == info.plan_id)
        .order_by(plan_rows.c.field_division, plan_rows.c.priority)
    )
    if field_division is not None:
        statement = statement.where(plan_rows.c.field_division == field_division)
    with engine.connect() as connection:
        records = connection.execute(statement).mappings().all()
    return [
        PlanRowPublic(
            license_number=row["license_number"], field_division=row["field_division"],
            priority=row["priority"], selected_by=row["selected_by"],
            selection_probability=row["selection_probability"],
            selection_path=selection_path(row["selected_by"], row["selection_probability"]),
            score=row["score"], rank=row["rank"], business_name=row["business_name"],
            premise_city=row["premise_city"], premise_state=row["premise_state"],
            license_type=row["license_type"],
            top_reasons=json.loads(row["top_reasons"]) if row["top_reasons"] else [],
        )
        for row in records
    ]


#: Plans read whole are kept per process: a stored plan never changes, and reading one
#: division's rows with their names and reasons took 15-20 ms for the 80,000-licensee
#: demo's largest division (771 rows), more than the ranked list page's whole answer.
KEPT_PLANS = 64
_kept_plans: KeptValues[PlanPublic] = KeptValues(KEPT_PLANS)


def read_plan(engine: Engine, plan_id: int, field_division: str | None, *,
              plan_wide: bool) -> PlanPublic | None:
    """A stored plan with its rows (one division's when given), or None when unknown.

    ``plan_wide`` says whether the caller may see plan-wide figures (the exclusion counts,
    which are not broken down by division); a caller limited to a division may not. The
    answer is kept (the last :data:`KEPT_PLANS`), since stored plans are immutable; the
    rows' "not inspected" marks, which change, are read afresh each time.
    """
    key = (engine.url.render_as_string(hide_password=True), plan_id, field_division,
           plan_wide)
    kept = _kept_plans.get(key, lambda: _read_plan(engine, plan_id, field_division,
                                                   plan_wide=plan_wide))
    return None if kept is None else _with_marks(engine, kept, field_division)


def mark_public(mark: Mark) -> PlanMarkPublic:
    """A stored mark as the API shows it."""
    return PlanMarkPublic(plan_id=mark.plan_id, license_number=mark.license_number,
                          field_division=mark.field_division, reason=mark.reason,
                          reason_text=MARK_REASONS.get(mark.reason, mark.reason),
                          note=mark.note, marked_by=mark.marked_by, marked_at=mark.marked_at)


def _with_marks(engine: Engine, plan: PlanPublic, field_division: str | None) -> PlanPublic:
    """The kept plan with its rows' current marks (marks change; the plan never does).

    One small query per read; only marked rows are copied, so an unmarked plan costs
    the query alone.
    """
    marks = read_marks(engine, plan.plan.plan_id, field_division)
    if not marks:
        return plan
    items = [row if (key := (plan.plan.plan_id, row.license_number)) not in marks
             else row.model_copy(update={"mark": mark_public(marks[key])})
             for row in plan.items]
    return plan.model_copy(update={"items": items})


def _visible_division(engine: Engine, plan_id: int, license_number: str,
                      caller_division: str | None) -> str | None:
    """The row's division if the caller may see the row, else None (no such row, or a
    row of another division: both a 404, so other divisions' plans stay hidden)."""
    division = planned_division(engine, plan_id, license_number)
    if division is None or (caller_division is not None and division != caller_division):
        return None
    return division


def mark_row(engine: Engine, plan_id: int, license_number: str, *, reason: str,
             note: str | None, user_name: str, caller_division: str | None,
             at: dt.datetime) -> PlanMarkPublic | None:
    """Mark a plan row "not inspected"; None when the caller may not see the row.

    Raises :class:`planning.marks.MarkError` for an unknown reason or a note too long.
    """
    check_mark(reason, note)
    if _visible_division(engine, plan_id, license_number, caller_division) is None:
        return None
    mark = set_mark(engine, plan_id, license_number, reason=reason, note=note,
                    marked_by=user_name, marked_at=at)
    return None if mark is None else mark_public(mark)


def unmark_row(engine: Engine, plan_id: int, license_number: str,
               caller_division: str | None) -> bool | None:
    """Clear a plan row's mark: whether there was one; None when the caller may not see
    the row."""
    if _visible_division(engine, plan_id, license_number, caller_division) is None:
        return None
    return clear_mark(engine, plan_id, license_number)


def _read_plan(engine: Engine, plan_id: int, field_division: str | None, *,
               plan_wide: bool) -> PlanPublic | None:
    info = plan_info(engine, plan_id)
    if info is None:
        return None
    items = _rows(engine, info, field_division)
    return PlanPublic(
        model_version=info.model_version, as_of=info.as_of,
        plan=plan_summary(info, field_division),
        divisions=plan_division_rows(info, field_division),
        exclusions=[PlanExclusionPublic.model_validate(row)
                    for row in info.summary.get("exclusions", [])] if plan_wide else [],
        notes=[str(note) for note in info.summary.get("notes", [])] if plan_wide else [],
        total=len(items), items=items,
    )


def plan_csv(plan: PlanPublic) -> str:
    """The plan's rows as the ``plan`` command's CSV (``PLAN_CSV_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # neutralises formulas (data/csv_cells.py)
    writer.writerow(PLAN_CSV_COLUMNS)
    identity = plan.plan
    for row in plan.items:
        reasons = [*row.top_reasons, *[""] * REASONS_PER_LICENSEE][:REASONS_PER_LICENSEE]
        writer.writerow([
            row.license_number, row.field_division, row.selected_by,
            row.selection_probability, row.score, row.priority,  # numbers as numbers
            "" if row.rank is None else row.rank, row.business_name or "",
            row.premise_city or "", row.premise_state or "", row.license_type or "",
            *reasons, identity.plan_id, identity.model_version, identity.list_id,
            identity.as_of.isoformat(),
        ])
    return buffer.getvalue()


def plan_csv_filename(plan: PlanPublic) -> str:
    """The export's file name: the plan, its date and the division when limited to one."""
    division = plan.plan.field_division
    suffix = f"-{division.replace(' ', '-')}" if division else ""
    return f"plan-{plan.plan.plan_id}-{plan.plan.as_of.isoformat()}{suffix}.csv"
