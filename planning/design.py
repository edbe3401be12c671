"""Who may be planned, how many each division can inspect, and who is chosen, by which path.

The design, documented with its estimator in ``docs/plans.md``:

- **Eligible** (the contract's rule): on the list the plan is made from (so active when it
  was scored) and licensed before the plan's date, not a collector (type ``03``), no
  compliance inspection known in the 365 days before the date, never revoked, and with a
  field division to be planned by. Each excluded licensee is counted under the first of
  these rules it fails.
- **Capacity** per division: from the capacity file, else :data:`DEFAULT_CAPACITY_SHARE`
  of the division's eligible licensees a year (at least one inspection where anyone is
  eligible), scaled to the period.
- **Selection**, per division with capacity ``C`` of ``E`` eligible: when ``C >= E``
  everyone is planned (``risk``, probability 1). Otherwise ``n_x = max(1, round(share *
  C))`` inspections go to ``exploration`` and ``C - n_x`` to ``risk``: the ``C - n_x``
  highest scores are planned with probability 1, and ``n_x`` of the other ``E - C + n_x``
  eligible licensees are drawn by simple random sampling without replacement, each with
  probability ``n_x / (E - C + n_x)``. Every eligible licensee thus has a known, nonzero
  chance of being planned.
- **Priority**: risk picks in score order, with the exploration picks spread evenly among
  them, so a division that runs out of time cuts both paths alike instead of dropping the
  randomised slice the estimate rests on.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Capacity without a capacity file: this share of a division's eligible licensees a year.
DEFAULT_CAPACITY_SHARE = 0.12
#: The share of each division's capacity drawn at random from its other eligible licensees.
DEFAULT_EXPLORATION_SHARE = 0.10
DEFAULT_PERIOD_DAYS = 365
#: A licensee may be inspected for compliance without a warrant once in this many days.
REINSPECTION_DAYS = 365
COLLECTOR_LICENSE_TYPE = "03"

#: Exclusion reasons, in the order they are tested (a licensee counts under the first).
EXCLUSIONS = (
    ("licensed_on_or_after_as_of", "licensed on or after the plan's date"),
    ("collector", "a collector (license type 03): not inspected for compliance here"),
    ("inspected_in_last_365_days", "a compliance inspection known in the 365 days before"),
    ("revoked", "license revoked"),
    ("no_field_division", "no field division to plan it in"),
)

RISK = "risk"
EXPLORATION = "exploration"
SELECTION_PATHS = (RISK, EXPLORATION)


class PlanError(ValueError):
    """The plan cannot be made as asked (bad option or capacity file)."""


@dataclass(frozen=True)
class PlanOptions:
    """What a plan was asked for (recorded with it, so it can be made again)."""

    as_of: dt.date
    period_days: int = DEFAULT_PERIOD_DAYS
    exploration_share: float = DEFAULT_EXPLORATION_SHARE
    seed: int = 0
    capacity: dict[str, int] | None = None  # None: the default share

    def __post_init__(self) -> None:
        if not 1 <= self.period_days <= 3660:
            raise PlanError(f"--period-days must be from 1 to 3660, not {self.period_days}")
        if not 0 < self.exploration_share <= 1:
            raise PlanError("--exploration-share must be above 0 and at most 1 (without an "
                            "exploration share some eligible licensees could never be "
                            f"planned), not {self.exploration_share}")

    @property
    def period_end(self) -> dt.date:
        """The last day of the period (the period is ``[as_of, as_of + period_days)``)."""
        return self.as_of + dt.timedelta(days=self.period_days - 1)


@dataclass(frozen=True)
class DivisionPlan:
    """One division's part of a plan: capacity, coverage and expected findings."""

    field_division: str
    capacity: int
    capacity_source: str  # "file" or "default share"
    eligible: int
    risk: int
    exploration: int
    exploration_probability: float | None  # of each non-risk eligible licensee
    expected_serious: float  # sum of the planned licensees' calibrated scores
    expected_serious_demand_letter_2: float | None
    expected_serious_random: float

    @property
    def planned(self) -> int:
        return self.risk + self.exploration


@dataclass(frozen=True)
class Design:
    """A plan before it is stored: its rows, its divisions and what was excluded."""

    options: PlanOptions
    rows: pd.DataFrame  # one row per planned inspection (see ``plan_rows``)
    divisions: tuple[DivisionPlan, ...]
    exclusions: dict[str, int]
    eligible: pd.DataFrame = field(repr=False)  # every eligible licensee, with its probability

    @property
    def notes(self) -> list[str]:
        """What a supervisor should know about how the plan was made, in words."""
        notes = []
        capacity = self.options.capacity
        if capacity is not None:
            unknown = sorted(set(capacity) - {d.field_division for d in self.divisions})
            if unknown:
                notes.append("capacity given for divisions without eligible licensees: "
                             + ", ".join(unknown))
            defaulted = [d.field_division for d in self.divisions
                         if d.capacity_source == "default share"]
            if defaulted:
                notes.append("no capacity in the file for " + ", ".join(defaulted)
                             + f": {DEFAULT_CAPACITY_SHARE:.0%} of eligible a year used")
        empty = [d.field_division for d in self.divisions if d.capacity == 0 and d.eligible]
        if empty:
            notes.append("no capacity in " + ", ".join(empty) + ": their eligible licensees "
                         "cannot be planned and are outside the plan's estimate")
        return notes


def default_capacity(eligible: int, period_days: int) -> int:
    """:data:`DEFAULT_CAPACITY_SHARE` of ``eligible`` a year, scaled to the period."""
    if eligible == 0:
        return 0
    return max(1, round(DEFAULT_CAPACITY_SHARE * eligible * period_days / 365))


def read_capacity(path: str) -> dict[str, int]:
    """A capacity file (``field_division,inspections``), checked line by line."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise PlanError(f"{path}: cannot be read as CSV: {error}") from error
    missing = {"field_division", "inspections"} - set(frame.columns)
    if missing:
        raise PlanError(f"{path}:1: header: missing column(s) {', '.join(sorted(missing))}")
    capacity: dict[str, int] = {}
    for line, (division, count) in enumerate(
            zip(frame["field_division"], frame["inspections"], strict=True), start=2):
        division = division.strip()
        if not division:
            raise PlanError(f"{path}:{line}: field_division: empty")
        if division in capacity:
            raise PlanError(f"{path}:{line}: field_division: {division!r} given twice")
        if not count.strip().isdigit():
            raise PlanError(f"{path}:{line}: inspections: not a whole number ≥ 0: {count!r}")
        capacity[division] = int(count)
    return capacity


def eligibility(
    listed: pd.DataFrame, dealers: pd.DataFrame, inspections: pd.DataFrame, as_of: dt.date,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The eligible licensees of a list on ``as_of``, and how many each rule excluded.

    ``listed`` has the list's rows (``license_number``, ``score``, ``license_type``,
    ``field_division``, ...); ``dealers`` the store's licensees and ``inspections`` the
    inspections known before ``as_of`` (the contract's frames). Licensees licensed after
    the list was scored are not on it and wait for the next list.
    """
    day = pd.Timestamp(as_of)
    frame = listed.copy()
    issued = dealers.set_index("license_number")["license_issue_date"].reindex(
        frame["license_number"])
    known = inspections[inspections["inspection_date"] < day]
    compliance = known[(known["inspection_type"] == "compliance")
                       & (known["inspection_date"] >= day - pd.Timedelta(days=REINSPECTION_DAYS))]
    revoked = set(known.loc[known["outcome"] == "revocation", "license_number"])
    tests = {
        "licensed_on_or_after_as_of": (issued >= day).fillna(False).to_numpy(dtype=bool),
        "collector": (frame["license_type"] == COLLECTOR_LICENSE_TYPE).to_numpy(dtype=bool),
        "inspected_in_last_365_days": frame["license_number"].isin(
            set(compliance["license_number"])).to_numpy(dtype=bool),
        "revoked": frame["license_number"].isin(revoked).to_numpy(dtype=bool),
        "no_field_division": frame["field_division"].isna().to_numpy(dtype=bool),
    }
    remaining = np.ones(len(frame), dtype=bool)
    counts = {}
    for name, _ in EXCLUSIONS:
        hit = remaining & tests[name]
        counts[name] = int(hit.sum())
        remaining &= ~hit
    return frame[remaining].reset_index(drop=True), counts


def _rng(seed: int, division: str) -> np.random.Generator:
    # One stream per division, so a division's draw does not depend on the others.
    return np.random.default_rng([seed, zlib.crc32(division.encode())])


def _spread(risk: list[int], exploration: list[int]) -> list[int]:
    """Exploration picks spread evenly through the risk picks' order."""
    total = len(risk) + len(exploration)
    if not exploration:
        return risk
    slots = {int(k * total / len(exploration) + total / (2 * len(exploration)))
             for k in range(len(exploration))}
    order, risk_iter, explore_iter = [], iter(risk), iter(exploration)
    for position in range(total):
        pick = next(explore_iter, None) if position in slots else next(risk_iter, None)
        if pick is None:  # one path ran out: the rest of the other
            pick = next(risk_iter, None)
            if pick is None:
                pick = next(explore_iter)
        order.append(pick)
    return order


def select(
    eligible: pd.DataFrame, options: PlanOptions,
    demand_letter_2: pd.Series | None = None,
) -> Design:
    """Choose every division's inspections from its eligible licensees (module docstring).

    ``eligible`` comes from :func:`eligibility` (in the list's rank order).
    ``demand_letter_2`` is the Demand Letter 2 rule's ordering value per eligible row
    (higher first), for the plan that rule would give with the same capacity.
    """
    rows = []
    divisions = []
    probabilities = np.zeros(len(eligible))
    by_division = eligible.groupby("field_division", sort=True).indices
    for division, positions in by_division.items():
        positions = np.sort(positions)  # rank order
        scores = eligible["score"].to_numpy(dtype=float)[positions]
        count = positions.size
        if options.capacity is not None and division in options.capacity:
            capacity, source = options.capacity[division], "file"
        else:
            capacity, source = default_capacity(count, options.period_days), "default share"
        planned = min(capacity, count)
        if capacity >= count:
            n_explore, risk_pick = 0, positions
            explore_pick = positions[:0]
            probability = None
            probabilities[positions] = 1.0
        else:
            n_explore = max(1, round(options.exploration_share * capacity)) if capacity else 0
            risk_pick = positions[: capacity - n_explore]
            rest = positions[capacity - n_explore:]
            explore_pick = (_rng(options.seed, str(division)).choice(rest, n_explore,
                                                                     replace=False)
                            if n_explore else rest[:0])
            probability = n_explore / rest.size if rest.size else None
            probabilities[risk_pick] = 1.0
            probabilities[rest] = probability or 0.0
        order = _spread([int(p) for p in risk_pick], [int(p) for p in explore_pick])
        explored = {int(p) for p in explore_pick}
        for priority, position in enumerate(order, start=1):
            rows.append({
                "position": position, "field_division": division,
                "selected_by": EXPLORATION if position in explored else RISK,
                "selection_probability": probability if position in explored else 1.0,
                "priority": priority,
            })
        dl2_expected = None
        if demand_letter_2 is not None:
            rule = demand_letter_2.to_numpy(dtype=float)[positions]
            # The rule's order, ties by the list's rank (its stable order here).
            top = np.argsort(-rule, kind="stable")[:planned]
            dl2_expected = float(scores[top].sum())
        divisions.append(DivisionPlan(
            field_division=str(division), capacity=int(capacity), capacity_source=source,
            eligible=int(count), risk=len(risk_pick), exploration=len(explore_pick),
            exploration_probability=probability,
            expected_serious=float(eligible["score"].to_numpy(dtype=float)[order].sum()),
            expected_serious_demand_letter_2=dl2_expected,
            expected_serious_random=float(planned * scores.mean()) if count else 0.0,
        ))
        if planned != len(order):  # pragma: no cover - guarded by construction
            raise AssertionError("a division's plan does not match its capacity")
    plan = pd.DataFrame(rows, columns=["position", "field_division", "selected_by",
                                       "selection_probability", "priority"])
    listed = eligible.iloc[plan["position"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    plan = pd.concat([listed.drop(columns=["field_division"]),
                      plan.drop(columns=["position"]).reset_index(drop=True)], axis=1)
    plan = plan.sort_values(["field_division", "priority"], kind="stable").reset_index(drop=True)
    with_probability = eligible.assign(selection_probability=probabilities)
    return Design(options=options, rows=plan, divisions=tuple(divisions), exclusions={},
                  eligible=with_probability)
