"""The data contract (../shared/data-contract.md) as data.

Validation, the store's tables, the generator and the importers all read these
specifications, so the contract is written down once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the contract itself needs neither at import
    import numpy as np
    import numpy.typing as npt
    import pandas as pd


class Kind(StrEnum):
    """How a column's text is parsed."""

    TEXT = "text"
    DATE = "date"
    INTEGER = "integer"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    pattern: str | None = None
    max_length: int | None = None
    #: The store's column width where ``max_length`` does not give it (a pattern or a
    #: choice already bounds the text).
    store_width: int | None = None

    @property
    def width(self) -> int | None:
        """How many characters the store's column holds (text columns)."""
        return self.max_length or self.store_width


@dataclass(frozen=True)
class Table:
    """One table of the input directory."""

    name: str
    id_column: str
    columns: tuple[Column, ...]
    known_date: str | None = None
    optional: bool = False
    references_dealers: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


LICENSE_NUMBER_PATTERN = r"^\d-\d{2}-\d{3}-\d{2}-[0-9A-Z]{2}-\d{5}$"
#: Expiration code of every generated license number. Real codes are the last digit of
#: the expiry year and a month letter A-M, so "ZZ" cannot belong to a real licensee.
SYNTHETIC_EXPIRATION_CODE = "ZZ"


def recovered_abroad(countries: pd.Series) -> npt.NDArray[np.bool_]:
    """Traces recovered outside the United States: a known country other than ``US``.

    The one rule for features, enforcement metrics and the public report. The contract
    requires the country, so an unknown one (possible only in a frame built by hand) is
    not counted abroad.

    >>> import pandas as pd
    >>> recovered_abroad(pd.Series(["US", "MX", None, "CA"])).tolist()
    [False, True, False, True]
    """
    known = countries.notna().to_numpy(dtype=bool)
    home = (countries.astype(object) == HOME_COUNTRY).to_numpy(dtype=bool)
    abroad: npt.NDArray[np.bool_] = known & ~home
    return abroad


def is_synthetic_license_number(license_number: str) -> bool:
    """Whether a license number carries the generator's expiration code.

    The fifth part of ``R-DD-CCC-TT-XX-SSSSS`` is the last digit of the expiry year and a
    month letter, so the generator's ``ZZ`` can never be a real license's. This is how
    the store, a scored list and the pages tell generated licensees from real ones.
    """
    parts = license_number.split("-")
    return len(parts) == 6 and parts[4] == SYNTHETIC_EXPIRATION_CODE


LICENSE_TYPES = ("01", "02", "03", "06", "07", "08", "09", "10", "11")
US_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL",
    "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
    "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD",
    "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    # Territories and military addresses appear in ATF's listing.
    "PR", "VI", "GU", "MP", "AS", "AE", "AP", "AA",
)
#: The states' names (as the FBI's NICS tables and the census name them).
STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
FIREARM_TYPES = ("pistol", "revolver", "rifle", "shotgun", "derringer", "other")
MULTIPLE_SALE_FORMS = ("3310.4", "3310.12")
INSPECTION_TYPES = ("compliance", "qualification", "other")
OUTCOMES = (
    "no_violations",
    "violations_cited",
    "warning_letter",
    "warning_conference",
    "revocation",
)
SERIOUS_OUTCOMES = ("warning_conference", "revocation")
#: The recovery country of a trace recovered inside the United States.
HOME_COUNTRY = "US"
URBANICITY = ("urban", "suburban", "rural")
THEFT_LOSS_KINDS = ("theft", "loss")

DEALERS = Table(
    name="dealers",
    id_column="license_number",
    references_dealers=False,
    columns=(
        Column("license_number", required=True, pattern=LICENSE_NUMBER_PATTERN, store_width=32),
        Column("license_type", required=True, choices=LICENSE_TYPES, store_width=2),
        Column("business_name", required=True, max_length=200),
        Column("premise_city", max_length=100),
        Column("premise_state", required=True, choices=US_STATES, store_width=2),
        Column("premise_zip", pattern=r"^\d{5}$", store_width=5),
        Column("county_fips", pattern=r"^\d{5}$", store_width=5),
        Column("license_issue_date", Kind.DATE),
        Column("annual_firearm_sales", Kind.INTEGER, minimum=0),
        Column("field_division", max_length=100),
        Column("urbanicity", choices=URBANICITY, store_width=8),
    ),
)

TRACES = Table(
    name="traces",
    id_column="trace_id",
    known_date="trace_date",
    columns=(
        Column("trace_id", required=True, max_length=64),
        Column("license_number", required=True, pattern=LICENSE_NUMBER_PATTERN, store_width=32),
        Column("firearm_type", required=True, choices=FIREARM_TYPES, store_width=16),
        Column("caliber", max_length=32),
        Column("purchase_date", Kind.DATE, required=True),
        Column("recovery_date", Kind.DATE, required=True),
        Column("trace_date", Kind.DATE, required=True),
        Column("recovery_country", required=True, pattern=r"^[A-Z]{2}$", store_width=2),
        Column("recovery_state", max_length=32),
        Column("purchaser_is_possessor", Kind.BOOLEAN),
        Column("serial_obliterated", Kind.BOOLEAN),
    ),
    notes=("recovery_date >= purchase_date", "trace_date >= recovery_date"),
)

MULTIPLE_SALES = Table(
    name="multiple_sales",
    id_column="report_id",
    known_date="report_date",
    columns=(
        Column("report_id", required=True, max_length=64),
        Column("license_number", required=True, pattern=LICENSE_NUMBER_PATTERN, store_width=32),
        Column("report_date", Kind.DATE, required=True),
        Column("form", required=True, choices=MULTIPLE_SALE_FORMS, store_width=8),
        Column("firearm_count", Kind.INTEGER, required=True, minimum=2),
        Column("purchaser_key", max_length=64),
    ),
)

INSPECTIONS = Table(
    name="inspections",
    id_column="inspection_id",
    known_date="inspection_date",
    columns=(
        Column("inspection_id", required=True, max_length=64),
        Column("license_number", required=True, pattern=LICENSE_NUMBER_PATTERN, store_width=32),
        Column("inspection_date", Kind.DATE, required=True),
        Column("inspection_type", required=True, choices=INSPECTION_TYPES, store_width=16),
        Column("outcome", required=True, choices=OUTCOMES, store_width=24),
        Column("violation_count", Kind.INTEGER, required=True, minimum=0),
        Column("missing_firearms", Kind.INTEGER, minimum=0),
        Column("violation_codes", max_length=2000),
    ),
)

THEFT_LOSS = Table(
    name="theft_loss",
    id_column="report_id",
    known_date="report_date",
    optional=True,
    columns=(
        Column("report_id", required=True, max_length=64),
        Column("license_number", required=True, pattern=LICENSE_NUMBER_PATTERN, store_width=32),
        Column("report_date", Kind.DATE, required=True),
        Column("kind", required=True, choices=THEFT_LOSS_KINDS, store_width=8),
        Column("firearm_count", Kind.INTEGER, required=True, minimum=1),
    ),
)

#: Contract tables in load order: dealers first, since every event names a licensee.
TABLES: tuple[Table, ...] = (DEALERS, TRACES, MULTIPLE_SALES, INSPECTIONS, THEFT_LOSS)
TABLES_BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}
