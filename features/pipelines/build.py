"""Feature tables and training panels: the pipelines' public entry points.

Both are one computation over a batch of (licensee, as_of) queries
(:func:`features.pipelines.families.compute_columns`); the feature table is the batch of
every licensee active on one date. A panel row therefore equals the feature-table row of
the same licensee on the same date, which the tests check.

Who is in a table on ``as_of`` (the *active* licensees):

* licensed before ``as_of`` (``license_issue_date < as_of``), or with no issue date;
* not revoked before ``as_of``: an inspection that ended in ``revocation`` and closed
  strictly before ``as_of`` ends the licensee's place in feature tables and panels, since
  a revoked licensee is not inspected for compliance (and an inspection opening after a
  revocation would be a data error, not a training example).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.catalogue import FEATURE_NAMES
from features.pipelines.dates import MISSING_DAY, day_of, to_days
from features.pipelines.families import Columns, Queries, compute_columns
from features.pipelines.tables import EventTables, PreparedWorld, prepare_world

Tables = PreparedWorld | EventTables | Mapping[str, pd.DataFrame]


def _world(tables: Tables) -> PreparedWorld:
    return tables if isinstance(tables, PreparedWorld) else prepare_world(tables)


def _frame(columns: Columns, index: pd.Index) -> pd.DataFrame:
    """Columns in catalogue order; a column the catalogue lacks is an error, not a guess."""
    unknown = sorted(set(columns) - set(FEATURE_NAMES))
    missing = sorted(set(FEATURE_NAMES) - set(columns))
    if unknown or missing:
        raise RuntimeError(f"features off-catalogue: unknown {unknown}, missing {missing}")
    return pd.DataFrame({name: columns[name] for name in FEATURE_NAMES}, index=index)


def active_licensees(tables: Tables, as_of: dt.date) -> pd.Index:
    """License numbers of the licensees active on ``as_of``, in license-number order."""
    licensees = _world(tables).licensees
    codes = np.arange(len(licensees), dtype=np.int64)
    active = licensees.active(codes, np.full(codes.size, day_of(as_of), dtype=np.int64))
    return licensees.numbers[active]


def build_features(tables: Tables, as_of: dt.date) -> pd.DataFrame:
    """The feature table on ``as_of``: one row per active licensee, index ``license_number``.

    Uses only events known strictly before ``as_of``. Columns are
    :data:`features.catalogue.FEATURE_NAMES` in order; counts are int64, everything else
    float64 with NaN where a value is undefined (see each feature's ``missing_text``).

    Examples
    --------
    >>> import datetime as dt
    >>> tables = {"dealers": pd.DataFrame({
    ...     "license_number": ["1-11-111-01-1A-00001"], "license_type": ["01"],
    ...     "business_name": ["A"], "premise_state": ["TX"]})}
    >>> int(build_features(tables, dt.date(2024, 1, 1))["traces_3y"].iloc[0])
    0
    """
    world = _world(tables)
    licensees = world.licensees
    codes = np.arange(len(licensees), dtype=np.int64)
    days = np.full(codes.size, day_of(as_of), dtype=np.int64)
    active = licensees.active(codes, days)
    columns = compute_columns(world, Queries.of(codes[active], days[active]))
    return _frame(columns, licensees.numbers[active])


def build_panel(tables: Tables, pairs: pd.DataFrame) -> pd.DataFrame:
    """Features for many (licensee, as_of) pairs at once, e.g. one per inspection.

    ``pairs`` has columns ``license_number`` and ``as_of`` (dates in any form
    :func:`pandas.to_datetime` reads). Returns one row per pair whose licensee is active
    on its ``as_of`` (others are dropped, as :func:`build_features` would not list them),
    keeping the pairs' index and order, with ``license_number``, ``as_of`` and then the
    catalogue's features. Each row equals ``build_features(tables, as_of)`` for that
    licensee; the computation is vectorised over pairs, never a loop.
    """
    world = _world(tables)
    licensees = world.licensees
    codes = licensees.codes_of(pairs["license_number"])
    days = to_days(pairs["as_of"]) if len(pairs) else np.zeros(0, dtype=np.int64)
    known = (codes >= 0) & (days != MISSING_DAY)
    keep = known.copy()
    keep[known] = licensees.active(codes[known], days[known])
    columns = compute_columns(world, Queries.of(codes[keep], days[keep]))
    features = _frame(columns, pairs.index[keep])
    keys = pairs.loc[keep, ["license_number", "as_of"]]
    panel: pd.DataFrame = pd.concat([keys, features], axis=1)
    return panel
