"""Regenerate the generator's compact calibration tables from the real public files.

The product never reads ``../shared`` at run time: the generator reads the small CSV
files under ``synthetic/data/``, and this script is how they were made::

    .venv/bin/python -m synthetic.build_reference_data [--source DIR] [--out DIR]

``--source`` defaults to ``../shared/data/real`` next to the repository. Outputs:

``states.csv``
    USPS code, FIPS code, name, 2023 licensee count (types 01/02/07/08), the license
    number's region digit and district codes, the default field division and the
    state's three-digit ZIP prefix range.
``counties.csv``
    Counties with at least one licensee in 2023: FIPS, name, land area, count, FFL
    density and the field division (for the three states split between two divisions).
``license_types.csv``
    2023 licensee counts by type.
``nics_monthly.csv`` / ``nics_annual.csv``
    NICS firearm checks (handgun, long gun, other, multiple) by state and month for the
    simulated window 2014-2023, and by state and year for the 1999-2013 sales history
    that crime guns traced in the window were sold in. NICS ends in September 2023; the
    last quarter is imputed (flagged ``imputed``) as the same months of 2022 scaled by
    the state's January-September 2023/2022 ratio.
``places.csv``
    Places (city name and five-digit ZIP code) per county, from the USPS ZIP table the
    ``zipcodes`` package ships (standard, active ZIP codes only), so a generated
    licensee's address names a real town of its county with a ZIP code of that town.
    Places are not licensees: no name or street of a real business is used. Counties
    the ZIP table does not name (a few in Alaska and Virginia's independent cities) get
    none; the generator falls back to the state's places for them.
``violation_codes.csv``
    27 CFR citations and the share of the 2015-2017 inspection reports (warning letter or
    worse) citing each, for codes cited in at least 0.5% of reports.

Region/district digits and field divisions are hand-made plausible mappings (documented
below), not ATF's official tables; they only need to look like the real thing.
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from pathlib import Path

import pandas as pd

from data.contract import STATE_NAMES

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


#: License-number region digit and district codes per state. Modelled on the numbers in
#: ATF's listings (e.g. NC 1-56, OH 4-31, PA 8-23/8-25, NY 6-11/13/14/16), which follow
#: the old IRS district codes; states not in the partial listings are filled in plausibly.
REGION_DISTRICTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "AL": (1, ("63",)), "FL": (1, ("59", "65")), "GA": (1, ("58",)), "MS": (1, ("64",)),
    "NC": (1, ("56",)), "SC": (1, ("57",)), "TN": (1, ("62",)), "VA": (1, ("54",)),
    "DC": (1, ("54",)),
    "IL": (3, ("36", "37")), "IN": (3, ("35",)), "MI": (3, ("38",)), "WI": (3, ("39",)),
    "MN": (3, ("41",)), "IA": (3, ("42",)), "ND": (3, ("45",)), "SD": (3, ("46",)),
    "NE": (3, ("47",)),
    "OH": (4, ("31", "34")), "KY": (4, ("61",)), "WV": (4, ("55",)),
    "MO": (4, ("43", "44")), "KS": (4, ("48",)),
    "TX": (5, ("74", "75", "76")), "OK": (5, ("73",)), "AR": (5, ("71",)),
    "LA": (5, ("72",)), "NM": (5, ("85",)), "CO": (5, ("84",)),
    "CT": (6, ("06",)), "MA": (6, ("04",)), "ME": (6, ("01",)), "NH": (6, ("02",)),
    "NY": (6, ("11", "13", "14", "16")), "RI": (6, ("05",)), "VT": (6, ("03",)),
    "PA": (8, ("23", "25")), "NJ": (8, ("22",)), "DE": (8, ("51",)), "MD": (8, ("52",)),
    "AZ": (9, ("86",)), "CA": (9, ("33", "68", "77", "94", "95")), "NV": (9, ("88",)),
    "WA": (9, ("91",)), "OR": (9, ("93",)), "ID": (9, ("82",)), "MT": (9, ("81",)),
    "UT": (9, ("87",)), "WY": (9, ("83",)), "HI": (9, ("99",)), "AK": (9, ("92",)),
}  # fmt: skip

#: ATF has 25 field divisions. Each state maps to the division that plausibly covers it;
#: Texas, California and Florida are split by county (see SPLIT_COUNTIES).
STATE_DIVISIONS: dict[str, str] = {
    "GA": "Atlanta", "MD": "Baltimore", "DE": "Baltimore",
    "MA": "Boston", "ME": "Boston", "NH": "Boston", "RI": "Boston", "VT": "Boston",
    "NC": "Charlotte", "SC": "Charlotte", "IL": "Chicago",
    "OH": "Columbus", "IN": "Columbus",
    "TX": "Dallas", "OK": "Dallas",
    "CO": "Denver", "MT": "Denver", "UT": "Denver", "WY": "Denver",
    "MI": "Detroit",
    "MO": "Kansas City", "KS": "Kansas City", "IA": "Kansas City", "NE": "Kansas City",
    "CA": "San Francisco", "NV": "San Francisco", "HI": "San Francisco",
    "KY": "Louisville", "WV": "Louisville",
    "FL": "Tampa",
    "TN": "Nashville", "AL": "Nashville",
    "LA": "New Orleans", "MS": "New Orleans", "AR": "New Orleans",
    "NY": "New York", "CT": "New York", "NJ": "Newark", "PA": "Philadelphia",
    "AZ": "Phoenix", "NM": "Phoenix",
    "WA": "Seattle", "OR": "Seattle", "ID": "Seattle", "AK": "Seattle",
    "MN": "St. Paul", "WI": "St. Paul", "ND": "St. Paul", "SD": "St. Paul",
    "VA": "Washington", "DC": "Washington",
}  # fmt: skip

#: Counties of the split states that belong to the state's second division: south and
#: east Texas to Houston, southern California to Los Angeles, south Florida to Miami.
#: Names are checked against the county file so a wrong code fails loudly.
SPLIT_COUNTIES: dict[str, tuple[str, dict[str, str]]] = {
    "TX": ("Houston", {
        "48201": "Harris", "48157": "Fort Bend", "48339": "Montgomery",
        "48167": "Galveston", "48039": "Brazoria", "48245": "Jefferson", "48029": "Bexar",
        "48453": "Travis", "48491": "Williamson", "48209": "Hays", "48091": "Comal",
        "48187": "Guadalupe", "48355": "Nueces", "48215": "Hidalgo", "48061": "Cameron",
        "48479": "Webb", "48041": "Brazos", "48469": "Victoria", "48291": "Liberty",
        "48473": "Waller", "48071": "Chambers", "48361": "Orange",
    }),
    "CA": ("Los Angeles", {
        "06037": "Los Angeles", "06059": "Orange", "06073": "San Diego",
        "06065": "Riverside", "06071": "San Bernardino", "06111": "Ventura",
        "06083": "Santa Barbara", "06029": "Kern", "06025": "Imperial",
        "06079": "San Luis Obispo",
    }),
    "FL": ("Miami", {
        "12086": "Miami-Dade", "12011": "Broward", "12099": "Palm Beach",
        "12087": "Monroe", "12111": "St. Lucie", "12085": "Martin", "12021": "Collier",
        "12051": "Hendry", "12043": "Glades", "12093": "Okeechobee",
        "12061": "Indian River",
    }),
}  # fmt: skip

#: USPS three-digit ZIP prefix range of each state (first and last prefix).
ZIP3_RANGES: dict[str, tuple[int, int]] = {
    "AL": (350, 369), "AK": (995, 999), "AZ": (850, 865), "AR": (716, 729),
    "CA": (900, 961), "CO": (800, 816), "CT": (60, 69), "DE": (197, 199), "DC": (200, 205),
    "FL": (320, 349), "GA": (300, 319), "HI": (967, 968), "ID": (832, 838),
    "IL": (600, 629), "IN": (460, 479), "IA": (500, 528), "KS": (660, 679),
    "KY": (400, 427), "LA": (700, 714), "ME": (39, 49), "MD": (206, 219), "MA": (10, 27),
    "MI": (480, 499), "MN": (550, 567), "MS": (386, 397), "MO": (630, 658),
    "MT": (590, 599), "NE": (680, 693), "NV": (889, 898), "NH": (30, 38), "NJ": (70, 89),
    "NM": (870, 884), "NY": (100, 149), "NC": (270, 289), "ND": (580, 588),
    "OH": (430, 459), "OK": (730, 749), "OR": (970, 979), "PA": (150, 196),
    "RI": (28, 29), "SC": (290, 299), "SD": (570, 577), "TN": (370, 385),
    "TX": (750, 799), "UT": (840, 847), "VT": (50, 59), "VA": (220, 246),
    "WA": (980, 994), "WV": (247, 268), "WI": (530, 549), "WY": (820, 831),
}  # fmt: skip

NICS_COLUMNS = ["handgun", "long_gun", "other", "multiple"]
WINDOW_FIRST_YEAR = 2014
HISTORY_FIRST_YEAR = 1999
LAST_YEAR = 2023
MINIMUM_CODE_SHARE = 0.005


def build_states(source: Path) -> pd.DataFrame:
    """One row per state with its 2023 count, license-number digits and division."""
    counts = pd.read_csv(source / "ffl-counts-2023-states.csv", dtype={"statefp": str})
    rows = []
    for state, statefp, count in zip(
        counts["state"].astype(str), counts["statefp"], counts["count"], strict=True
    ):
        region, districts = REGION_DISTRICTS[state]
        zip_low, zip_high = ZIP3_RANGES[state]
        rows.append(
            {
                "state": state,
                "statefp": str(statefp).zfill(2),
                "name": STATE_NAMES[state],
                "ffl_count_2023": int(count),
                "atf_region": region,
                "atf_districts": ";".join(districts),
                "field_division": STATE_DIVISIONS[state],
                "zip3_low": zip_low,
                "zip3_high": zip_high,
            }
        )
    return pd.DataFrame(rows).sort_values("state").reset_index(drop=True)


def build_counties(source: Path) -> pd.DataFrame:
    """Counties with licensees: FIPS, name, area, count, density and field division."""
    raw = pd.read_csv(
        source / "ffl-counts-2023-counties.csv",
        dtype={"statefp": str, "countyfp": str, "fips": str},
    )
    raw = raw[raw["count"] > 0].copy()
    counties = pd.DataFrame(
        {
            "fips": raw["fips"].str.zfill(5),
            "state": raw["state"],
            "county_name": raw["countyname"],
            "area_sq_mi": raw["area"].round(1),
            "ffl_count_2023": raw["count"].astype(int),
            "ffl_per_100_sq_mi": raw["ffl_per_100mi"].round(3),
        }
    )
    counties["field_division"] = counties["state"].map(STATE_DIVISIONS)
    for state, (division, members) in SPLIT_COUNTIES.items():
        for fips, expected in members.items():
            match = counties.loc[counties["fips"] == fips, "county_name"]
            if match.empty:
                continue  # a county without licensees in 2023 has nothing to assign
            if not str(match.iloc[0]).startswith(expected):
                raise ValueError(f"{state} county {fips} is {match.iloc[0]}, not {expected}")
            counties.loc[counties["fips"] == fips, "field_division"] = division
    return counties.sort_values("fips").reset_index(drop=True)


def build_license_types(source: Path) -> pd.DataFrame:
    """2023 licensee counts by license type (01/02/07/08)."""
    types = pd.read_csv(source / "ffl-counts-2023-license-types.csv", dtype={"lic_type": str})
    return types.rename(columns={"lic_type": "license_type", "count": "count_2023"})


def _nics_by_state(source: Path) -> pd.DataFrame:
    nics = pd.read_csv(source / "nics-firearm-background-checks.csv")
    codes = {name: code for code, name in STATE_NAMES.items()}
    nics = nics[nics["state"].isin(codes)].copy()
    nics["state"] = nics["state"].map(codes)
    nics[NICS_COLUMNS] = nics[NICS_COLUMNS].fillna(0).astype(int)
    return nics[["month", "state", *NICS_COLUMNS]]


def build_nics(source: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly checks for 2014-2023 (last quarter imputed) and yearly ones for 1999-2013."""
    nics = _nics_by_state(source)
    nics["year"] = nics["month"].str.slice(0, 4).astype(int)
    monthly = nics[(nics["year"] >= WINDOW_FIRST_YEAR) & (nics["year"] <= LAST_YEAR)].copy()
    monthly["imputed"] = False
    present = set(monthly["month"])
    missing = [
        f"{LAST_YEAR}-{m:02d}" for m in range(1, 13) if f"{LAST_YEAR}-{m:02d}" not in present
    ]
    if missing:
        # Same months of the previous year, scaled by the state's year-on-year ratio
        # over the months both years have, keeps each state's seasonal shape.
        known_months = sorted(m[5:] for m in present if m.startswith(str(LAST_YEAR)))
        this_year = monthly[
            monthly["month"].str[5:].isin(known_months) & (monthly["year"] == LAST_YEAR)
        ]
        last_year = monthly[
            monthly["month"].str[5:].isin(known_months) & (monthly["year"] == LAST_YEAR - 1)
        ]
        ratio = this_year.groupby("state")[NICS_COLUMNS].sum() / last_year.groupby("state")[
            NICS_COLUMNS
        ].sum().clip(lower=1)
        fills = []
        for month in missing:
            previous = monthly[monthly["month"] == f"{LAST_YEAR - 1}{month[4:]}"].set_index("state")
            filled = (previous[NICS_COLUMNS] * ratio.reindex(previous.index)).round().astype(int)
            filled = filled.reset_index()
            filled["month"] = month
            filled["year"] = LAST_YEAR
            filled["imputed"] = True
            fills.append(filled)
        monthly = pd.concat([monthly, *fills], ignore_index=True)
    monthly = monthly.sort_values(["month", "state"]).reset_index(drop=True)
    monthly = monthly[["month", "state", *NICS_COLUMNS, "imputed"]]
    history = nics[(nics["year"] >= HISTORY_FIRST_YEAR) & (nics["year"] < WINDOW_FIRST_YEAR)]
    annual = history.groupby(["year", "state"], as_index=False)[NICS_COLUMNS].sum()
    return monthly, annual.sort_values(["year", "state"]).reset_index(drop=True)


def build_violation_codes(source: Path) -> pd.DataFrame:
    """Share of inspection reports (warning letter or worse) citing each 27 CFR code."""
    reports = 0
    cited: dict[str, int] = {}
    with (source / "atf-inspection-reports-2015-2017.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            reports += 1
            codes = {code.strip() for code in (record.get("violations") or "").split(",")}
            for code in codes:
                # Only 27 CFR citations (parts 478/479); statute citations and
                # placeholders such as "[MISSING]" are not codes the contract carries.
                if code.startswith(("478.", "479.")):
                    cited[code] = cited.get(code, 0) + 1
    table = pd.DataFrame({"code": list(cited), "reports_citing": list(cited.values())}).assign(
        share_of_reports=lambda frame: (frame["reports_citing"] / reports).round(4)
    )
    table = table[table["share_of_reports"] >= MINIMUM_CODE_SHARE]
    return table.sort_values(["reports_citing", "code"], ascending=[False, True]).reset_index(
        drop=True
    )


def _plain(name: str) -> str:
    """A county name compared without accents, case or punctuation (Doña Ana = Dona Ana)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def build_places(counties: pd.DataFrame) -> pd.DataFrame:
    """City and ZIP code of every standard, active ZIP code, with its county's FIPS code.

    Needs the ``zipcodes`` package (a development dependency; the generator itself reads
    only the CSV this writes).
    """
    import zipcodes  # only this script needs it

    table = pd.DataFrame(zipcodes.list_all())  # type: ignore[no-untyped-call]
    table = table[(table["zip_code_type"] == "STANDARD") & table["active"].astype(bool)]
    key = counties.assign(key=counties["county_name"].map(_plain))[["fips", "state", "key"]]
    table = table.assign(key=table["county"].map(_plain))
    places = table.merge(key, on=["state", "key"], how="inner")
    places = places.rename(columns={"zip_code": "zip"})[["fips", "city", "zip"]]
    return places.sort_values(["fips", "zip"]).drop_duplicates().reset_index(drop=True)


def build(source: Path, out: Path) -> list[Path]:
    """Write every reference table from ``source`` into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    monthly, annual = build_nics(source)
    counties = build_counties(source)
    tables = {
        "states.csv": build_states(source),
        "counties.csv": counties,
        "places.csv": build_places(counties),
        "license_types.csv": build_license_types(source),
        "nics_monthly.csv": monthly,
        "nics_annual.csv": annual,
        "violation_codes.csv": build_violation_codes(source),
    }
    written = []
    for name, table in tables.items():
        path = out / name
        table.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    for licence in (
        "LICENSE-nics-firearm-background-checks.txt",
        "LICENSE-atf-inspection-reports.txt",
    ):
        (out / licence).write_text((source / licence).read_text())
        written.append(out / licence)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=PACKAGE_DATA)
    args = parser.parse_args(argv)
    for path in build(args.source, args.out):
        print(path)


if __name__ == "__main__":
    main()
