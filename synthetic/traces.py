"""Crime-gun traces: which sales are recovered by police, when, where and what they are.

Every licensee's ordinary sales become crime guns at its own rate per sale; a diverter's
diverted guns become crime guns far more often and far sooner, and for border-state
diverters often in Mexico. A trace exists when the recovery's trace result becomes known
inside the window, so guns sold years before it are traced in it, as in reality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.columns import EventColumns
from synthetic.config import GeneratorConfig
from synthetic.population import Licensees
from synthetic.reference import ReferenceData
from synthetic.sales import SalesModel
from synthetic.sampling import categorical, repeat_index
from synthetic.timeline import DAYS_PER_YEAR, month_of_days

FIREARM_TYPES = ("pistol", "revolver", "rifle", "shotgun", "derringer", "other")
_PISTOL, _REVOLVER, _RIFLE, _SHOTGUN, _DERRINGER, _OTHER = range(6)
#: Handguns split into pistols, revolvers and derringers; long guns into rifles, shotguns
#: and other long guns (approximate shares of traced crime guns).
_HANDGUN_SPLIT = np.array([0.82, 0.16, 0.02])
_LONG_GUN_SPLIT = np.array([0.55, 0.40, 0.05])
CALIBERS: dict[int, tuple[tuple[str, ...], tuple[float, ...]]] = {
    _PISTOL: (("9mm", ".40 S&W", ".45 ACP", ".380 ACP", ".22 LR", ".25 ACP", "10mm"),
              (0.45, 0.14, 0.12, 0.16, 0.08, 0.03, 0.02)),
    _REVOLVER: ((".38 SPL", ".357 MAG", ".22 LR", ".44 MAG"), (0.45, 0.30, 0.15, 0.10)),
    _RIFLE: ((".223/5.56", "7.62x39", ".22 LR", ".308", "30-06", "6.5 Creedmoor", ".50 BMG"),
             (0.34, 0.20, 0.22, 0.10, 0.07, 0.06, 0.01)),
    _SHOTGUN: (("12GA", "20GA", ".410"), (0.70, 0.20, 0.10)),
    _DERRINGER: ((".22 LR", ".38 SPL", ".45 COLT"), (0.3, 0.4, 0.3)),
    _OTHER: (("",), (1.0,)),
}  # fmt: skip
#: Rifles recovered in Mexico are mostly AK and AR pattern, some .50 calibre.
_MEXICO_RIFLE_CALIBERS = (
    (".223/5.56", "7.62x39", ".308", ".50 BMG", ".22 LR"),
    (0.40, 0.42, 0.08, 0.04, 0.06),
)
MEXICAN_STATES = (
    ("Tamaulipas", 0.18),
    ("Baja California", 0.15),
    ("Sonora", 0.14),
    ("Chihuahua", 0.14),
    ("Jalisco", 0.08),
    ("Sinaloa", 0.08),
    ("Michoacan", 0.07),
    ("Guerrero", 0.06),
    ("Nuevo Leon", 0.06),
    ("Ciudad de Mexico", 0.04),
)
#: Destination weights for guns recovered out of state: states with strict laws draw
#: guns along the "iron pipeline".
_PIPELINE_BOOST = {
    "NY": 4.0,
    "NJ": 4.0,
    "IL": 3.0,
    "MD": 3.0,
    "MA": 3.0,
    "CA": 2.0,
    "CT": 2.0,
    "PA": 1.5,
}


@dataclass
class Traces(EventColumns):
    """Traces whose result became known inside the window, one entry per trace."""

    licensee: np.ndarray
    diverted: np.ndarray
    purchase_day: np.ndarray
    recovery_day: np.ndarray
    trace_day: np.ndarray
    mexico: np.ndarray
    firearm_type: np.ndarray
    caliber: np.ndarray
    recovery_state: np.ndarray
    purchaser_is_possessor: np.ndarray
    serial_obliterated: np.ndarray


def _draw_crime_guns(
    rng: np.random.Generator,
    licensees: Licensees,
    sales: SalesModel,
    expected_per_sale: np.ndarray,
    first: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Licensee and sale day of each crime gun from sales at ``expected_per_sale``."""
    n_months = len(sales.grid)
    stop = np.full(len(licensees), n_months)
    expected = expected_per_sale * sales.licensee_sales(licensees, first, stop)
    counts = rng.poisson(expected)
    owner = repeat_index(counts)
    month = sales.curves.sample(rng, licensees.state[owner], first[owner], stop[owner])
    low, high = sales.grid.lo[month], sales.grid.hi[month]
    sale_day = low + (rng.random(len(owner)) * (high - low)).astype(np.int64)
    return owner, sale_day


def _ordinary_ttc_days(rng: np.random.Generator, size: int, config: GeneratorConfig) -> np.ndarray:
    traces = config.traces
    fast = rng.random(size) < traces.ttc_fast_share
    years = np.where(
        fast,
        rng.exponential(traces.ttc_fast_mean_years, size),
        traces.ttc_slow_median_years * np.exp(rng.normal(0.0, traces.ttc_slow_sigma, size)),
    )
    return (years * DAYS_PER_YEAR).astype(np.int64)


def generate_traces(
    rng: np.random.Generator,
    licensees: Licensees,
    sales: SalesModel,
    start: int,
    end: int,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> Traces:
    """Traces known in ``[start, end]`` from every licensee's sales, before revocations."""
    cfg = config.traces
    border_codes = set(cfg.border_states)
    state_codes = reference.state_codes
    border_state = np.array([code in border_codes for code in state_codes])

    # Ordinary crime guns, from every sale since the license (or the history) began.
    owner_o, sale_o = _draw_crime_guns(
        rng, licensees, sales, licensees.crime_gun_rate, sales.first_sale
    )
    # Diverted crime guns, from sales since the diversion began.
    diversion_month = sales.grid.position(
        month_of_days(np.minimum(licensees.diversion_start_day, end))
    )
    diversion_first = np.where(
        licensees.diverter, np.maximum(diversion_month, sales.first_sale), len(sales.grid)
    )
    owner_d, sale_d = _draw_crime_guns(
        rng,
        licensees,
        sales,
        sales.diverted_share * cfg.diverted_crime_probability,
        diversion_first,
    )
    # Guns sold before the diversion began (same month) are ordinary, not diverted.
    keep_d = sale_d >= licensees.diversion_start_day[owner_d]
    owner_d, sale_d = owner_d[keep_d], sale_d[keep_d]

    owner = np.concatenate([owner_o, owner_d])
    sale_day = np.concatenate([sale_o, sale_d])
    diverted = np.concatenate([np.zeros(len(owner_o), bool), np.ones(len(owner_d), bool)])
    size = len(owner)

    in_border = border_state[licensees.state[owner]]
    mexico_share = np.where(
        diverted,
        np.where(in_border, cfg.mexico_share_diverted_border, cfg.mexico_share_diverted_other),
        np.where(in_border, cfg.mexico_share_ordinary_border, cfg.mexico_share_ordinary_other),
    )
    mexico = rng.random(size) < mexico_share

    ttc = np.where(
        mexico,
        (rng.exponential(cfg.mexico_ttc_mean_years, size) * DAYS_PER_YEAR).astype(np.int64),
        np.where(
            diverted,
            (rng.exponential(cfg.diverted_ttc_mean_years, size) * DAYS_PER_YEAR).astype(np.int64),
            _ordinary_ttc_days(rng, size, config),
        ),
    )
    recovery_day = sale_day + ttc
    delay = np.where(
        mexico,
        cfg.mexico_trace_delay_median_days * np.exp(rng.normal(0.0, 0.8, size)),
        cfg.trace_delay_median_days * np.exp(rng.normal(0.0, cfg.trace_delay_sigma, size)),
    )
    trace_day = recovery_day + np.minimum(delay, 730).astype(np.int64)
    known = (trace_day >= start) & (trace_day <= end)

    owner, sale_day, diverted, mexico = (
        owner[known],
        sale_day[known],
        diverted[known],
        mexico[known],
    )
    recovery_day, trace_day, ttc = recovery_day[known], trace_day[known], ttc[known]
    size = len(owner)
    state = licensees.state[owner]

    firearm_type, caliber = _firearm_types(rng, state, diverted, mexico, sales, config)
    recovery_state = _recovery_states(rng, state, diverted, mexico, reference, config)

    ttc_years = ttc / DAYS_PER_YEAR
    possessor_chance = np.where(
        diverted | mexico,
        cfg.possessor_is_purchaser_diverted * np.where(mexico, 0.4, 1.0),
        cfg.possessor_is_purchaser_ordinary
        + cfg.possessor_is_purchaser_fresh * np.exp(-ttc_years / 2.0),
    )
    possessor = (rng.random(size) < possessor_chance).astype(np.int8)
    possessor[rng.random(size) < cfg.unknown_field_share] = -1
    obliterated_chance = np.where(
        mexico,
        cfg.serial_obliterated_mexico,
        np.where(diverted, cfg.serial_obliterated_diverted, cfg.serial_obliterated_ordinary),
    )
    obliterated = (rng.random(size) < obliterated_chance).astype(np.int8)
    obliterated[rng.random(size) < cfg.unknown_field_share] = -1

    return Traces(
        licensee=owner,
        diverted=diverted,
        purchase_day=sale_day,
        recovery_day=recovery_day,
        trace_day=trace_day,
        mexico=mexico,
        firearm_type=firearm_type,
        caliber=caliber,
        recovery_state=recovery_state,
        purchaser_is_possessor=possessor,
        serial_obliterated=obliterated,
    )


def _firearm_types(
    rng: np.random.Generator,
    state: np.ndarray,
    diverted: np.ndarray,
    mexico: np.ndarray,
    sales: SalesModel,
    config: GeneratorConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Firearm type (index into FIREARM_TYPES) and caliber of each crime gun."""
    cfg = config.traces
    size = len(state)
    # A state's handgun:long-gun sales ratio over the window sets the odds of a handgun.
    window = slice(sales.window_first, None)
    handguns = (sales.intensity[:, window] * sales.handgun_share[:, window]).sum(axis=1)
    long_guns = (sales.intensity[:, window] * sales.long_gun_share[:, window]).sum(axis=1)
    odds = cfg.crime_handgun_odds_ratio * handguns[state] / np.maximum(long_guns[state], 1e-9)
    odds = odds * np.where(diverted, cfg.diverted_handgun_odds_ratio, 1.0)
    handgun = rng.random(size) < odds / (1.0 + odds)
    handgun_kind = categorical(rng, _HANDGUN_SPLIT, size)
    long_kind = categorical(rng, _LONG_GUN_SPLIT, size)
    firearm_type = np.where(
        handgun,
        np.array([_PISTOL, _REVOLVER, _DERRINGER])[handgun_kind],
        np.array([_RIFLE, _SHOTGUN, _OTHER])[long_kind],
    )
    mix = cfg.mexico_firearm_mix
    mexico_probabilities = np.array([mix.get(name, 0.0) for name in FIREARM_TYPES])
    n_mexico = int(mexico.sum())
    firearm_type[mexico] = categorical(rng, mexico_probabilities, n_mexico)

    caliber = np.empty(size, dtype=object)
    for kind, (names, weights) in CALIBERS.items():
        rows = np.flatnonzero(firearm_type == kind)
        if kind == _RIFLE:
            rows_mexico = rows[mexico[rows]]
            rows = rows[~mexico[rows]]
            mexico_names, mexico_weights = _MEXICO_RIFLE_CALIBERS
            picks = categorical(rng, np.array(mexico_weights), len(rows_mexico))
            caliber[rows_mexico] = np.array(mexico_names, dtype=object)[picks]
        picks = categorical(rng, np.array(weights), len(rows))
        caliber[rows] = np.array(names, dtype=object)[picks]
    caliber[caliber == ""] = None
    return firearm_type.astype(np.int8), caliber


def _recovery_states(
    rng: np.random.Generator,
    state: np.ndarray,
    diverted: np.ndarray,
    mexico: np.ndarray,
    reference: ReferenceData,
    config: GeneratorConfig,
) -> np.ndarray:
    """Where each crime gun was recovered: a U.S. state code or a Mexican state name."""
    cfg = config.traces
    size = len(state)
    codes = reference.state_codes
    weights = reference.states["ffl_count_2023"].to_numpy(dtype=float) * np.array(
        [_PIPELINE_BOOST.get(code, 1.0) for code in codes]
    )
    in_state_share = np.where(
        diverted, cfg.diverted_in_state_recovery_share, cfg.in_state_recovery_share
    )
    in_state = rng.random(size) < in_state_share
    elsewhere = categorical(rng, weights, size)
    recovered = np.where(in_state, state, elsewhere)
    out = codes[recovered].astype(object)
    mexican_names = np.array([name for name, _ in MEXICAN_STATES], dtype=object)
    mexican_weights = np.array([weight for _, weight in MEXICAN_STATES])
    rows = np.flatnonzero(mexico)
    out[rows] = mexican_names[categorical(rng, mexican_weights, len(rows))]
    return out


def short_ttc_counts(
    traces: Traces, n_licensees: int, first_month: int, n_months: int, max_ttc_days: float
) -> np.ndarray:
    """Traces with time-to-crime up to ``max_ttc_days`` per licensee and known-month.

    Shape (licensees, months); month 0 is ``first_month`` (a month index).
    """
    short = (traces.recovery_day - traces.purchase_day) <= max_ttc_days
    month = month_of_days(traces.trace_day[short]) - first_month
    flat = traces.licensee[short] * n_months + month
    return np.bincount(flat, minlength=n_licensees * n_months).reshape(n_licensees, n_months)
