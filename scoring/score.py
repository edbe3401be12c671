"""Scoring every active licensee: the whole scored list, computed once.

``score_list`` computes, for every licensee, what any reader of the list will ever need:
the calibrated score and raw score (log-odds), rank and percentile, the feature values,
the SHAP contributions and their base value, peer percentiles and the top reasons. The
list is then stored as one artifact (``scoring.lists``); serving, plans and reports read
it and never call the model again (only what-if scores a changed row).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.contract import is_synthetic_license_number
from data.csv_cells import frame_to_csv
from features.catalogue import CATALOGUE_VERSION
from features.pipelines.build import build_features
from features.pipelines.peers import peer_percentiles
from features.pipelines.tables import EventTables, arrow_text
from models.bundle import ModelBundle
from models.reasons import MAX_REASONS, Peers, top_reason_texts

Floats = npt.NDArray[np.float64]

#: How many reasons each row of the list keeps (distinct facts, see models.reasons).
REASONS_PER_LICENSEE = MAX_REASONS
#: The licensee's profile as the list shows it, copied into the list when it is scored.
PROFILE_COLUMNS = ("business_name", "premise_city", "premise_state", "field_division",
                   "license_type")
#: The peer group of a licensee whose license type is unknown.
UNKNOWN_PEER_GROUP = "unknown"


@dataclass(frozen=True)
class ScoredList:
    """A scored list in rank order (row ``i`` has rank ``i + 1``).

    ``rows`` holds one row per licensee: ``license_number``, ``score``, ``raw_score``,
    ``rank``, ``percentile``, ``top_reasons`` (a list of texts) and the profile columns.
    What speaks for a licensee (the reasons of features that lower its score) is told
    from the stored contributions when a supervisor opens its explanation, not here.
    The three matrices are licensees x ``features``, in the same row order: feature
    values (NaN = unknown), SHAP contributions (log-odds) and peer percentiles (NaN for
    an unknown value). ``base_value + contributions.sum(axis=1) == raw_score``.
    """

    model_version: str
    as_of: dt.date
    catalogue_version: str
    base_value: float
    features: tuple[str, ...]
    rows: pd.DataFrame
    feature_values: Floats
    contributions: Floats
    peer_percentiles: Floats

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def synthetic_licensees(self) -> int:
        """How many listed licensees were made up by the generator (a data fact)."""
        return int(sum(is_synthetic_license_number(str(number))
                       for number in self.rows["license_number"]))


def rankable_features(tables: EventTables, as_of: dt.date) -> pd.DataFrame:
    """The feature table of every licensee active on ``as_of``: who gets a score.

    The contract says ``score`` covers every active licensee, so collectors (type 03,
    which the glossary calls "not ranked") are scored too; they sell no retail firearms,
    so they rank low, and a list filtered by license type leaves them out.
    """
    return build_features(tables, as_of)


def _profile(dealers: pd.DataFrame, index: pd.Index) -> dict[str, npt.NDArray[np.object_]]:
    """The profile columns of ``index``'s licensees: text, or None where unknown.

    Looked up and taken in Arrow (a hash lookup and a take), so each text becomes a Python
    string once, when the column is handed over as an object array.
    """
    numbers = dealers["license_number"].astype(str)
    first = np.flatnonzero(~numbers.duplicated().to_numpy())
    found = pc.index_in(arrow_text(index), value_set=arrow_text(numbers.iloc[first]))
    positions = pc.take(pa.array(first), found)  # null where the licensee is not a dealer
    columns = {}
    for name in PROFILE_COLUMNS:
        if name in dealers.columns:
            taken = pc.take(arrow_text(dealers[name]), positions)
            columns[name] = np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)
        else:
            columns[name] = np.full(len(index), None, dtype=object)
    return columns


def score_list(
    features: pd.DataFrame, bundle: ModelBundle, dealers: pd.DataFrame, *,
    model_version: str, as_of: dt.date, reasons: int = REASONS_PER_LICENSEE,
) -> ScoredList:
    """Score, explain and rank every row of ``features`` (index: license number).

    Rank 1 is inspected first; ties are broken by license number so lists are stable.
    ``percentile`` is the share of scored licensees ranked below this one, in percent.
    Peer percentiles compare each value with those of the same license type on the list.
    """
    names = bundle.features
    index = features.index.astype(str)
    # One float matrix, reordered as arrays: a frame of mixed blocks would be interleaved
    # again by every conversion and take (a tenth of a second each at 80,000 rows).
    matrix = features[names].to_numpy(dtype=float, na_value=np.nan)
    explanation = bundle.explain(pd.DataFrame(matrix, index=index, columns=names, copy=False))
    raw = np.asarray(explanation.raw_scores, dtype=float)
    if index.is_monotonic_increasing:  # as features are built: ties already in order
        order = np.argsort(-raw, kind="stable")
    else:
        order = (pd.DataFrame({"raw_score": raw, "license_number": index})
                 .sort_values(["raw_score", "license_number"], ascending=[False, True],
                              kind="stable").index.to_numpy())
    matrix = matrix[order]
    contribution_matrix = explanation.contributions.to_numpy(dtype=float)[order]
    raw = raw[order]
    index = index[order]
    profile = _profile(dealers, index)
    groups = np.where(pd.isna(profile["license_type"]), UNKNOWN_PEER_GROUP,
                      profile["license_type"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        # LightGBM used every core; what is left runs on one core each, side by side:
        # peer percentiles (numpy's sorts release the GIL) beside the reasons' texts.
        percentiles = pool.submit(peer_percentiles, matrix, groups)
        # Reasons compare each value with the licensee's peers: same type and state.
        peers = Peers.of(profile["license_type"], profile["premise_state"])
        texts = top_reason_texts(contribution_matrix, matrix, names, reasons, peers)
        percentile_matrix = percentiles.result()
    n = len(index)
    rank = np.arange(1, n + 1, dtype=np.int64)
    rows = pd.DataFrame({
        "license_number": index.to_numpy(dtype=object),
        "score": np.asarray(bundle.calibrator.transform(raw), dtype=float),
        "raw_score": raw,
        "rank": rank,
        "percentile": 100.0 * (n - rank) / n if n else np.empty(0),
        "top_reasons": texts,
        # Object columns keep None for a missing value (pandas would infer NaN).
        **{name: pd.Series(profile[name], dtype=object, copy=False) for name in PROFILE_COLUMNS},
    })
    return ScoredList(
        model_version=str(model_version), as_of=as_of,
        catalogue_version=str(bundle.metadata.get("catalogue_version", CATALOGUE_VERSION)),
        base_value=float(explanation.base_value), features=tuple(names), rows=rows,
        feature_values=matrix, contributions=contribution_matrix,
        peer_percentiles=percentile_matrix,
    )


#: The contract's score file: at least license_number, score, rank.
SCORE_CSV_COLUMNS = ("license_number", "score", "raw_score", "rank", "percentile")


def write_score_csv(scored: ScoredList, path: str) -> None:
    """The contract's score file: license_number, score, rank, plus percentile and reasons."""
    out = scored.rows[list(SCORE_CSV_COLUMNS)].copy()
    for i in range(REASONS_PER_LICENSEE):
        out[f"reason_{i + 1}"] = [row[i] if len(row) > i else ""
                                  for row in scored.rows["top_reasons"]]
    frame_to_csv(out, path, float_format="%.10g")  # neutralises formulas
