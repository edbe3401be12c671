"""The licensees: type, place, size, hidden behaviour, names and license numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.contract import SYNTHETIC_EXPIRATION_CODE
from synthetic.config import GeneratorConfig
from synthetic.reference import ReferenceData
from synthetic.sampling import categorical, lognormal_mean_one
from synthetic.timeline import DAYS_PER_YEAR, day_number

URBANICITY_LEVELS = ("urban", "suburban", "rural")
NO_DAY = np.iinfo(np.int64).max // 4  # "never": later than any simulated day

_FIRST_WORDS = (
    "Eagle Ridge", "Liberty", "Frontier", "Pinecrest", "Timberline", "Summit", "Prairie",
    "Riverbend", "Canyon", "Granite", "Cedar Creek", "Red Hawk", "Ironwood", "Lakeside",
    "Oak Hollow", "Maple Grove", "Blue Bluff", "Heritage", "Patriot", "Valley", "Mesa",
    "Harbor", "Northstar", "Trailhead", "Redwood", "Stonegate", "Silver Creek", "Badger",
    "Bison", "Copperhead", "Driftwood", "Elk Run", "Foxfire", "Grizzly", "Hickory",
    "Juniper", "Kestrel", "Longhorn", "Magnolia", "Osprey", "Pheasant Hill", "Quail Run",
    "Sagebrush", "Tamarack", "Whitetail", "Wildcat", "Yellowstone", "Bear Creek",
    "Cottonwood", "Falcon",
)  # fmt: skip
_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "01": ("Outfitters", "Sporting Goods", "Firearms", "Gun Shop", "Trading Post",
           "Shooting Supply", "Hunting & Fishing", "General Store", "Hardware", "Armory",
           "Tactical Supply", "Guns & Ammo"),
    "02": ("Pawn", "Pawn & Loan", "Pawn & Jewelry", "Loan & Pawn", "Pawn Shop"),
    "06": ("Ammunition Works", "Reloading Supply", "Cartridge Company"),
    "07": ("Arms Manufacturing", "Precision Rifles", "Custom Gunworks", "Machine Works",
           "Firearms Manufacturing"),
    "08": ("Imports", "International Trading", "Arms Import Company"),
    "09": ("Ordnance",), "10": ("Ordnance Works",), "11": ("Destructive Devices Import",),
}  # fmt: skip
_LEGAL_SUFFIXES = ("", "", "", " LLC", " Inc", " Co")


@dataclass
class Licensees:
    """One entry per licensee; arrays are aligned by licensee index.

    Days are days since 1970-01-01. ``sales_weight`` is the licensee's expected sales
    relative to an average licensee of its state (type and place included);
    ``crime_gun_rate`` the chance one of its ordinary sales is traced some day.
    """

    license_type: np.ndarray
    state: np.ndarray
    county_fips: np.ndarray
    county_name: np.ndarray
    field_division: np.ndarray
    division: np.ndarray
    urbanicity: np.ndarray
    issue_day: np.ndarray
    size: np.ndarray
    sales_weight: np.ndarray
    careless: np.ndarray
    diverter: np.ndarray
    diversion_start_day: np.ndarray
    diverted_per_year: np.ndarray
    trace_factor: np.ndarray
    severity_offset: np.ndarray
    crime_gun_rate: np.ndarray
    straw_purchasers: np.ndarray
    cycle_months: np.ndarray
    last_inspection_day: np.ndarray
    license_number: np.ndarray
    business_name: np.ndarray
    premise_city: np.ndarray
    premise_zip: np.ndarray

    def __len__(self) -> int:
        return len(self.license_type)


def _type_shares(config: GeneratorConfig, reference: ReferenceData) -> dict[str, float]:
    counts = reference.license_types.set_index("license_type")["count_2023"].astype(float)
    other = config.population.other_type_shares
    main_share = 1.0 - sum(other.values())
    shares = {str(code): main_share * count / counts.sum() for code, count in counts.items()}
    shares.update(other)
    return dict(sorted(shares.items()))


def _urbanicity(ffl_density: np.ndarray, config: GeneratorConfig) -> np.ndarray:
    level = np.full(len(ffl_density), 1, dtype=np.int64)
    level[ffl_density >= config.population.urban_min_ffl_per_100_sq_mi] = 0
    level[ffl_density < config.population.rural_max_ffl_per_100_sq_mi] = 2
    return level


def expected_type_factor(config: GeneratorConfig, reference: ReferenceData) -> float:
    """Average retail-sales factor over the type mix (sales weights are relative to it)."""
    shares = _type_shares(config, reference)
    factors = config.sales.type_sales_factor
    return sum(share * factors.get(code, 0.0) for code, share in shares.items())


def _places(
    reference: ReferenceData, county_fips: np.ndarray, state: np.ndarray, pick: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A real town of each licensee's county and one of that town's ZIP codes.

    ``pick`` (uniform in [0, 1)) chooses among the county's ZIP codes, so towns with more
    ZIP codes get more licensees. A county the ZIP table has no town for (a few Alaskan
    boroughs and Virginian independent cities) draws from its state's towns.
    """
    places = reference.places
    place_fips = places["fips"].to_numpy(dtype=object)
    place_state = np.array([fips[:2] for fips in place_fips], dtype=object)
    statefp = reference.states["statefp"].to_numpy(dtype=object)[state]
    by_county = pd.Series(np.arange(len(places))).groupby(place_fips).agg(list).to_dict()
    by_state = pd.Series(np.arange(len(places))).groupby(place_state).agg(list).to_dict()
    chosen = np.empty(len(county_fips), dtype=np.int64)
    for i, (fips, prefix, p) in enumerate(zip(county_fips, statefp, pick, strict=True)):
        rows = by_county.get(fips) or by_state[prefix]
        chosen[i] = rows[int(p * len(rows))]
    cities = places["city"].to_numpy(dtype=object)[chosen]
    zips = places["zip"].to_numpy(dtype=object)[chosen]
    return cities, zips


def _license_numbers(
    rng: np.random.Generator,
    reference: ReferenceData,
    state: np.ndarray,
    county_fips: np.ndarray,
    license_type: np.ndarray,
) -> np.ndarray:
    """``R-DD-CCC-TT-ZZ-SSSSS`` numbers, unique, with the synthetic expiration code."""
    states = reference.states
    region = states["atf_region"].to_numpy()[state]
    districts = [str(d).split(";") for d in states["atf_districts"]]
    pick = rng.random(len(state))
    district = np.array(
        [districts[s][int(p * len(districts[s]))] for s, p in zip(state, pick, strict=True)],
        dtype=object,
    )
    county_code = np.array([fips[2:] for fips in county_fips], dtype=object)
    prefix = np.array(
        [
            f"{r}-{d}-{c}-{t}-{SYNTHETIC_EXPIRATION_CODE}"
            for r, d, c, t in zip(region, district, county_code, license_type, strict=True)
        ],
        dtype=object,
    )
    # Sequence numbers are unique within a prefix: a random start, then evenly spaced.
    order = np.argsort(prefix, kind="stable")
    sorted_prefix = prefix[order]
    starts = np.r_[True, sorted_prefix[1:] != sorted_prefix[:-1]]
    group = np.cumsum(starts) - 1
    first_of_group = np.flatnonzero(starts)
    rank = np.arange(len(order)) - first_of_group[group]
    size = np.diff(np.r_[first_of_group, len(order)])
    if size.max(initial=0) > 99_998:
        raise ValueError("more than 99,998 licensees share one region, district, county and type")
    step = np.clip(99_998 // np.maximum(size, 1), 1, 37)
    base = 1 + (rng.random(len(size)) * np.maximum(99_999 - size * step, 1)).astype(np.int64)
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = base[group] + rank * step[group]
    return np.array([f"{p}-{s:05d}" for p, s in zip(prefix, sequence, strict=True)], dtype=object)


def _business_names(
    rng: np.random.Generator, license_type: np.ndarray, city: np.ndarray
) -> np.ndarray:
    """Invented names, each ending in "(synthetic)" so no one mistakes one for a real shop."""
    n = len(license_type)
    first = rng.integers(0, len(_FIRST_WORDS), n)
    use_city = rng.random(n) < 0.3
    kind_pick = rng.random(n)
    suffix = rng.integers(0, len(_LEGAL_SUFFIXES), n)
    names = []
    for i in range(n):
        kinds = _KIND_WORDS.get(str(license_type[i]), _KIND_WORDS["01"])
        head = city[i] if use_city[i] else _FIRST_WORDS[first[i]]
        kind = kinds[int(kind_pick[i] * len(kinds))]
        names.append(f"{head} {kind}{_LEGAL_SUFFIXES[suffix[i]]} (synthetic)")
    return np.array(names, dtype=object)


def generate_licensees(
    rng: np.random.Generator,
    n: int,
    start: int,
    end: int,
    config: GeneratorConfig,
    reference: ReferenceData,
) -> Licensees:
    """Draw ``n`` licensees active at some point in the window ``[start, end]`` (days)."""
    population = config.population
    behaviour = config.behaviour

    shares = _type_shares(config, reference)
    type_codes = np.array(list(shares), dtype=object)
    license_type = type_codes[categorical(rng, np.array(list(shares.values())), n)]

    counties = reference.counties
    county = categorical(rng, counties["ffl_count_2023"].to_numpy(dtype=float), n)
    state = reference.state_index(counties["state"].to_numpy()[county])
    county_fips = counties["fips"].to_numpy(dtype=object)[county]
    county_name = counties["county_name"].to_numpy(dtype=object)[county]
    field_division = counties["field_division"].to_numpy(dtype=object)[county]
    division_names = np.array(sorted(set(counties["field_division"])), dtype=object)
    division = np.searchsorted(division_names, field_division)
    county_level = _urbanicity(counties["ffl_per_100_sq_mi"].to_numpy(dtype=float), config)
    urbanicity = county_level[county]
    county_weights = counties["ffl_count_2023"].to_numpy(dtype=float)

    def place_factor(factors: dict[str, float]) -> np.ndarray:
        # Normalised to mean 1 over the real licensee distribution, so place factors
        # move activity between places without changing national totals.
        levels = np.array([factors[name] for name in URBANICITY_LEVELS])
        mean = float(np.average(levels[county_level], weights=county_weights))
        factor: np.ndarray = levels[urbanicity] / mean
        return factor

    entrant = rng.random(n) < population.entrant_share
    entrant_day = start + 1 + (rng.random(n) * max(end - start, 1)).astype(np.int64)
    age_days = rng.exponential(population.incumbent_age_mean_years * DAYS_PER_YEAR, n)
    age_days = np.minimum(age_days, population.incumbent_age_max_years * DAYS_PER_YEAR)
    incumbent_day = start - 1 - age_days.astype(np.int64)
    issue_day = np.where(entrant, entrant_day, incumbent_day)

    size = lognormal_mean_one(rng, config.sales.size_sigma, n) * place_factor(
        config.sales.urbanicity_size_factor
    )
    size = np.minimum(size, config.sales.size_cap)
    type_factor = np.array([config.sales.type_sales_factor.get(t, 0.0) for t in license_type])
    raw_weight = size * type_factor
    # A state's demand (its NICS checks) is shared among its licensees by size: weights
    # average 1 within each state, so state sales follow the checks and one giant shop
    # takes market share from its neighbours instead of adding sales the state never had.
    state_total = np.bincount(state, weights=raw_weight, minlength=len(reference.states))
    state_count = np.bincount(state, minlength=len(reference.states))
    state_mean = state_total / np.maximum(state_count, 1)
    fallback = expected_type_factor(config, reference)
    sales_weight = raw_weight / np.where(state_mean[state] > 0, state_mean[state], fallback)

    careless = rng.random(n) < behaviour.careless_share
    diverter_share = np.array(
        [behaviour.diverter_share_by_type.get(t, 0.0) for t in license_type]
    ) * place_factor(behaviour.diverter_urbanicity_factor)
    diverter = (rng.random(n) < diverter_share) & (sales_weight > 0)
    earliest = np.maximum(issue_day + 1, day_number(behaviour.diversion_start_earliest))
    start_draw = earliest + (rng.random(n) * np.maximum(end - earliest, 1)).astype(np.int64)
    diverter &= earliest < end
    diversion_start_day = np.where(diverter, start_draw, NO_DAY)
    diverted_per_year = np.where(
        diverter,
        behaviour.diverted_guns_per_year_median
        * np.exp(rng.normal(0.0, behaviour.diverted_guns_per_year_sigma, n)),
        0.0,
    )
    straw_purchasers = rng.integers(
        config.multiple_sales.straw_purchasers_min,
        config.multiple_sales.straw_purchasers_max + 1,
        n,
    )

    # Two correlated unobserved factors: one on crime guns per sale, one on how
    # inspections go. Neither appears in any table.
    z_trace = rng.normal(size=n)
    z_other = rng.normal(size=n)
    rho = behaviour.unobserved_correlation
    sigma_t = behaviour.unobserved_trace_sigma
    trace_factor = np.minimum(
        np.exp(sigma_t * z_trace - 0.5 * sigma_t * sigma_t), behaviour.unobserved_trace_cap
    )
    severity_offset = behaviour.unobserved_severity_sigma * (
        rho * z_trace + np.sqrt(1.0 - rho * rho) * z_other
    )

    traces = config.traces
    crime_gun_rate = (
        traces.crime_gun_probability_per_sale
        * trace_factor
        * np.where(license_type == "02", traces.pawnbroker_rate_ratio, 1.0)
        * np.where(careless, traces.careless_rate_ratio, 1.0)
        * place_factor(traces.urbanicity_rate_factor)
    )

    inspections = config.inspections
    cycle_months = rng.integers(inspections.cycle_months_min, inspections.cycle_months_max + 1, n)
    # Incumbents were last inspected some time before the window, so the cycle starts in
    # a steady state; entrants' clock starts at issue, due sooner for a first visit.
    since = (rng.random(n) * 1.3 * cycle_months * 30.44).astype(np.int64)
    last_inspection_day = np.where(entrant, issue_day, np.maximum(start - since, issue_day))
    cycle_months = np.where(entrant, inspections.new_licensee_first_months, cycle_months)

    city, premise_zip = _places(reference, county_fips, state, rng.random(n))
    rng.integers(0, 100, n)  # was the ZIP code's tail: kept so later draws stay the same
    license_number = _license_numbers(rng, reference, state, county_fips, license_type)
    business_name = _business_names(rng, license_type, city)

    return Licensees(
        license_type=license_type,
        state=state,
        county_fips=county_fips,
        county_name=county_name,
        field_division=field_division,
        division=division,
        urbanicity=urbanicity,
        issue_day=issue_day,
        size=size,
        sales_weight=sales_weight,
        careless=careless,
        diverter=diverter,
        diversion_start_day=diversion_start_day,
        diverted_per_year=diverted_per_year,
        trace_factor=trace_factor,
        severity_offset=severity_offset,
        crime_gun_rate=crime_gun_rate,
        straw_purchasers=straw_purchasers,
        cycle_months=cycle_months,
        last_inspection_day=last_inspection_day,
        license_number=license_number,
        business_name=business_name,
        premise_city=city,
        premise_zip=premise_zip,
    )
