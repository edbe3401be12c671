"""County FIPS codes from a licensee's state and the county part of its license number.

ATF's license number carries the county's three-digit FIPS code within the state
(``LIC_CNTY``, the ``CCC`` in ``R-DD-CCC-TT-XX-SSSSS``); prefixing the state's two-digit
FIPS code gives the national five-digit county code that county data is keyed by.
The state table is embedded so the product never reads reference files at run time.
"""

from __future__ import annotations

#: Two-digit FIPS codes of the states, DC and the inhabited territories. Military
#: addresses (AA, AE, AP) have none, so their licensees get no county code.
STATE_FIPS: dict[str, str] = {
    "AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09",
    "DE": "10", "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17",
    "IN": "18", "IA": "19", "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24",
    "MA": "25", "MI": "26", "MN": "27", "MS": "28", "MO": "29", "MT": "30", "NE": "31",
    "NV": "32", "NH": "33", "NJ": "34", "NM": "35", "NY": "36", "NC": "37", "ND": "38",
    "OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44", "SC": "45", "SD": "46",
    "TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53", "WV": "54",
    "WI": "55", "WY": "56",
    "AS": "60", "GU": "66", "MP": "69", "PR": "72", "VI": "78",
}  # fmt: skip

#: County codes ATF still writes in their pre-change form, mapped to today's code.
#: Dade County, FL became Miami-Dade in 1997 and moved from 12025 to 12086; ATF's
#: numbers keep 025. DC has a single county-equivalent (11001) but ATF writes 000.
_RECODED_COUNTIES: dict[tuple[str, str], str] = {
    ("FL", "025"): "12086",
    ("DC", "000"): "11001",
}


def county_fips(state: str | None, county_code: str | None) -> str | None:
    """The five-digit county FIPS code for a USPS ``state`` and a license's county code.

    ``county_code`` is ``LIC_CNTY`` (zero padding restored when it was lost, e.g. ``"3"``).
    Returns None when either part is unknown: a military address, an unknown state, a
    non-numeric code or ``000`` (no county).

    Examples
    --------
    >>> county_fips("PR", "003")
    '72003'
    >>> county_fips("FL", "025")
    '12086'
    >>> county_fips("AE", "001") is None
    True
    """
    if not state or not county_code:
        return None
    state = state.strip().upper()
    county_code = county_code.strip()
    if not county_code.isdigit() or len(county_code) > 3:
        return None
    county_code = county_code.zfill(3)
    recoded = _RECODED_COUNTIES.get((state, county_code))
    if recoded is not None:
        return recoded
    state_code = STATE_FIPS.get(state)
    if state_code is None or county_code == "000":
        return None
    return state_code + county_code
