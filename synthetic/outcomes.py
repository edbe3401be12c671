"""Simulated outcomes of an inspection plan on a generated world, so a full cycle can run.

A plan (``dealer-risk plan``) names the licensees each division should inspect in a
period. On a generated world nobody goes out to inspect them, so this module plays the
field: for each planned licensee it decides whether the inspection happens (most do, not
all: a licensee may have gone out of business, moved or refused, or the division ran out
of time), and for those that happen it draws a compliance inspection closing inside the
period, with its outcome drawn from the generator's hidden truth. The result is a
contract directory that ``dealer-risk ingest`` accepts.

What is drawn, per planned licensee (one random stream, seeded by ``seed``):

- **inspected** with probability ``inspected_share`` (default 0.9), independently of the
  outcome: the shortfall is missing at random, the case the plan's estimate handles. A
  licensee no longer active on the period's first day (the truth's chance is unknown) is
  never inspected.
- **outcome**: the generator's ordered logit at the period's first day. The truth gives
  the log-odds ``s`` of a serious outcome (warning conference or worse) on that day
  (:func:`synthetic.inspections.true_serious_probability`); the other cut points follow
  from the generator's ``outcome_thresholds`` (``P(outcome ≥ k) = sigmoid(s + t_3 - t_k)``),
  so ``P(serious) = sigmoid(s)`` exactly: the estimate's target. Diversion that starts inside
  the period does not enter (the plan's estimate is about inspections opened on its date).
- **closing date**: uniform over the period's days; violation codes and missing firearms
  as the generator draws them for that outcome (:func:`synthetic.inspections._findings`).

Inspection ids are ``P{plan}-S{seed}-NNNNNN``, so the same plan and seed give the same
rows and ingesting them twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from data.contract import OUTCOMES, SERIOUS_OUTCOMES, TABLES_BY_NAME
from data.truth_files import truth_companions
from synthetic.config import GeneratorConfig
from synthetic.inspections import WARNING_CONFERENCE, _findings, true_serious_probability
from synthetic.population import Licensees
from synthetic.reference import load_reference

#: The share of planned licensees inspected in the period (the rest are not, at random).
DEFAULT_INSPECTED_SHARE = 0.9
#: The event tables written empty (with their headers) beside the outcomes.
_EMPTY_TABLES = ("traces", "multiple_sales", "theft_loss")


class OutcomeError(ValueError):
    """The plan or world cannot be simulated as asked (the message names file and line)."""


@dataclass(frozen=True)
class _SalesWeights:
    """The one licensee attribute the generator's findings draw reads."""

    sales_weight: np.ndarray


@dataclass(frozen=True)
class SimulatedOutcomes:
    """What was drawn: one row per planned licensee, and where the directory went."""

    out_dir: Path
    rows: pd.DataFrame  # license_number, selected_by, inspected, serious, true_probability


def read_plan_csv(path: Path) -> pd.DataFrame:
    """A plan CSV (``dealer-risk plan --out``), checked for the columns simulation needs."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise OutcomeError(f"{path}: cannot be read as a plan CSV: {error}") from error
    needed = {"license_number", "field_division", "selected_by", "plan_id", "as_of"}
    missing = needed - set(frame.columns)
    if missing:
        raise OutcomeError(f"{path}:1: header: missing column(s) {', '.join(sorted(missing))}")
    if frame.empty:
        return frame
    for column in ("license_number", "plan_id", "as_of"):
        empty = np.flatnonzero(frame[column].str.strip() == "")
        if empty.size:
            raise OutcomeError(f"{path}:{int(empty[0]) + 2}: {column}: empty")
    for line, value in enumerate(frame["as_of"], start=2):
        try:
            dt.date.fromisoformat(value)
        except ValueError as error:
            raise OutcomeError(f"{path}:{line}: as_of: not a date YYYY-MM-DD: {value!r}") from error
    if (frame["plan_id"] != frame["plan_id"].iloc[0]).any() or (
            frame["as_of"] != frame["as_of"].iloc[0]).any():
        raise OutcomeError(f"{path}: rows of more than one plan")
    duplicated = np.flatnonzero(frame["license_number"].duplicated().to_numpy())
    if duplicated.size:
        raise OutcomeError(f"{path}:{int(duplicated[0]) + 2}: license_number: planned twice")
    return frame


def _contract_frame(world_dir: Path, name: str) -> pd.DataFrame:
    path = world_dir / f"{name}.csv"
    if path.exists():
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    parquet = world_dir / f"{name}.parquet"
    if parquet.exists():
        frame = pd.read_parquet(parquet)
        return frame.astype(str).where(frame.notna(), "")
    raise OutcomeError(f"{world_dir}: no {name}.csv or {name}.parquet")


def simulate_plan_outcomes(
    truth_path: Path,
    plan_csv: Path,
    world_dir: Path,
    out_dir: Path,
    *,
    period_start: dt.date | None = None,
    period_end: dt.date | None = None,
    seed: int = 0,
    inspected_share: float = DEFAULT_INSPECTED_SHARE,
    config: GeneratorConfig | None = None,
) -> SimulatedOutcomes:
    """Draw the plan's inspections from the truth and write them as a contract directory.

    ``world_dir`` is the generated contract directory the store was loaded from (its
    ``dealers`` rows are copied for the planned licensees, its ``inspections`` give the
    history the outcome model uses); ``truth_path`` its truth file. The period defaults
    to the plan's date and the 365 days from it. See the module docstring for what is
    drawn.
    """
    if not 0 < inspected_share <= 1:
        raise OutcomeError(f"--inspected-share must be above 0 and at most 1, "
                           f"not {inspected_share}")
    plan = read_plan_csv(plan_csv)
    if plan.empty:
        raise OutcomeError(f"{plan_csv}: the plan has no rows")
    start = period_start or dt.date.fromisoformat(str(plan["as_of"].iloc[0]))
    end = period_end or start + dt.timedelta(days=364)
    if end < start:
        raise OutcomeError(f"the period ends ({end}) before it starts ({start})")
    if not truth_path.exists():
        raise OutcomeError(f"{truth_path}: no such truth file")
    truth = pd.read_csv(truth_path, dtype={"license_number": str})
    dealers = _contract_frame(world_dir, "dealers")
    history = _contract_frame(world_dir, "inspections")
    chance = true_serious_probability(truth, history, pd.Timestamp(start))
    numbers = plan["license_number"].to_numpy(dtype=object)
    unknown = ~pd.Index(numbers).isin(dealers["license_number"])
    if unknown.any():
        position = int(np.flatnonzero(unknown)[0])
        raise OutcomeError(f"{plan_csv}:{position + 2}: license_number: "
                           f"{numbers[position]!r} is not a licensee of {world_dir}")
    probability = chance.reindex(numbers).to_numpy(dtype=float)
    rng = np.random.default_rng([seed, int(plan["plan_id"].iloc[0])])
    n = len(numbers)
    inspected = (rng.random(n) < inspected_share) & ~np.isnan(probability)
    cfg = (config or GeneratorConfig()).inspections
    thresholds = np.asarray(cfg.outcome_thresholds, dtype=float)
    serious_logit = np.log(np.clip(probability, 1e-12, 1 - 1e-12)
                           / np.clip(1 - probability, 1e-12, 1))
    shifted = serious_logit[:, None] + thresholds[WARNING_CONFERENCE - 1] - thresholds[None, :]
    at_least = 1.0 / (1.0 + np.exp(-shifted))
    outcome = (rng.random(n)[:, None] < at_least).sum(axis=1)
    days = (end - start).days + 1
    closed = [start + dt.timedelta(days=int(d)) for d in rng.integers(0, days, n)]

    frame = truth.set_index("license_number").reindex(numbers)
    diverting = (pd.to_datetime(frame["diversion_start_date"]) <= pd.Timestamp(start)
                 ).fillna(False).to_numpy(dtype=bool)
    reformed = (pd.to_datetime(frame["reform_date"]) < pd.Timestamp(start)
                ).fillna(False).to_numpy(dtype=bool)
    careless = frame["careless"].astype(str).str.lower().eq("true").to_numpy() & ~reformed
    weights = _SalesWeights(np.nan_to_num(frame["sales_weight"].to_numpy(dtype=float), nan=1.0))
    chosen = np.flatnonzero(inspected)
    # The generator's own draw of codes and missing firearms, for the chosen rows only.
    codes, missing = _findings(rng, cast(Licensees, weights), chosen, outcome[chosen],
                               careless[chosen], diverting[chosen], config or GeneratorConfig(),
                               load_reference())
    plan_id = str(plan["plan_id"].iloc[0])
    inspections = pd.DataFrame({
        "inspection_id": [f"P{plan_id}-S{seed}-{i:06d}" for i in range(len(chosen))],
        "license_number": numbers[chosen],
        "inspection_date": [closed[i].isoformat() for i in chosen],
        "inspection_type": "compliance",
        "outcome": np.asarray(OUTCOMES, dtype=object)[outcome[chosen]],
        "violation_count": [0 if c is None else c.count(";") + 1 for c in codes],
        "missing_firearms": missing,
        "violation_codes": ["" if c is None else c for c in codes],
    })
    out_dir.mkdir(parents=True, exist_ok=True)
    planned_dealers = dealers[dealers["license_number"].isin(set(numbers))]
    planned_dealers.to_csv(out_dir / "dealers.csv", index=False)
    inspections.to_csv(out_dir / "inspections.csv", index=False)
    for name in _EMPTY_TABLES:
        columns = [column.name for column in TABLES_BY_NAME[name].columns]
        pd.DataFrame(columns=columns).to_csv(out_dir / f"{name}.csv", index=False)
    serious = np.isin(np.asarray(OUTCOMES, dtype=object)[outcome], SERIOUS_OUTCOMES)
    rows = pd.DataFrame({
        "license_number": numbers,
        "field_division": plan["field_division"].to_numpy(dtype=object),
        "selected_by": plan["selected_by"].to_numpy(dtype=object),
        "inspected": inspected,
        "serious": serious & inspected,
        "true_probability": probability,
    })
    return SimulatedOutcomes(out_dir=out_dir, rows=rows)


def default_world_dir(truth_path: Path) -> Path:
    """The contract directory a truth file sits beside (``OUT_DIR.truth.csv`` → OUT_DIR)."""
    name = truth_companions(truth_path)["licensees"].name
    return truth_path.with_name(name.removesuffix(".truth.csv"))


__all__ = [
    "DEFAULT_INSPECTED_SHARE",
    "OutcomeError",
    "SimulatedOutcomes",
    "default_world_dir",
    "read_plan_csv",
    "simulate_plan_outcomes",
]
