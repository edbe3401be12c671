"""Reason texts: a score's principal reasons, in the catalogue's plain words.

In the spirit of adverse-action reason codes, a licensee gets at most
:data:`MAX_REASONS` principal reasons, each a *distinct fact* with its number and how it
compares with the licensee's peers:

* **Distinct facts.** Features are grouped into facts (:func:`fact_of`): the same measure
  in several windows, as a count, a rate, a shrunk rate, a recency-weighted count or a
  peer percentile is one fact. A fact gives at most one reason, the feature of that fact
  that contributes most, so the reasons are never "traces per 1,000 sales in 1, 3 and 5
  years".
* **Only what is informative.** Profile features without an expected direction (sales
  volume, years licensed, license types other than pawnbroker) are never offered as a
  reason: they shift a score through what they do to the other features (a low volume
  makes a rate per sale less certain, which the shrunk rates already weigh), not as a fact
  an inspector can act on. Nor is a behaviour feature whose value says there was nothing
  ("0 crime guns traced", an unknown share): its contribution is real and stays in the
  explanation, but "nothing happened" is not a reason to inspect.
* **Compared with peers.** Each reason ends with the share of the licensee's peers (same
  license type and state on the scored list) with a lower value, "higher than 97% of
  peers (pawnbrokers in Texas)", never "than 100%": a strictly highest value is "the
  highest among N peers", anything else is capped at 99%.

The same rules, with the sign reversed, give the features that *lower* a score
("what speaks for this licensee"), shown to supervisors.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from data.contract import STATE_NAMES
from features.catalogue import Family, Unit, describe, get_feature
from features.pipelines.peers import peer_counts

Floats = npt.NDArray[np.float64]

#: At most this many principal reasons per licensee.
MAX_REASONS = 4
#: Fewer peers than this (the licensee included) and no comparison is made.
MIN_PEERS = 5

LICENSE_TYPE_NAMES: dict[str, str] = {
    "01": "dealers", "02": "pawnbrokers", "03": "collectors", "06": "ammunition makers",
    "07": "manufacturers", "08": "importers", "09": "destructive-device licensees",
    "10": "destructive-device licensees", "11": "destructive-device licensees",
}
#: A state's name in a sentence ("dealers in the District of Columbia").
STATE_PROSE = {**STATE_NAMES, "DC": "the District of Columbia"}

#: Name parts that say *how* a fact is measured (window, variant, unit), not *what* it is.
_MEASURE = re.compile(
    r"_(1y|3y|5y|previous_year|decayed|shrunk|peer_percentile|total|at_last_inspection"
    r"|per_1k_sales|per_1k_annual_sales|share|traces|reports|firearms|per_report|change"
    r")(?=_|$)"
)


#: Stems that name one fact in different words.
_SAME_FACT = {
    "multiple_sale_3310_4": "multiple_sale",
    "repeat_purchaser_report": "repeat_multiple_sale_purchasers",
    "demand_letter_2": "time_to_crime_at_most",
    "meets_demand_letter_2": "time_to_crime_at_most",
    "never_inspected": "days_since_last_inspection",
    "inspections": "days_since_last_inspection",
    "days_since_last_serious_outcome": "serious_outcomes",
}


#: A percentile among peers is told as the value it ranks, with the comparison in words.
STAND_INS = {
    "traces_3y_peer_percentile": "traces_3y",
    "traces_per_1k_sales_3y_peer_percentile": "traces_per_1k_sales_3y",
}


def fact_of(name: str) -> str:
    """The fact a feature measures: its family and its name without window and variant.

    >>> fact_of("traces_per_1k_sales_1y") == fact_of("traces_3y_peer_percentile")
    True
    >>> fact_of("serial_obliterated_share_3y") == fact_of("recovered_in_mexico_share_3y")
    False
    """
    stem = name
    while True:
        shorter = _MEASURE.sub("", stem)
        if shorter == stem:
            break
        stem = shorter
    return f"{get_feature(name).family}:{_SAME_FACT.get(stem, stem)}"


def offered_as_reason(name: str) -> bool:
    """Whether a feature may ever be a reason (profile features without a direction not)."""
    feature = get_feature(name)
    return not (feature.family is Family.PROFILE and feature.direction is None)


#: Units whose low values say something good on their own (a low rate, a small share).
_RELATIVE_UNITS = frozenset({Unit.SHARE, Unit.PER_1K_SALES, Unit.PERCENTILE})


#: Which values of a feature state a fact in a reason's direction (see _speaking_values).
_EVERY, _POSITIVE, _ZERO, _KNOWN = range(4)


@functools.lru_cache(maxsize=1024)
def _speaking_values(name: str, raises: bool) -> int:
    """Which values state a fact in the reason's direction (not "nothing", not unknown).

    A feature expected to raise risk with its value (direction +1) is a reason to inspect
    only with a positive value, and never when unknown; it speaks *for* a licensee when it
    is a low rate or share, or a count of zero. Unknown values of features without a
    direction ("Never inspected.") are facts in their own right. The one statement of the
    rule; :func:`_says_something` and :func:`_says_something_one` apply it.
    """
    feature = get_feature(name)
    direction = feature.direction
    if direction is None:
        return _EVERY
    if (direction > 0) == raises:
        return _POSITIVE
    if direction > 0 and feature.unit not in _RELATIVE_UNITS:
        # "13 multiple-sale reports" may be fewer than expected, but said alone it does not
        # speak for anyone: a count speaks for a licensee only when it is zero.
        return _ZERO
    return _KNOWN


def _says_something(name: str, values: Floats, raises: bool) -> npt.NDArray[np.bool_]:
    """Of a column of values, those that state a fact (:func:`_speaking_values`)."""
    rule = _speaking_values(name, raises)
    if rule == _EVERY:
        return np.ones(values.shape, dtype=bool)
    known: npt.NDArray[np.bool_] = ~np.isnan(values)
    if rule == _POSITIVE:
        return known & (values > 0)
    if rule == _ZERO:
        zero: npt.NDArray[np.bool_] = values == 0
        return known & zero
    return known


def _says_something_one(name: str, value: float, raises: bool) -> bool:
    """Whether one value states a fact (:func:`_speaking_values`), without arrays."""
    rule = _speaking_values(name, raises)
    if rule == _EVERY:
        return True
    if value != value:  # unknown
        return False
    if rule == _POSITIVE:
        return value > 0
    if rule == _ZERO:
        return value == 0
    return True


def _stated_column(features: Sequence[str], column: int) -> int:
    """The column whose value a reason of ``column`` states: a peer percentile is told as
    the value it ranks, when the list has that column."""
    stand_in = STAND_INS.get(features[column])
    if stand_in is not None and stand_in in features:
        return list(features).index(stand_in)
    return column


@dataclass(frozen=True)
class Reason:
    """One reason a licensee scores as it does: a feature that moved its score."""

    feature: str
    family: str
    value: float | None
    shap_value: float
    text: str
    #: Share of the peers with a lower value, and how many peers (None: no comparison).
    peers_below: float | None = None
    peers: int | None = None


@dataclass(frozen=True)
class Peers:
    """Each row's peer group (codes) and how the group is named in a reason."""

    codes: npt.NDArray[np.int64]
    labels: Sequence[str]

    @classmethod
    def of(cls, license_types: Sequence[object] | npt.ArrayLike,
           states: Sequence[object] | npt.ArrayLike) -> Peers:
        """Peers = same license type and same state, named "pawnbrokers in Texas".

        ``labels`` are the groups' names in sorted order, ``codes`` each row's position in
        them; types named alike ("destructive-device licensees") are one group. Unknown
        (None) types and states name a group of their own.
        """
        type_codes, types = pd.factorize(pd.Series(np.asarray(license_types, dtype=object)))
        state_codes, known_states = pd.factorize(pd.Series(np.asarray(states, dtype=object)))
        if type_codes.size != state_codes.size:
            raise ValueError("license_types and states differ in length")
        stride = len(known_states) + 1
        pairs, pair_of = np.unique((type_codes + 1) * stride + state_codes + 1,
                                   return_inverse=True)
        # Each (type, state) pair named once (code 0: unknown).
        names = [_group_name(None if t == 0 else types[t - 1],
                             None if s == 0 else known_states[s - 1])
                 for t, s in (divmod(int(pair), stride) for pair in pairs)]
        labels, label_of = np.unique(np.array(names, dtype=object), return_inverse=True)
        codes = label_of.reshape(-1)[pair_of.reshape(-1)] if pairs.size else np.empty(0)
        return cls(codes=np.asarray(codes, dtype=np.int64), labels=[str(x) for x in labels])


def _group_name(license_type: object, state: object) -> str:
    """A peer group in words: "pawnbrokers in Texas"."""
    if license_type is None or state is None:
        return "licensees of unknown type or state"
    kind = LICENSE_TYPE_NAMES.get(str(license_type), f"type {license_type} licensees")
    return f"{kind} in {STATE_PROSE.get(str(state), str(state))}"


#: The cases of a peer comparison: too few peers to compare, the highest, the lowest,
#: higher than most, lower than most, and an indicator's yes that peers share ("so are").
_FEW, _HIGHEST, _LOWEST, _HIGHER, _LOWER, _SHARED = range(6)


def _peer_cases(
    below: npt.NDArray[np.int64], above: npt.NDArray[np.int64], size: npt.NDArray[np.int64],
    yes: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each comparison's case and its share in percent (0 where the case has none).

    The one statement of the rule, for whole columns at once; ``yes`` marks indicators
    whose value is yes, told by how many peers share it (those neither below nor above).
    """
    safe = np.maximum(size, 1)
    others = size - 1
    case = np.select(
        [size < MIN_PEERS, (below == others) & (below > 0), (above == others) & (above > 0),
         below >= above],
        [_FEW, _HIGHEST, _LOWEST, _HIGHER], default=_LOWER).astype(np.int64)
    share = np.select([case == _HIGHER, case == _LOWER],
                      [np.floor(100.0 * below / safe), np.floor(100.0 * above / safe)], 0)
    if yes is not None:
        shared = yes & (size >= MIN_PEERS)
        case = np.where(shared, _SHARED, case)
        # As indicator_clause computes it from the share of peers saying yes.
        share = np.where(shared, np.floor(100.0 * ((size - below - above) / safe)), share)
    return case, np.minimum(share, 99).astype(np.int64)


def _clause_text(case: int, share: int, size: int, label: str) -> str:
    """The words of one comparison (see :func:`_peer_cases`)."""
    if case == _FEW:
        return ""
    if case == _HIGHEST:
        return f"The highest among {size:,} peers ({label})."
    if case == _LOWEST:
        return f"The lowest among {size:,} peers ({label})."
    if case == _HIGHER:
        return f"Higher than {share}% of peers ({label})."
    if case == _LOWER:
        return f"Lower than {share}% of peers ({label})."
    return f"So are {share}% of peers ({label})."


def indicator_clause(share: float, size: int, label: str) -> str:
    """How common a yes is among the peers, in words; "" when there are too few peers.

    >>> indicator_clause(0.26, 212, "dealers in Ohio")
    'So are 26% of peers (dealers in Ohio).'
    """
    if size < MIN_PEERS:
        return ""
    return _clause_text(_SHARED, min(math.floor(100.0 * share), 99), size, label)


def peer_clause(below: int, above: int, size: int, label: str) -> str:
    """How a value compares with its peers, in words; "" when there are too few peers.

    >>> peer_clause(211, 0, 212, "pawnbrokers in Texas")
    'The highest among 212 peers (pawnbrokers in Texas).'
    >>> peer_clause(205, 1, 212, "pawnbrokers in Texas")
    'Higher than 96% of peers (pawnbrokers in Texas).'
    >>> peer_clause(3, 200, 212, "dealers in Ohio")
    'Lower than 94% of peers (dealers in Ohio).'
    """
    case, share = _peer_cases(np.array([below]), np.array([above]), np.array([size]))
    return _clause_text(int(case[0]), int(share[0]), size, label)


@functools.lru_cache(maxsize=32)
def _columns(
    features: tuple[str, ...],
) -> tuple[int, npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Per column its fact's code and whether it may be a reason (one per feature list)."""
    facts, fact_codes = np.unique([fact_of(name) for name in features], return_inverse=True)
    allowed = np.array([offered_as_reason(name) for name in features], dtype=bool)
    return int(facts.size), fact_codes.reshape(-1).astype(np.intp), allowed


def _choose(
    contributions: Floats, values: Floats, features: Sequence[str], count: int, raises: bool
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per row, up to ``count`` columns: distinct facts, largest contribution first.

    Returns ``(columns, kept)``: row ``i``'s reasons are ``columns[i, :kept[i]]``. Equal
    contributions are taken in column order, so the choice is deterministic.

    The rule is "walk the columns from the largest contribution down, taking a column
    when its fact is not yet taken". Done for all rows at once: each fact's best column
    (its largest usable contribution, the first column of a tie), then the ``count``
    largest facts; one pass over the columns and ``count`` over the facts.
    """
    rows, _width = contributions.shape
    if rows == 1:
        return _choose_row(contributions[0], values[0], features, count, raises)
    fact_count, fact_codes, allowed = _columns(tuple(features))
    best_value = np.zeros((fact_count, rows))
    best_column = np.zeros((fact_count, rows), dtype=np.intp)
    for column, name in enumerate(features):
        if not allowed[column]:
            continue
        fact = fact_codes[column]
        signed = contributions[:, column] if raises else -contributions[:, column]
        # Only a positive contribution of a value that says something is a reason.
        signed = np.where(_says_something(name, values[:, column], raises), signed, 0.0)
        better = signed > best_value[fact]  # strictly: the first column keeps a tie
        np.copyto(best_value[fact], signed, where=better)
        np.copyto(best_column[fact], column, where=better)
    chosen = np.zeros((rows, count), dtype=np.intp)
    kept = np.zeros(rows, dtype=np.intp)
    for slot in range(count):
        top = best_value.max(axis=0, initial=0.0)
        found = top > 0
        if not found.any():
            break
        # The fact whose best column comes first among those at the top (a tie is rare).
        first = np.where(best_value == top, best_column, np.iinfo(np.intp).max).min(axis=0)
        first = first[found]
        chosen[found, slot] = first
        kept += found
        best_value[fact_codes[first], np.flatnonzero(found)] = 0.0
    return chosen, kept


def _choose_row(
    contributions: Floats, values: Floats, features: Sequence[str], count: int, raises: bool
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """:func:`_choose` of one row, as the rule reads: walk the columns from the largest
    contribution down (equal ones in column order), taking a column when its fact is not
    yet taken. An explanation asks for one row; the array version costs it 0.4 ms."""
    _fact_count, fact_codes, allowed = _columns(tuple(features))
    sign = 1.0 if raises else -1.0
    candidates = sorted(
        (-sign * contribution, column)
        for column, contribution in enumerate(contributions.tolist())
        if sign * contribution > 0 and allowed[column]
        and _says_something_one(features[column], float(values[column]), raises))
    chosen = np.zeros((1, count), dtype=np.intp)
    taken: set[int] = set()
    for _negative, column in candidates:
        if len(taken) == count:
            break
        fact = int(fact_codes[column])
        if fact not in taken:
            chosen[0, len(taken)] = column
            taken.add(fact)
    return chosen, np.array([len(taken)], dtype=np.intp)


def _clauses(
    below: npt.NDArray[np.int64], above: npt.NDArray[np.int64], size: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64], labels: Sequence[str], yes: npt.NDArray[np.bool_] | None,
) -> tuple[list[str], npt.NDArray[np.intp]]:
    """The peer clause of each row, as (distinct clauses, each row's position in them).

    A clause is its case, its share and its group (``codes``; a group's size is the same
    for every row of one column), so each distinct key is written once.
    """
    case, share = _peer_cases(below, above, size, yes)
    groups = int(codes.max(initial=0)) + 1
    _, first, position = np.unique((case * 100 + share) * groups + codes,
                                   return_index=True, return_inverse=True)
    texts = [_clause_text(int(case[row]), int(share[row]), int(size[row]),
                          labels[int(codes[row])]) for row in first.tolist()]
    return texts, position.reshape(-1)


def _sentence(features: Sequence[str], column: int, row: Floats) -> str:
    """One reason's sentence without a peer comparison, as :func:`_texts` writes it."""
    column = _stated_column(features, column)
    value = float(row[column])
    return describe(features[column], None if math.isnan(value) else value)


def _texts(
    columns: npt.NDArray[np.intp], kept: npt.NDArray[np.intp], values: Floats,
    features: Sequence[str], peers: Peers | None,
    comparisons: dict[tuple[int, int], tuple[int, int, int]] | None = None,
) -> list[list[str]]:
    """The chosen reasons' sentences; fills ``comparisons`` (when given) with each
    (row, slot)'s peers below, above and the group's size."""
    rows = columns.shape[0]
    width = columns.shape[1]
    if rows == 1 and peers is None:  # an explanation's: the sentences alone, no arrays
        return [[_sentence(features, int(column), values[0]) for column
                 in columns[0, : int(kept[0])].tolist()]]
    texts = np.empty((rows, width), dtype=object)
    used = np.arange(width)[np.newaxis, :] < kept[:, np.newaxis]
    chosen_rows, slots = np.nonzero(used)
    chosen_columns = columns[chosen_rows, slots]
    # Per value column: a peer percentile and the value it stands in for share one.
    counted: dict[int, tuple[npt.NDArray[np.int64], ...]] = {}
    for chosen_column in np.unique(chosen_columns).tolist():
        here = np.flatnonzero(chosen_columns == chosen_column)
        column = _stated_column(features, chosen_column)
        name = features[column]
        own = values[chosen_rows[here], column]
        missing = np.isnan(own)
        sentence = np.empty(here.size, dtype=object)
        if missing.any():
            sentence[missing] = describe(name, None)
        known = np.flatnonzero(~missing)
        # Distinct bit patterns, not distinct floats: -0.0 and 0.0 are described apart,
        # exactly as a per-value call would describe them.
        distinct, inverse = np.unique(own[known].view(np.int64), return_inverse=True)
        described = np.empty(distinct.size, dtype=object)
        described[:] = [describe(name, float(value)) for value in distinct.view(np.float64)]
        sentence[known] = described[inverse.reshape(-1)]
        if peers is not None and known.size:
            target_rows = chosen_rows[here[known]]
            if column not in counted:
                counted[column] = peer_counts(values[:, column], peers.codes)
            below, equal, size = (counts[target_rows] for counts in counted[column])
            above = size - below - equal
            codes = peers.codes[target_rows]
            yes = (own[known] >= 0.5) if get_feature(name).unit is Unit.INDICATOR else None
            clause_of = _clauses(below, above, size, codes, peers.labels, yes)
            # One sentence per distinct (value, clause): far fewer than rows.
            width_of = len(clause_of[0])
            pairs, pair_of = np.unique(inverse.reshape(-1) * width_of + clause_of[1],
                                       return_inverse=True)
            joined = np.empty(len(pairs), dtype=object)
            joined[:] = [f"{described[v]} {clause_of[0][c]}" if clause_of[0][c]
                         else described[v]
                         for v, c in zip((pairs // width_of).tolist(),
                                         (pairs % width_of).tolist(), strict=True)]
            sentence[known] = joined[pair_of.reshape(-1)]
            if comparisons is not None:
                numbers = zip(below.tolist(), above.tolist(), size.tolist(), strict=True)
                for row, slot, counts in zip(target_rows.tolist(),
                                             slots[here[known]].tolist(), numbers, strict=True):
                    comparisons[(row, slot)] = counts
        texts[chosen_rows[here], slots[here]] = sentence
    result: list[list[str]] = texts.tolist()
    for row, size in zip(result, kept.tolist(), strict=True):
        if size < width:  # in place: a copy of every row would cost a tenth of a second
            del row[size:]
    return result


def top_reasons(
    contributions: pd.DataFrame, values: pd.DataFrame, count: int = MAX_REASONS,
    peers: Peers | None = None, *, raises: bool = True,
) -> list[list[Reason]]:
    """For each row, up to ``count`` distinct facts that raised the score most.

    With ``raises=False``, the facts that lowered it most ("what speaks for this
    licensee"). Only contributions of the reason's sign count; a low-risk licensee may have
    no reason to inspect. ``peers`` (rows aligned with the frames) adds the comparison with
    the peer group to each text.
    """
    names: Sequence[str] = list(contributions.columns)
    matrix = contributions.to_numpy(dtype=float)
    value_matrix = values[list(names)].to_numpy(dtype=float)
    columns, kept = _choose(matrix, value_matrix, names, count, raises)
    comparisons: dict[tuple[int, int], tuple[int, int, int]] = {}
    texts = _texts(columns, kept, value_matrix, names, peers, comparisons)
    result: list[list[Reason]] = []
    for row, size in enumerate(kept.tolist()):
        reasons = []
        for slot in range(size):
            column = int(columns[row, slot])
            name = names[column]
            raw = value_matrix[row, column]
            below, _above, peer_count = comparisons.get((row, slot), (None, None, None))
            reasons.append(Reason(
                feature=name,
                family=str(get_feature(name).family),
                value=None if np.isnan(raw) else float(raw),
                shap_value=float(matrix[row, column]),
                text=texts[row][slot],
                peers_below=None if below is None or not peer_count else below / peer_count,
                peers=peer_count,
            ))
        result.append(reasons)
    return result


def top_reason_texts(
    contributions: npt.NDArray[np.float64], values: npt.NDArray[np.float64],
    features: Sequence[str], count: int = MAX_REASONS, peers: Peers | None = None,
    *, raises: bool = True,
) -> list[list[str]]:
    """The texts of :func:`top_reasons`, for a whole list at once.

    Parameters
    ----------
    contributions, values : ndarray of shape (licensees, features)
        SHAP contributions and feature values (NaN = unknown), columns in ``features``
        order.
    features : sequence of str
        The catalogue names of the columns.
    count : int
        At most this many reasons per licensee.
    peers : Peers, optional
        Each row's peer group; adds the comparison with the peers to each text.
    raises : bool
        Reasons that raised the score (default) or, False, those that lowered it.

    Returns
    -------
    list of list of str
        Per row, the same texts, in the same order, as ``[r.text for r in
        top_reasons(...)[row]]``. Each distinct (feature, value) is described once: a
        list of 80,000 licensees has far fewer distinct values than reasons.

    Examples
    --------
    >>> top_reason_texts(np.array([[0.5, -0.1]]), np.array([[12.0, 0.0]]),
    ...                  ["traces_3y", "never_inspected"])
    [['12 crime guns sold by this licensee were traced in the last 3 years.']]
    """
    matrix = np.asarray(contributions, dtype=float)
    value_matrix = np.asarray(values, dtype=float)
    columns, kept = _choose(matrix, value_matrix, features, count, raises)
    return _texts(columns, kept, value_matrix, features, peers)


def reason_features(
    contributions: Sequence[float], values: Sequence[float | None], features: Sequence[str],
    count: int = MAX_REASONS, *, raises: bool = True,
) -> list[str]:
    """The features of one licensee's reasons, in order (what a chart must draw)."""
    matrix = np.asarray([contributions], dtype=float)
    value_matrix = np.asarray([[np.nan if v is None else v for v in values]], dtype=float)
    columns, kept = _choose(matrix, value_matrix, features, count, raises)
    return [features[int(column)] for column in columns[0, : int(kept[0])]]
