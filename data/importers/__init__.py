"""Importers of real public formats into the store.

- ``import_atf_ffl_list``: ATF's published licensee listing -> ``dealers``.
- ``import_atf_inspection_reports``: the FOIA inspection-report export -> ``inspections``
  (and the licensees it names).

Both parse and check the whole file before writing, write in one transaction and upsert
by id, so a rejected file changes nothing and a repeated import changes nothing.
"""

from data.importers.atf_ffl_list import import_atf_ffl_list, parse_atf_ffl_list
from data.importers.atf_inspection_reports import (
    import_atf_inspection_reports,
    map_outcome,
    parse_atf_inspection_reports,
)
from data.importers.common import ImportRejected, ImportSummary, WriteCounts
from data.importers.fips import county_fips
from data.problems import Problem

__all__ = [
    "ImportRejected",
    "ImportSummary",
    "Problem",
    "WriteCounts",
    "county_fips",
    "import_atf_ffl_list",
    "import_atf_inspection_reports",
    "map_outcome",
    "parse_atf_ffl_list",
    "parse_atf_inspection_reports",
]
