"""The one definition of a peer percentile, used by features, scored lists and what-if.

A value's peer percentile is ``100 * (peers below + half the peers equal) / peers``: the
mid-rank percentile among the known values of its peer group (the licensee itself
included), so a licensee tied with all of its peers sits at 50, not at 100. Unknown
values (NaN) are neither ranked nor counted among the peers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from features.pipelines.events import Floats, Ints, ratio


def peer_percentile(
    own: Floats, own_block: Ints, reference: Floats, reference_block: Ints
) -> Floats:
    """Mid-rank percentile of each ``own`` value among the ``reference`` values of its block.

    ``100 * (peers below + half the peers equal) / peers``. Exact comparisons on ranks of
    the values (not float arithmetic on them), so the result does not depend on which
    other blocks are computed alongside. NaN values are not ranked.
    """
    result = np.full(own.size, np.nan)
    usable = ~np.isnan(reference)
    reference, reference_block = reference[usable], reference_block[usable]
    ranked = ~np.isnan(own)
    if reference.size == 0 or not ranked.any():
        return result
    levels = np.unique(np.concatenate([reference, own[ranked]]))
    stride = levels.size + 1
    keys = np.sort(reference_block * stride + np.searchsorted(levels, reference))
    base = own_block[ranked] * stride
    target = base + np.searchsorted(levels, own[ranked])
    block_lo = np.searchsorted(keys, base, side="left")
    block_hi = np.searchsorted(keys, base + stride, side="left")
    below = np.searchsorted(keys, target, side="left") - block_lo
    equal = np.searchsorted(keys, target, side="right") - np.searchsorted(keys, target, side="left")
    peers = block_hi - block_lo
    result[ranked] = ratio(100.0 * (below + 0.5 * equal), peers)
    return result


def peer_percentiles(values: Floats, groups: Sequence[object] | npt.NDArray[np.object_]) -> Floats:
    """:func:`peer_percentile` of every value of a licensees x features matrix.

    ``groups`` names each row's peer group (for example its license type); each value is
    ranked among the same column's values of its group. Equal to calling
    :func:`peer_percentile` column by column with each column as its own reference, but
    with one sort per column instead of a sort and five binary searches.

    Examples
    --------
    >>> peer_percentiles(np.array([[1.0], [2.0], [2.0], [np.nan]]), ["a", "a", "a", "a"])
    array([[16.66666667],
           [66.66666667],
           [66.66666667],
           [        nan]])
    """
    _, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    result = np.full(values.shape, np.nan)
    for column in range(values.shape[1]):
        result[:, column] = _self_percentile(values[:, column], codes)
    return result


def _self_percentile(values: Floats, codes: Ints) -> Floats:
    """:func:`peer_percentile` of ``values`` among themselves, block by block."""
    result = np.full(values.size, np.nan)
    known = ~np.isnan(values)
    below, equal, peers = peer_counts(values, codes)
    result[known] = ratio(100.0 * (below[known] + 0.5 * equal[known]), peers[known])
    return result


def _block_order(values: Floats, codes: Ints) -> Ints:
    """Positions of ``values`` sorted by block, then by value within a block.

    A stable sort of the values, then a stable sort of the block codes in that order (a
    radix sort when the codes fit 16 bits). Both stable: numpy's stable sort of floats
    is about 2.5 times faster than its quicksort on these columns, which are full of
    ties (counts, zeros), and several times faster than ``lexsort``.
    """
    order = np.argsort(values, kind="stable")
    blocks = codes[order]
    if blocks.size and 0 <= blocks.min() and blocks.max() < np.iinfo(np.int16).max:
        blocks = blocks.astype(np.int16)
    return order[np.argsort(blocks, kind="stable")]


def peer_counts(values: Floats, codes: Ints) -> tuple[Ints, Ints, Ints]:
    """Per value: its block's known values below it, equal to it (itself included), and
    the block's known values in all; zeros for an unknown (NaN) value.

    Sorting by (block, value) lines up each block's known values in order; a value's
    peers below are those before the start of its run of equal values, its equal peers
    the run's length. Equality is float equality, as in :func:`peer_percentile`'s
    searches (so -0.0 ties with 0.0).

    >>> peer_counts(np.array([1.0, 2.0, 2.0, np.nan, 5.0]), np.array([0, 0, 0, 0, 1]))
    (array([0, 1, 1, 0, 0]), array([1, 2, 2, 0, 1]), array([3, 3, 3, 0, 1]))
    """
    below = np.zeros(values.size, dtype=np.int64)
    equal = np.zeros(values.size, dtype=np.int64)
    peers = np.zeros(values.size, dtype=np.int64)
    known = ~np.isnan(values)
    if values.size == 0:
        return below, equal, peers
    if known.all():  # most columns: no copy of the known values needed
        at, own, block = None, values, codes
    else:
        at = np.flatnonzero(known)
        if at.size == 0:
            return below, equal, peers
        own, block = values[at], codes[at]
    order = _block_order(own, block)
    own, block = own[order], block[order]
    size = own.size
    new_block = np.empty(size, dtype=bool)
    new_block[0] = True
    np.not_equal(block[1:], block[:-1], out=new_block[1:])
    new_run = np.empty(size, dtype=bool)
    new_run[0] = True
    np.not_equal(own[1:], own[:-1], out=new_run[1:])
    new_run |= new_block
    # Each sorted position's block start and run start: the last start at or before it.
    positions = np.arange(size, dtype=np.int64)
    block_start = np.maximum.accumulate(np.where(new_block, positions, 0))
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    block_length = np.diff(np.append(np.flatnonzero(new_block), size))
    run_length = np.diff(np.append(np.flatnonzero(new_run), size))
    target = order if at is None else at[order]
    below[target] = run_start - block_start
    equal[target] = run_length[np.cumsum(new_run) - 1]
    peers[target] = block_length[np.cumsum(new_block) - 1]
    return below, equal, peers


def percentile_among(value: float, peers: Floats) -> float:
    """:func:`peer_percentile` of one value among ``peers`` (which include it)."""
    own = np.asarray([value], dtype=float)
    return float(peer_percentile(own, np.zeros(1, dtype=np.int64), np.asarray(peers, dtype=float),
                                 np.zeros(len(peers), dtype=np.int64))[0])
