"""The real public figures the generator is calibrated on, read from package data.

The CSV files under ``synthetic/data`` are small derivatives of the public files
in ``shared/data/real`` made by :mod:`synthetic.build_reference_data` (see
``data/README.md`` for provenance and licences). Nothing here reads ``../shared``.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from synthetic.timeline import month_index

NICS_COLUMNS = ("handgun", "long_gun", "other", "multiple")


def _read(name: str, **kwargs: object) -> pd.DataFrame:
    text = resources.files("synthetic").joinpath("data", name).read_text()
    return pd.read_csv(io.StringIO(text), **kwargs)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class ReferenceData:
    """The calibration tables: states, counties, places, license types, NICS, violation codes.

    ``states`` is sorted by USPS code; a state's position in it is the state index the
    generator uses everywhere.
    """

    states: pd.DataFrame
    counties: pd.DataFrame
    places: pd.DataFrame
    license_types: pd.DataFrame
    nics_monthly: pd.DataFrame
    nics_annual: pd.DataFrame
    violation_codes: pd.DataFrame

    @property
    def state_codes(self) -> np.ndarray:
        """USPS codes in state-index order."""
        return self.states["state"].to_numpy(dtype=object)

    def state_index(self, codes: pd.Series | np.ndarray | list[str]) -> np.ndarray:
        """State indices of USPS codes (-1 when unknown)."""
        lookup = {code: index for index, code in enumerate(self.state_codes)}
        return np.array([lookup.get(code, -1) for code in codes], dtype=np.int64)

    def monthly_checks(self, first_month: int, last_month: int) -> np.ndarray:
        """NICS checks per state and month, shape (states, months, 4).

        Months are :func:`month_index` values, inclusive; the last axis is handgun,
        long gun, other, multiple. 2014-2023 are the monthly counts; 1999-2013 spread
        each year's count over its months with the 2014-2019 seasonal profile; months
        before 1999 repeat 1999, months after 2023 repeat the same month of 2023.
        """
        n_states = len(self.states)
        months = np.arange(first_month, last_month + 1)
        out = np.zeros((n_states, len(months), len(NICS_COLUMNS)))
        state_pos = {code: i for i, code in enumerate(self.state_codes)}

        monthly = self.nics_monthly
        m_index = np.array(
            [month_index(int(m[:4]), int(m[5:7])) for m in monthly["month"]], dtype=np.int64
        )
        m_state = np.array([state_pos[s] for s in monthly["state"]])
        values = monthly[list(NICS_COLUMNS)].to_numpy(dtype=float)
        first_monthly, last_monthly = int(m_index.min()), int(m_index.max())
        grid = np.zeros((n_states, last_monthly - first_monthly + 1, len(NICS_COLUMNS)))
        grid[m_state, m_index - first_monthly] = values

        # Seasonal profile: each calendar month's share of its year, 2014-2019 (before
        # the 2020 surge distorted the shape), by state.
        span = 12 * 6
        block = grid[:, :span].reshape(n_states, 6, 12, len(NICS_COLUMNS)).sum(axis=1)
        profile = block / np.maximum(block.sum(axis=1, keepdims=True), 1.0)

        annual = self.nics_annual
        a_year = annual["year"].to_numpy(dtype=np.int64)
        a_state = np.array([state_pos[s] for s in annual["state"]])
        a_values = annual[list(NICS_COLUMNS)].to_numpy(dtype=float)
        first_year, last_year = int(a_year.min()), int(a_year.max())
        yearly = np.zeros((n_states, last_year - first_year + 1, len(NICS_COLUMNS)))
        yearly[a_state, a_year - first_year] = a_values

        for position, month in enumerate(months):
            if month > last_monthly:
                # After the data: the same calendar month of the last year.
                source = last_monthly - 11 + (month - (last_monthly - 11)) % 12
                out[:, position] = grid[:, source - first_monthly]
            elif month >= first_monthly:
                out[:, position] = grid[:, month - first_monthly]
            else:
                year = 1970 + int(month) // 12
                calendar_month = int(month) % 12
                year = min(max(year, first_year), last_year)
                out[:, position] = yearly[:, year - first_year] * profile[:, calendar_month]
        return out


@functools.cache
def load_reference() -> ReferenceData:
    """The package's reference tables (read once per process)."""
    states = _read("states.csv", dtype={"statefp": str, "atf_districts": str})
    states = states.sort_values("state").reset_index(drop=True)
    counties = _read("counties.csv", dtype={"fips": str})
    places = _read("places.csv", dtype={"fips": str, "zip": str}, keep_default_na=False)
    license_types = _read("license_types.csv", dtype={"license_type": str})
    nics_monthly = _read("nics_monthly.csv")
    nics_annual = _read("nics_annual.csv")
    violation_codes = _read("violation_codes.csv")
    return ReferenceData(
        states=states,
        counties=counties,
        places=places,
        license_types=license_types,
        nics_monthly=nics_monthly,
        nics_annual=nics_annual,
        violation_codes=violation_codes,
    )
