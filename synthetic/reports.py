"""Multiple-sale reports and theft/loss reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.columns import EventColumns
from synthetic.config import GeneratorConfig
from synthetic.population import Licensees
from synthetic.reference import ReferenceData
from synthetic.sales import SalesModel
from synthetic.sampling import StateCurves, geometric_extra, repeat_index
from synthetic.timeline import DAYS_PER_YEAR, MonthGrid, day_number, month_of_days

FORMS = ("3310.4", "3310.12")
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass
class MultipleSales(EventColumns):
    """Multiple-sale reports known in the window; ``straw`` marks a diverter's straw buys."""

    licensee: np.ndarray
    report_day: np.ndarray
    form: np.ndarray
    firearm_count: np.ndarray
    purchaser: np.ndarray
    straw: np.ndarray


@dataclass
class TheftLoss(EventColumns):
    """Theft and loss reports known in the window."""

    licensee: np.ndarray
    report_day: np.ndarray
    theft: np.ndarray
    firearm_count: np.ndarray


def purchaser_numbers(seed: int, licensee: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """A pseudonymous 48-bit number per (licensee, customer): splitmix64 of both, salted.

    The same buyer at the same licensee always gets the same key; nothing about the
    licensee or buyer can be read back from it.
    """
    with np.errstate(over="ignore"):
        x = (licensee.astype(np.uint64) << np.uint64(32)) ^ customer.astype(np.uint64)
        x ^= np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        x = x ^ (x >> np.uint64(31))
    return x >> np.uint64(16)


def _window_curves(
    sales: SalesModel, grid: MonthGrid, share: np.ndarray, state_mask: np.ndarray | None = None
) -> tuple[StateCurves, int]:
    """Curves of ``share`` x sales on ``grid`` (a stretch of the sales grid's months)."""
    offset = int(sales.grid.position(np.array([grid.first_month]))[0])
    stop = offset + len(grid)
    base = sales.intensity[:, offset:stop] / np.maximum(sales.grid.fraction[offset:stop], 1e-12)
    intensity = base * grid.fraction[None, :] * share[:, offset:stop]
    if state_mask is not None:
        intensity = intensity * state_mask[:, None]
    return StateCurves(intensity), offset


def _draw_reports(
    rng: np.random.Generator,
    licensees: Licensees,
    curves: StateCurves,
    grid: MonthGrid,
    offset: int,
    rate: np.ndarray,
    first_sales_position: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Licensee, day and expected count of reports at ``rate`` per firearm of the curve."""
    first = np.clip(first_sales_position - offset, 0, len(grid))
    stop = np.full(len(licensees), len(grid))
    expected = rate * licensees.sales_weight * curves.total(licensees.state, first, stop)
    counts = rng.poisson(expected)
    owner = repeat_index(counts)
    month = curves.sample(rng, licensees.state[owner], first[owner], stop[owner])
    low, high = grid.lo[month], grid.hi[month]
    day = low + (rng.random(len(owner)) * (high - low)).astype(np.int64)
    return owner, day, expected


def generate_multiple_sales(
    rng: np.random.Generator,
    seed: int,
    licensees: Licensees,
    sales: SalesModel,
    start: int,
    end: int,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> MultipleSales:
    """3310.4 reports everywhere and 3310.12 in the border states once the rule applies."""
    cfg = config.multiple_sales
    n = len(licensees)
    grid = MonthGrid(start, end)
    handgun_curves, offset = _window_curves(sales, grid, sales.handgun_share)
    diversion_month = np.clip(
        sales.grid.position(month_of_days(np.minimum(licensees.diversion_start_day, end))),
        0,
        len(sales.grid),
    )
    diversion_first = np.where(
        licensees.diverter, np.maximum(diversion_month, sales.first_sale), len(sales.grid)
    )
    straw_rate = (
        cfg.straw_share_of_diverted * sales.diverted_share / cfg.straw_firearms_per_report_mean
    )

    parts: list[tuple[np.ndarray, np.ndarray, int, bool, np.ndarray]] = []
    owner, day, expected = _draw_reports(
        rng,
        licensees,
        handgun_curves,
        grid,
        offset,
        np.full(n, cfg.handgun_report_rate),
        sales.first_sale,
    )
    parts.append((owner, day, 0, False, expected))
    owner, day, _ = _draw_reports(
        rng, licensees, handgun_curves, grid, offset, straw_rate, diversion_first
    )
    keep = day >= licensees.diversion_start_day[owner]
    parts.append((owner[keep], day[keep], 0, True, np.zeros(n)))

    effective = max(day_number(cfg.rifle_form_effective), start)
    if effective <= end:
        rifle_grid = MonthGrid(effective, end)
        rifle_states = np.array(
            [code in set(cfg.rifle_form_states) for code in reference.state_codes]
        )
        rifle_curves, rifle_offset = _window_curves(
            sales, rifle_grid, sales.long_gun_share, rifle_states.astype(float)
        )
        owner, day, expected = _draw_reports(
            rng,
            licensees,
            rifle_curves,
            rifle_grid,
            rifle_offset,
            np.full(n, cfg.rifle_report_rate),
            sales.first_sale,
        )
        parts.append((owner, day, 1, False, expected))
        owner, day, _ = _draw_reports(
            rng, licensees, rifle_curves, rifle_grid, rifle_offset, straw_rate, diversion_first
        )
        keep = day >= licensees.diversion_start_day[owner]
        parts.append((owner[keep], day[keep], 1, True, np.zeros(n)))

    # Ordinary buyers come from a pool of customers sized to the licensee's volume, so an
    # ordinary buyer occasionally reappears; a diverter's straw buyers are a handful of
    # people who come back again and again.
    expected_ordinary = sum((part[4] for part in parts if not part[3]), np.zeros(n))
    pool = np.maximum(3, np.ceil(cfg.customer_pool_per_report * expected_ordinary)).astype(np.int64)
    owners, days, forms, counts, customers, straws = [], [], [], [], [], []
    for owner, day, form, straw, _ in parts:
        size = len(owner)
        if straw:
            customer = 1_000_000_000 + (
                rng.random(size) * licensees.straw_purchasers[owner]
            ).astype(np.int64)
            count = 2 + geometric_extra(rng, cfg.straw_firearms_per_report_mean - 2.0, size)
        else:
            customer = (rng.random(size) * pool[owner]).astype(np.int64)
            count = 2 + geometric_extra(rng, cfg.extra_firearms_mean, size)
        owners.append(owner)
        days.append(day)
        forms.append(np.full(size, form, dtype=np.int8))
        counts.append(count)
        customers.append(customer)
        straws.append(np.full(size, straw))
    owner = np.concatenate(owners)
    return MultipleSales(
        licensee=owner,
        report_day=np.concatenate(days),
        form=np.concatenate(forms),
        firearm_count=np.concatenate(counts),
        purchaser=purchaser_numbers(seed, owner, np.concatenate(customers)),
        straw=np.concatenate(straws),
    )


def generate_theft_loss(
    rng: np.random.Generator,
    licensees: Licensees,
    start: int,
    end: int,
    config: GeneratorConfig,
) -> TheftLoss:
    """Theft and loss reports: more, and more losses, at careless licensees and diverters."""
    cfg = config.theft_loss
    first = np.maximum(licensees.issue_day + 1, start)
    divert_from = np.clip(licensees.diversion_start_day, first, end + 1)
    base = (
        cfg.reports_per_licensee_year
        * np.power(licensees.sales_weight, cfg.size_elasticity)
        * np.where(licensees.careless, cfg.careless_rate_ratio, 1.0)
    )
    theft_share = np.where(licensees.careless, cfg.theft_share_careless, cfg.theft_share_compliant)
    segments = (
        (first, divert_from, base, theft_share),
        (
            divert_from,
            np.full(len(licensees), end + 1),
            base * cfg.diverter_rate_ratio,
            np.full(len(licensees), cfg.theft_share_diverter),
        ),
    )
    owners, days, thefts = [], [], []
    for low, high, rate, share in segments:
        years = np.maximum(high - low, 0) / DAYS_PER_YEAR
        owner = repeat_index(rng.poisson(rate * years))
        span = high[owner] - low[owner]
        days.append(low[owner] + (rng.random(len(owner)) * span).astype(np.int64))
        thefts.append(rng.random(len(owner)) < share[owner])
        owners.append(owner)
    owner = np.concatenate(owners)
    theft = np.concatenate(thefts)
    size = len(owner)
    count = 1 + np.where(
        theft,
        geometric_extra(rng, cfg.theft_firearms_mean - 1.0, size),
        geometric_extra(rng, cfg.loss_firearms_mean - 1.0, size),
    )
    return TheftLoss(
        licensee=owner, report_day=np.concatenate(days), theft=theft, firearm_count=count
    )
