"""Windowed aggregation over events sorted by (licensee, known-day).

Every event table is sorted once by the key ``licensee * SPAN + known_day``. The events
of licensee ``c`` known in ``[start, end)`` then occupy one contiguous run of positions,
found with two ``searchsorted`` calls for any number of (licensee, date) queries at once.
Counts are differences of positions, sums are differences of integer prefix sums, and
statistics that need the rows themselves (medians, distinct purchasers) gather the runs
into one flat array labelled by query. No step loops over licensees or queries in Python.

Prefix sums are over integers on purpose: a float running total would make a licensee's
sum depend, in its last bits, on how many rows of *other* licensees precede it, and the
feature table must be byte-identical whatever else the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from features.pipelines.dates import EARLIEST_DAY, LATEST_DAY, Days

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

#: Room for every day between EARLIEST_DAY and LATEST_DAY inside one licensee's key range.
SPAN = 1 << 21
_OFFSET = 1 << 20


def encode(codes: Ints, days: Days) -> Ints:
    """Sort key of (licensee code, day); days are clipped to the representable range."""
    clipped = np.clip(days, EARLIEST_DAY, LATEST_DAY)
    return codes.astype(np.int64) * SPAN + (clipped + _OFFSET)


@dataclass(frozen=True)
class EventIndex:
    """One event table's rows sorted by (licensee, known-day).

    ``order`` maps sorted positions to the caller's rows; ``sorted_values`` and
    ``prefix`` take columns in the caller's row order and return them in sorted order.
    """

    keys: Ints
    order: Ints

    @classmethod
    def build(cls, codes: Ints, days: Days, tiebreak: Ints | None = None) -> EventIndex:
        """Index rows by licensee code and known-day; ``tiebreak`` orders same-day rows."""
        keys = encode(codes, days)
        if tiebreak is None:
            # Rows with equal keys are only ever aggregated together (a window never splits
            # a licensee's day), so their order does not matter and the faster sort will do.
            order = np.argsort(keys)
        else:
            order = np.lexsort((tiebreak, keys))
        return cls(keys=keys[order], order=order.astype(np.int64))

    def __len__(self) -> int:
        return int(self.keys.size)

    def position(self, codes: Ints, days: Days) -> Ints:
        """For each query, the first sorted position of licensee ``code`` known on or after ``day``.

        The events of that licensee known strictly before ``day`` end just before it.
        """
        return np.searchsorted(self.keys, encode(codes, days), side="left").astype(np.int64)

    def window(self, codes: Ints, start: Days, end: Days) -> tuple[Ints, Ints]:
        """Sorted positions ``[lo, hi)`` of each licensee's events known in ``[start, end)``."""
        return self.position(codes, start), self.position(codes, end)

    def sorted_values(self, values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """A column (in the caller's row order) rearranged into sorted order."""
        return np.asarray(values)[self.order]

    def prefix(self, values: npt.ArrayLike) -> Ints:
        """Integer prefix sums of a column, so a window's sum is ``prefix[hi] - prefix[lo]``."""
        ordered = np.asarray(values)[self.order].astype(np.int64)
        out = np.zeros(ordered.size + 1, dtype=np.int64)
        np.cumsum(ordered, out=out[1:])
        return out


def window_sum(prefix: Ints, lo: Ints, hi: Ints) -> Ints:
    """Sum of a prefix-summed column over each window."""
    return prefix[hi] - prefix[lo]


def gather(lo: Ints, hi: Ints) -> tuple[Ints, Ints]:
    """All positions of all windows in one flat array, with the query each belongs to.

    Returns ``(query, position)``: ``position`` lists ``lo[i], ..., hi[i]-1`` for every
    query ``i`` in turn, and ``query`` says which ``i``.
    """
    lengths = hi - lo
    total = int(lengths.sum())
    query = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    run_starts = np.cumsum(lengths) - lengths
    position = np.arange(total, dtype=np.int64) - np.repeat(run_starts - lo, lengths)
    return query, position


def segment_median(query: Ints, values: Ints, n_queries: int) -> Floats:
    """Median of integer ``values`` per query (NaN for a query with none).

    ``query`` must be non-decreasing, as :func:`gather` returns it. Sorting one combined
    integer key sorts every query's values at once.
    """
    medians = np.full(n_queries, np.nan)
    if values.size == 0:
        return medians
    clipped = np.clip(values, 0, SPAN - 1)
    ordered = np.sort(query * SPAN + clipped) - query * SPAN
    lengths = np.bincount(query, minlength=n_queries)
    starts = np.cumsum(lengths) - lengths
    has = lengths > 0
    low = ordered[starts[has] + (lengths[has] - 1) // 2]
    high = ordered[starts[has] + lengths[has] // 2]
    medians[has] = (low + high) / 2.0
    return medians


def decayed_count(
    query: Ints, event_day: Days, query_day: Days, half_life_days: float,
    n_queries: int, weight: Floats | None = None,
) -> Floats:
    """Per query, the sum of ``weight * 0.5 ** (age / half_life_days)`` over its gathered rows.

    ``age`` is the query's day minus the row's known-day. The sum of a query runs over its
    own rows only, in sorted order (``np.bincount`` adds bin by bin in row order), so the
    value does not depend on what other licensees' rows the batch holds.
    """
    if query.size == 0:
        return np.zeros(n_queries, dtype=np.float64)
    age = (query_day[query] - event_day).astype(np.float64)
    weights = np.exp2(-age / half_life_days)
    if weight is not None:
        weights = weights * weight
    return np.bincount(query, weights=weights, minlength=n_queries).astype(np.float64)


def ratio(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> Floats:
    """``numerator / denominator``, NaN where the denominator is zero or missing."""
    top = np.asarray(numerator, dtype=np.float64)
    bottom = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(top, bottom).shape, np.nan)
    valid = np.isfinite(bottom) & (bottom > 0)
    np.divide(top, bottom, out=out, where=valid)
    return out
