"""Inspections: who the regulator picks each month, and how each inspection ends.

Each month every field division has capacity for a share of its active licensees. A
licensee's chance to be picked combines three reasons, as the regulator's practice does:
its cycle (due some years after its last inspection), chance (a few at random) and a risk
rule on what the regulator sees (short time-to-crime traces, a recall after a warning
letter or worse, theft/loss reports, multiple sales). The labels therefore carry selection
bias; each inspection records its reason and its selection probability (propensity).

An inspection's outcome follows an ordered logit of the licensee's hidden state when it
opens: careless records, active diversion, an unobserved factor, and history (a repeat
violator is treated more severely; a careless licensee may reform after a warning
conference). A revocation ends the licensee.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.contract import OUTCOMES
from synthetic.columns import EventColumns
from synthetic.config import GeneratorConfig
from synthetic.population import NO_DAY, Licensees
from synthetic.reference import ReferenceData
from synthetic.timeline import MonthGrid, month_of_days

NO_VIOLATIONS, CITED, WARNING_LETTER, WARNING_CONFERENCE, REVOCATION = range(5)
SELECTION_REASONS = ("cycle", "random", "risk", "qualification")
INSPECTION_TYPES = ("compliance", "qualification")
_DAYS_PER_MONTH = 30.44
#: Codes a diverter's or careless licensee's inspection cites more often than average.
_DIVERTER_CODE_FACTOR = {
    "478.99(c)": 3.0,
    "478.102(a)": 2.0,
    "478.124(c)(1)": 1.2,
    "478.125(e)": 1.3,
}
_CARELESS_CODE_FACTOR = {"478.125(e)": 1.3, "478.21(a)": 1.15, "478.124(c)(3)(iv)": 1.15}


@dataclass
class Inspections(EventColumns):
    """Inspections, one entry each, with their hidden context.

    ``closed`` may lie after the window end (still open then); ``propensity`` is the
    chance the licensee was picked in the month it was.
    """

    licensee: np.ndarray
    opened: np.ndarray
    closed: np.ndarray
    inspection_type: np.ndarray
    outcome: np.ndarray
    reason: np.ndarray
    propensity: np.ndarray
    serious_probability: np.ndarray
    careless_active: np.ndarray
    diverting_active: np.ndarray
    violation_codes: np.ndarray
    missing_firearms: np.ndarray


@dataclass
class InspectionHistory:
    """What the inspections did to each licensee: revocation and reform days."""

    revocation_day: np.ndarray
    reform_day: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return probability


def _severity(
    licensees: Licensees,
    rows: np.ndarray,
    day: np.ndarray,
    repeat: np.ndarray,
    reformed: np.ndarray,
    config: GeneratorConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent severity (logit scale) of inspections opening on ``day``, and hidden state."""
    cfg = config.inspections
    careless = licensees.careless[rows]
    diverting = day >= licensees.diversion_start_day[rows]
    eta = (
        licensees.severity_offset[rows]
        + cfg.careless_severity * careless * np.where(reformed, cfg.reform_factor, 1.0)
        + cfg.diverting_severity * diverting
        + cfg.repeat_severity * repeat
    )
    return eta, careless, diverting


def simulate_inspections(
    rng: np.random.Generator,
    licensees: Licensees,
    start: int,
    end: int,
    short_ttc: np.ndarray,
    theft_loss: np.ndarray,
    multiple_sales: np.ndarray,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> tuple[Inspections, InspectionHistory]:
    """Run the monthly selection and outcome process over the window ``[start, end]``.

    ``short_ttc``, ``theft_loss`` and ``multiple_sales`` are counts per licensee and
    window month (by known-date); the risk rule sees the 12 months before each month.
    """
    cfg = config.inspections
    n = len(licensees)
    grid = MonthGrid(start, end)
    thresholds = np.asarray(cfg.outcome_thresholds)
    n_divisions = int(licensees.division.max(initial=0)) + 1

    revoked_day = np.full(n, NO_DAY, dtype=np.int64)
    reform_day = np.full(n, NO_DAY, dtype=np.int64)
    open_close = np.full(n, -1, dtype=np.int64)
    open_outcome = np.full(n, -1, dtype=np.int64)
    last_close = licensees.last_inspection_day.copy()
    last_outcome = np.full(n, -1, dtype=np.int64)  # unknown before the window
    rolling_short = np.zeros(n)
    rolling_theft = np.zeros(n)
    rolling_multiple = np.zeros(n)

    records: dict[str, list[np.ndarray]] = {
        key: []
        for key in (
            "licensee",
            "opened",
            "closed",
            "outcome",
            "reason",
            "propensity",
            "serious_probability",
            "careless_active",
            "diverting_active",
        )
    }

    def close_until(day: int) -> None:
        """Apply every open inspection closing before ``day``."""
        done = np.flatnonzero((open_close >= 0) & (open_close < day))
        if len(done) == 0:
            return
        outcome = open_outcome[done]
        last_close[done] = open_close[done]
        last_outcome[done] = outcome
        revoked = done[outcome == REVOCATION]
        revoked_day[revoked] = open_close[revoked]
        conference = done[(outcome == WARNING_CONFERENCE) & licensees.careless[done]]
        reforms = conference[rng.random(len(conference)) < cfg.reform_probability]
        reform_day[reforms] = np.minimum(reform_day[reforms], open_close[reforms])
        open_close[done] = -1
        open_outcome[done] = -1

    for position in range(len(grid)):
        month_start = int(grid.lo[position])
        close_until(month_start)
        if position > 0:
            # Known-dates strictly before this month: add last month, drop the 13th back.
            rolling_short += short_ttc[:, position - 1]
            rolling_theft += theft_loss[:, position - 1]
            rolling_multiple += multiple_sales[:, position - 1]
            if position > 12:
                rolling_short -= short_ttc[:, position - 13]
                rolling_theft -= theft_loss[:, position - 13]
                rolling_multiple -= multiple_sales[:, position - 13]

        active = (licensees.issue_day < month_start) & (revoked_day == NO_DAY)
        eligible = active & (open_close < 0)
        months_since = (month_start - last_close) / _DAYS_PER_MONTH
        p_cycle = cfg.cycle_monthly_hazard * (months_since >= licensees.cycle_months)
        p_random = np.full(n, cfg.random_monthly_probability)
        followup = (last_outcome >= WARNING_LETTER) & (months_since >= 12) & (months_since <= 36)
        p_risk = _sigmoid(
            cfg.risk_intercept
            + cfg.risk_short_ttc_coefficient * np.log1p(rolling_short)
            + cfg.risk_followup_coefficient * followup
            + cfg.risk_theft_loss_coefficient * (rolling_theft >= 1)
            + cfg.risk_multiple_sale_coefficient * np.log1p(rolling_multiple)
        )
        demand = 1.0 - (1.0 - p_cycle) * (1.0 - p_random) * (1.0 - p_risk)
        demand = np.where(eligible, demand, 0.0)

        # Capacity: each division closes about capacity/12 of its active licensees a month.
        budget = np.bincount(licensees.division[active], minlength=n_divisions) * (
            cfg.capacity_per_licensee_year / 12.0
        )
        wanted = np.bincount(licensees.division, weights=demand, minlength=n_divisions)
        scale = np.clip(budget / np.maximum(wanted, 1e-12), 0.0, cfg.max_capacity_scale)
        propensity = np.minimum(1.0, demand * scale[licensees.division])
        picked = np.flatnonzero(rng.random(n) < propensity)
        if len(picked) == 0:
            continue

        # The reason is the component that plausibly triggered the visit, in proportion.
        parts = np.stack([p_cycle[picked], p_random[picked], p_risk[picked]], axis=1)
        cumulative = np.cumsum(parts, axis=1)
        draw = rng.random(len(picked)) * cumulative[:, -1]
        reason = np.minimum((cumulative <= draw[:, None]).sum(axis=1), 2)

        span = int(grid.hi[position] - grid.lo[position])
        opened = month_start + (rng.random(len(picked)) * span).astype(np.int64)
        repeat = last_outcome[picked] >= CITED
        reformed = reform_day[picked] < opened
        eta, careless, diverting = _severity(licensees, picked, opened, repeat, reformed, config)
        at_least = _sigmoid(eta[:, None] - thresholds[None, :])
        outcome = (rng.random(len(picked))[:, None] < at_least).sum(axis=1)
        median = np.asarray(cfg.duration_median_days)[outcome]
        duration = np.maximum(
            1, (median * np.exp(rng.normal(0.0, cfg.duration_sigma, len(picked)))).astype(np.int64)
        )
        closed = opened + duration
        open_close[picked] = closed
        open_outcome[picked] = outcome

        records["licensee"].append(picked)
        records["opened"].append(opened)
        records["closed"].append(closed)
        records["outcome"].append(outcome)
        records["reason"].append(reason)
        records["propensity"].append(propensity[picked])
        records["serious_probability"].append(at_least[:, WARNING_CONFERENCE - 1])
        records["careless_active"].append(careless & ~reformed)
        records["diverting_active"].append(diverting)
    close_until(end + 1)

    def stacked(key: str, dtype: type) -> np.ndarray:
        parts = records[key]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    float_columns = ("propensity", "serious_probability")
    compliance = {key: stacked(key, float if key in float_columns else np.int64) for key in records}
    size = len(compliance["licensee"])
    inspection_type = np.zeros(size, dtype=np.int8)

    licensee = compliance["licensee"]
    outcome = compliance["outcome"]
    careless_active = compliance["careless_active"].astype(bool)
    diverting_active = compliance["diverting_active"].astype(bool)
    opened, closed = compliance["opened"], compliance["closed"]
    reason = compliance["reason"]
    propensity = compliance["propensity"]
    serious_probability = compliance["serious_probability"]

    if cfg.qualification_inspections:
        # A new licensee's qualification visit closes on the day its license is issued.
        entrants = np.flatnonzero((licensees.issue_day >= start) & (licensees.issue_day <= end))
        q_outcome = np.where(rng.random(len(entrants)) < 0.08, CITED, NO_VIOLATIONS)
        licensee = np.concatenate([licensee, entrants])
        outcome = np.concatenate([outcome, q_outcome])
        opened = np.concatenate([opened, licensees.issue_day[entrants] - 30])
        closed = np.concatenate([closed, licensees.issue_day[entrants]])
        inspection_type = np.concatenate([inspection_type, np.ones(len(entrants), dtype=np.int8)])
        reason = np.concatenate([reason, np.full(len(entrants), 3)])
        propensity = np.concatenate([propensity, np.ones(len(entrants))])
        serious_probability = np.concatenate([serious_probability, np.zeros(len(entrants))])
        careless_active = np.concatenate([careless_active, licensees.careless[entrants]])
        diverting_active = np.concatenate([diverting_active, np.zeros(len(entrants), bool)])

    codes, missing = _findings(
        rng, licensees, licensee, outcome, careless_active, diverting_active, config, reference
    )
    inspections = Inspections(
        licensee=licensee,
        opened=opened,
        closed=closed,
        inspection_type=inspection_type,
        outcome=outcome,
        reason=reason,
        propensity=propensity,
        serious_probability=serious_probability,
        careless_active=careless_active,
        diverting_active=diverting_active,
        violation_codes=codes,
        missing_firearms=missing,
    )
    return inspections, InspectionHistory(revocation_day=revoked_day, reform_day=reform_day)


def _findings(
    rng: np.random.Generator,
    licensees: Licensees,
    licensee: np.ndarray,
    outcome: np.ndarray,
    careless: np.ndarray,
    diverting: np.ndarray,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> tuple[np.ndarray, np.ndarray]:
    """Violation codes (``;``-joined, None when none) and missing firearms per inspection."""
    cfg = config.inspections
    size = len(licensee)
    table = reference.violation_codes
    names = table["code"].to_numpy(dtype=object)
    share = table["share_of_reports"].to_numpy(dtype=float)
    rate = np.r_[0.0, np.asarray(cfg.code_rate_by_outcome)][outcome]
    diverter_factor = np.array([_DIVERTER_CODE_FACTOR.get(code, 1.0) for code in names])
    careless_factor = np.array([_CARELESS_CODE_FACTOR.get(code, 1.0) for code in names])
    probability = share[None, :] * rate[:, None]
    probability = probability * np.where(diverting[:, None], diverter_factor[None, :], 1.0)
    probability = probability * np.where(careless[:, None], careless_factor[None, :], 1.0)
    cited = rng.random((size, len(names))) < np.minimum(probability, 0.97)
    # Any outcome above "no violations" cites at least one code, drawn by citing share.
    empty = np.flatnonzero((outcome > NO_VIOLATIONS) & ~cited.any(axis=1))
    fallback = np.searchsorted(np.cumsum(share) / share.sum(), rng.random(len(empty)), side="right")
    cited[empty, np.minimum(fallback, len(names) - 1)] = True
    rows, columns = np.nonzero(cited)
    joined = np.full(size, None, dtype=object)
    if len(rows):
        frame = pd.DataFrame({"row": rows, "code": names[columns]})
        grouped = frame.groupby("row", sort=True)["code"].agg(";".join)
        joined[grouped.index.to_numpy()] = grouped.to_numpy(dtype=object)

    sales_scale = np.power(np.maximum(licensees.sales_weight[licensee], 0.05), 0.3)
    mean_missing = (
        np.where(
            diverting,
            cfg.missing_firearms_diverter_mean,
            np.where(careless, cfg.missing_firearms_careless_mean, 0.0),
        )
        * sales_scale
    )
    missing = np.where(
        mean_missing > 0,
        rng.geometric(1.0 / (1.0 + np.maximum(mean_missing, 1e-9)), size) - 1,
        (rng.random(size) < cfg.missing_firearms_compliant_share) * rng.integers(1, 3, size),
    )
    # Firearms unaccounted for are a violation: a clean inspection found none missing.
    missing = np.where(outcome == NO_VIOLATIONS, 0, missing)
    return joined, missing.astype(np.int64)


def true_serious_probability(
    truth: pd.DataFrame, inspections: pd.DataFrame, as_of: pd.Timestamp | str
) -> pd.Series:
    """Each licensee's true chance that a compliance inspection opened on ``as_of`` ends
    serious (warning conference or revocation), indexed by license number.

    ``truth`` is the licensee truth table of a generated world; ``inspections`` its
    inspections table (only compliance inspections closed strictly before ``as_of``
    count, as the history term of the outcome model says). NaN for licensees not active
    on ``as_of`` (not yet issued, or revoked before it).
    """
    as_of = pd.Timestamp(as_of)
    frame = truth.set_index("license_number")
    known = inspections[
        (inspections["inspection_type"] == "compliance")
        & (pd.to_datetime(inspections["inspection_date"]) < as_of)
    ]
    last = (
        known.sort_values(["inspection_date", "inspection_id"])
        .groupby("license_number")["outcome"]
        .last()
    )
    repeat = last.reindex(frame.index).isin(OUTCOMES[CITED:]).to_numpy()
    reformed = (pd.to_datetime(frame["reform_date"]) < as_of).fillna(False).to_numpy(dtype=bool)
    diverting = (
        (pd.to_datetime(frame["diversion_start_date"]) <= as_of).fillna(False).to_numpy(dtype=bool)
    )
    logit = (
        frame["severity_logit_base"].to_numpy(dtype=float)
        + np.where(
            reformed, frame["severity_logit_careless_reformed"], frame["severity_logit_careless"]
        )
        + diverting * frame["severity_logit_diverting"].to_numpy(dtype=float)
        + repeat * frame["severity_logit_repeat"].to_numpy(dtype=float)
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    issued = pd.to_datetime(frame["license_issue_date"]) < as_of
    revoked = (pd.to_datetime(frame["revocation_date"]) < as_of).fillna(False)
    active = (issued & ~revoked).to_numpy(dtype=bool)
    return pd.Series(
        np.where(active, probability, np.nan), index=frame.index, name="true_serious_probability"
    )


__all__ = [
    "OUTCOMES",
    "SELECTION_REASONS",
    "InspectionHistory",
    "Inspections",
    "month_of_days",
    "simulate_inspections",
    "true_serious_probability",
]
