"""Firearm sales per licensee and month, following NICS checks by state and month.

A state's monthly demand is its NICS checks (handgun + long gun + other + 2 x multiple);
a licensee's share of it is its sales weight over the state's 2023 licensee count, so the
state's sales rise and fall with its checks (the 2020 surge included) and a world of any
size sells, per licensee, what the real country does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.config import GeneratorConfig
from synthetic.population import Licensees
from synthetic.reference import ReferenceData
from synthetic.sampling import StateCurves
from synthetic.timeline import MonthGrid, day_number, month_of_days


@dataclass
class SalesModel:
    """Monthly sales intensity per state over the sales history up to the window end.

    ``intensity[s, m]`` is firearms sold in month ``m`` (a position on ``grid``) by a
    licensee of state ``s`` with sales weight 1; ``handgun_share`` and ``long_gun_share``
    split it by kind. ``first_sale`` is each licensee's first month position with sales
    (the month after its license was issued); ``window_first`` the window's first.
    """

    grid: MonthGrid
    intensity: np.ndarray
    handgun_share: np.ndarray
    long_gun_share: np.ndarray
    curves: StateCurves
    first_sale: np.ndarray
    window_first: int
    diverted_share: np.ndarray

    def licensee_sales(
        self, licensees: Licensees, first: np.ndarray, stop: np.ndarray
    ) -> np.ndarray:
        """Firearms each licensee sells over grid positions ``first`` to ``stop`` (exclusive)."""
        sold: np.ndarray = licensees.sales_weight * self.curves.total(licensees.state, first, stop)
        return sold


def build_sales(
    licensees: Licensees,
    start: int,
    end: int,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> SalesModel:
    """The sales model for a window ``[start, end]`` (days since 1970-01-01)."""
    history_start = min(day_number(config.sales.history_start), start)
    grid = MonthGrid(history_start, end)
    checks = reference.monthly_checks(int(grid.months[0]), int(grid.months[-1]))
    handgun, long_gun, other, multiple = (checks[..., k] for k in range(4))
    firearms = (handgun + long_gun + other + 2.0 * multiple) * config.sales.firearms_per_check
    per_licensee = firearms / reference.states["ffl_count_2023"].to_numpy(dtype=float)[:, None]
    intensity = per_licensee * grid.fraction[None, :]
    single = np.maximum(handgun + long_gun + other, 1.0)
    handgun_share = handgun / single
    long_gun_share = (long_gun + other) / single

    issue_month = month_of_days(licensees.issue_day)
    first_sale = np.clip(grid.position(issue_month + 1), 0, len(grid))
    # Licensees issued before the history start sell from its first month.
    first_sale = np.where(issue_month + 1 < grid.first_month, 0, first_sale)
    first_sale = np.where(issue_month + 1 > grid.months[-1], len(grid), first_sale)
    window_first = int(grid.position(month_of_days(np.array([start])))[0])

    curves = StateCurves(intensity)
    # A diverter diverts a number of guns a year, at most a share of its own sales.
    window_years = (end - start + 1) / 365.25
    state_window = curves.total(
        licensees.state,
        np.full(len(licensees), window_first),
        np.full(len(licensees), len(grid)),
    )
    annual_sales = licensees.sales_weight * state_window / window_years
    diverted_share = np.where(
        licensees.diverter,
        np.minimum(
            config.behaviour.max_diverted_share_of_sales,
            licensees.diverted_per_year / np.maximum(annual_sales, 1e-9),
        ),
        0.0,
    )
    return SalesModel(
        grid=grid,
        intensity=intensity,
        handgun_share=handgun_share,
        long_gun_share=long_gun_share,
        curves=curves,
        first_sale=first_sale,
        window_first=window_first,
        diverted_share=diverted_share,
    )
