"""What a serving process holds: a stored scored list, its model, and every explanation.

One :class:`ServingState` is built completely (model loaded, the list's artifact read)
before it is published by a single reference assignment in :class:`StateHolder`. A
request takes the reference once and uses that object throughout, so it never sees a
half-loaded model or numbers from two versions. Explanations are array lookups into the
stored list (``scoring.lists``), never model calls; only what-if runs the model.

Which list is served: the newest stored list of the champion version. When the champion
has no stored list yet (promoted, not yet scored), the previous newest list keeps being
served, labelled with its own model version, and the state says so in ``notes`` (shown
by /readyz, the models page and the pages' banner) until ``dealer-risk score`` stores
one. Nothing is computed at load.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
import pydantic_core
from sqlalchemy import Engine

from features.catalogue import describe, get_feature
from models.bundle import ModelBundle
from models.registry import REGISTERED_MODEL_NAME, champion_version, load_bundle
from scoring.lists import ListInfo, latest_list, list_info, read_score_list
from scoring.score import PROFILE_COLUMNS, UNKNOWN_PEER_GROUP, ScoredList
from serving.memo import PAGE_MEMO_BYTES, PAGE_MEMO_ENTRIES, Memo, RenderedPage
from serving.schemas import RankedItemPublic

logger = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]


class NotReady(RuntimeError):
    """There is no champion, or no scored list to serve."""


class RankedItems(Sequence[RankedItemPublic]):
    """The list's items as RankedItemPublic, each made when asked for.

    Making all 80,000 at load cost about 1 s of the start-up; a request needs at most a
    page of them (the JSON of every item is in ``RankedList.items_buffer`` already).
    """

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> RankedItemPublic: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RankedItemPublic]: ...

    def __getitem__(self, index: int | slice) -> RankedItemPublic | Sequence[RankedItemPublic]:
        if isinstance(index, slice):
            return [RankedItemPublic.model_validate(r) for r in self._records[index]]
        return RankedItemPublic.model_validate(self._records[int(index)])

    def field(self, name: str) -> list[Any]:
        """One field of every item, in rank order (for sorting without making items)."""
        return [record[name] for record in self._records]


@dataclass(frozen=True)
class RankedList:
    """The scored list in rank order, one array per column, items pre-serialised.

    Pre-serialising each item once at load makes a page a join of byte strings, which is
    what keeps the list endpoint near the cost of a bare endpoint.
    """

    license_numbers: Objects
    ranks: npt.NDArray[np.int64]
    scores: Floats
    raw_scores: Floats
    percentiles: Floats
    field_divisions: Objects
    premise_states: Objects
    license_types: Objects
    items: RankedItems
    #: Every item's JSON, in rank order, each followed by a comma; item ``i`` starts at
    #: ``item_offsets[i]`` (and ``item_offsets[n]`` is the length), so a run of
    #: consecutive items is one slice of the buffer.
    items_buffer: bytes
    item_offsets: npt.NDArray[np.int64]
    positions: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class ExplanationTable:
    """Feature values, SHAP contributions and peer percentiles of every scored licensee."""

    features: tuple[str, ...]
    families: tuple[str, ...]
    license_numbers: Objects
    license_types: Objects
    field_divisions: Objects
    positions: Mapping[str, int]
    feature_values: Floats  # licensees x features, NaN = unknown
    contributions: Floats  # licensees x features, log-odds
    peer_percentiles: Floats  # licensees x features, NaN = unknown value
    base_value: float
    raw_scores: Floats
    scores: Floats
    #: Per licensee, the feature columns by falling absolute contribution (ties by name):
    #: sorted once at load, so an explanation lists its features without sorting.
    orders: npt.NDArray[np.int16]
    #: Per feature, the plain-words sentence of each distinct value, and per licensee and
    #: feature the position of its value's sentence: each written once, the first time an
    #: explanation needs it, so explanations look their sentences up instead of writing
    #: them (half their cost) and the load does not write 300,000 of them up front.
    sentences: ValueSentences
    sentence_codes: npt.NDArray[np.int32]


@dataclass(frozen=True)
class ServingState:
    """Everything one request needs, loaded completely before it is published."""

    #: The served list's model version (every number of the state is this version's).
    model_version: str
    as_of: dt.date
    list_id: int
    bundle: ModelBundle
    ranked: RankedList
    explanations: ExplanationTable
    loaded_at: dt.datetime
    signature: tuple[str, int | None]
    #: The champion when the state was loaded; differs from ``model_version`` only while
    #: the champion has no stored list of its own.
    champion_version: str
    #: How many listed licensees were made up by the generator (recorded with the list).
    synthetic_licensees: int = 0
    notes: tuple[str, ...] = ()

    @functools.cached_property
    def pages(self) -> Memo[RenderedPage]:
        """The ranked list's pages rendered from this state (see ``serving.ranked``)."""
        return Memo(PAGE_MEMO_ENTRIES, PAGE_MEMO_BYTES)

    @functools.cached_property
    def list_token(self) -> str:
        """Short identity of the list, so a cursor from another list is recognised."""
        key = f"{self.model_version}|{self.as_of.isoformat()}|{self.list_id}"
        return hashlib.sha256(key.encode()).hexdigest()[:8]


def build_ranked_list(scored: ScoredList) -> RankedList:
    """Arrays and serialised items of a stored list (rows in rank order)."""
    rows = scored.rows
    index = rows["license_number"].astype(str).tolist()
    columns = {name: rows[name].to_numpy(dtype=object) for name in PROFILE_COLUMNS}
    # Plain records: one JSON serialisation each, and an item only when one is asked for.
    profile = zip(*(rows[name].tolist() for name in PROFILE_COLUMNS), strict=True)
    records = [
        {"license_number": number, **dict(zip(PROFILE_COLUMNS, values, strict=True)),
         "score": score, "rank": rank, "percentile": percentile,
         "top_reasons": [str(reason) for reason in reasons]}
        for number, values, score, rank, percentile, reasons in zip(
            index, profile, rows["score"].tolist(), rows["rank"].tolist(),
            rows["percentile"].tolist(), rows["top_reasons"].tolist(), strict=True)
    ]
    # The same bytes as each item's model_dump_json (the keys in the model's order).
    encoded = [pydantic_core.to_json(record) + b"," for record in records]
    return RankedList(
        license_numbers=np.asarray(index, dtype=object),
        ranks=rows["rank"].to_numpy(dtype=np.int64),
        scores=rows["score"].to_numpy(dtype=float),
        raw_scores=rows["raw_score"].to_numpy(dtype=float),
        percentiles=rows["percentile"].to_numpy(dtype=float),
        field_divisions=columns["field_division"],
        premise_states=columns["premise_state"],
        license_types=columns["license_type"],
        items=RankedItems(records),
        items_buffer=b"".join(encoded),
        item_offsets=np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(
            np.int64),
        positions={number: i for i, number in enumerate(index)},
    )


def build_explanation_table(scored: ScoredList) -> ExplanationTable:
    """Every listed licensee's values, SHAP contributions and peer percentiles, as stored."""
    rows = scored.rows
    names = list(scored.features)
    index = rows["license_number"].astype(str).tolist()
    license_types = rows["license_type"].to_numpy(dtype=object).copy()
    license_types[pd.isna(license_types)] = UNKNOWN_PEER_GROUP
    sentences, sentence_codes = value_sentences(scored.feature_values, names)
    return ExplanationTable(
        features=tuple(names),
        families=tuple(str(get_feature(name).family) for name in names),
        license_numbers=np.asarray(index, dtype=object),
        license_types=license_types,
        field_divisions=rows["field_division"].to_numpy(dtype=object),
        positions={number: i for i, number in enumerate(index)},
        feature_values=scored.feature_values,
        contributions=scored.contributions,
        peer_percentiles=scored.peer_percentiles,
        base_value=scored.base_value,
        raw_scores=rows["raw_score"].to_numpy(dtype=float),
        scores=rows["score"].to_numpy(dtype=float),
        orders=contribution_orders(scored.contributions, names),
        sentences=sentences,
        sentence_codes=sentence_codes,
    )


class ValueSentences:
    """Per feature, the sentence of each distinct value, written when first asked for.

    Writing all of them at load took a national list's state 1.1 s of its start-up (about
    300,000 distinct values); an explanation writes at most its own 75 once, and a
    sentence once written is shared by every licensee with that value. Threads that
    write the same sentence at once write the same text, so no lock is needed.
    """

    def __init__(self, names: Sequence[str], distinct: Sequence[Floats]) -> None:
        self._names = tuple(names)
        self._distinct = [column.tolist() for column in distinct]
        self._written: list[list[str | None]] = [[None] * len(column) for column in distinct]

    def of_row(self, codes: Sequence[int]) -> list[str]:
        """The sentences of one row's values, given each column's code for its value."""
        sentences = []
        for column, code in enumerate(codes):
            written = self._written[column]
            sentence = written[code]
            if sentence is None:
                value = self._distinct[column][code]
                sentence = written[code] = describe(
                    self._names[column], None if math.isnan(value) else value)
            sentences.append(sentence)
        return sentences


def value_sentences(values: Floats, names: list[str]
                    ) -> tuple[ValueSentences, npt.NDArray[np.int32]]:
    """Per feature, the sentences of its distinct values; per row, which sentence is its own.

    Unknown values (NaN) share one sentence, the catalogue's for an unknown value.
    """
    distinct_values = []
    codes = np.empty(values.shape, dtype=np.int32)
    for column in range(len(names)):
        distinct, inverse = np.unique(values[:, column], return_inverse=True)
        distinct_values.append(distinct)
        codes[:, column] = inverse.reshape(-1)
    return ValueSentences(names, distinct_values), codes


def contribution_orders(contributions: Floats, names: list[str]) -> npt.NDArray[np.int16]:
    """Column order per row: largest absolute contribution first, ties by feature name."""
    by_name = np.argsort(np.argsort(np.asarray(names, dtype=object)))
    keys = (np.broadcast_to(by_name, contributions.shape), -np.abs(contributions))
    return np.lexsort(keys, axis=-1).astype(np.int16)


Signature = tuple[str, int | None]


def served_list(engine: Engine, champion: str) -> ListInfo | None:
    """The list to serve: the champion's newest stored list, else the newest of any model."""
    return (latest_list(engine, model_version=champion, servable=True)
            or latest_list(engine, servable=True))


def state_signature(engine: Engine, version: str) -> Signature:
    """What decides the served state: the champion version and the list served with it."""
    listing = served_list(engine, version)
    return (version, listing.list_id if listing else None)


def load_state(
    engine: Engine, tracking_uri: str, version: str, signature: Signature | None = None,
) -> ServingState:
    """Build the complete state for champion ``version`` (see the module docstring)."""
    signature = signature or state_signature(engine, version)
    listing = list_info(engine, signature[1]) if signature[1] is not None else None
    if listing is None:
        raise NotReady("no scored list in the store: run `dealer-risk score --as-of DATE`")
    scored = read_score_list(engine, listing.list_id)
    # The list's own model explains it and answers its what-ifs, so every number of the
    # state comes from one version, even while a new champion waits for its list.
    bundle, _ = load_bundle(tracking_uri,
                            f"models:/{REGISTERED_MODEL_NAME}/{listing.model_version}")
    notes: list[str] = []
    if listing.model_version != str(version):
        notes.append(
            f"champion version {version} has no stored list yet; serving version "
            f"{listing.model_version}'s list {listing.list_id} as of {listing.as_of} until "
            f"`dealer-risk score --as-of DATE` stores one")
    for note in notes:
        logger.warning("%s", note)
    return ServingState(
        model_version=listing.model_version, as_of=listing.as_of, list_id=listing.list_id,
        bundle=bundle, ranked=build_ranked_list(scored),
        explanations=build_explanation_table(scored), loaded_at=dt.datetime.now(dt.UTC),
        signature=signature, champion_version=str(version),
        synthetic_licensees=(listing.synthetic_licensees
                             if listing.synthetic_licensees is not None
                             else scored.synthetic_licensees),
        notes=tuple(notes),
    )


Loader = Callable[[Engine, str, str, Signature], ServingState]


def _without_collections(loader: Loader, *args: Any) -> ServingState:
    """Run a loader with the cyclic garbage collector paused.

    Building a state creates millions of objects that all survive; the collector kept
    walking them, about ten full collections of 0.4 s each at 20,000 licensees. Reference
    counting still frees what the loader drops; :func:`settle_heap` collects after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return loader(*args)
    finally:
        if enabled:
            gc.enable()


def settle_heap() -> None:
    """Collect the previous state's garbage, then keep every live object out of later collections.

    A loaded state is millions of long-lived objects. Python's full collections walk them
    all: in a serving process under load that was about 0.45 s every few seconds (a fifth
    of its CPU time, and the worst latencies). Frozen objects are skipped by the collector
    (they are still freed by reference counting). Called after each publication, so a
    promotion costs one full collection instead.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class StateHolder:
    """Holds the published :class:`ServingState` and replaces it when the champion moves.

    ``current`` is read without a lock: publishing is one reference assignment, atomic in
    Python, and a state is immutable once built. Loads are serialised by a lock so two
    refreshes never build the same state twice.
    """

    def __init__(self, engine: Engine, tracking_uri: str, loader: Loader = load_state) -> None:
        self.engine = engine
        self.tracking_uri = tracking_uri
        self._loader = loader
        self._state: ServingState | None = None
        self._lock = threading.Lock()
        self.champion_version: str | None = None
        self.last_error: str | None = None
        self.last_check: dt.datetime | None = None
        #: Set once the first refresh has finished, whether it published a state or not.
        self.first_refresh_done = threading.Event()

    @property
    def current(self) -> ServingState | None:
        """The published state, or None before the first successful load."""
        return self._state

    def refresh(self) -> bool:
        """Load a new state if the champion or its list changed; True when one was published.

        On failure the previous state stays published and the error is kept for /readyz.
        """
        try:
            return self._refresh()
        finally:
            self.first_refresh_done.set()

    def _refresh(self) -> bool:
        with self._lock:
            self.last_check = dt.datetime.now(dt.UTC)
            try:
                version = champion_version(self.tracking_uri)
                self.champion_version = version
                if version is None:
                    raise NotReady("no champion model: run `dealer-risk promote VERSION`")
                signature = state_signature(self.engine, version)
                current = self._state
                if current is not None and current.signature == signature:
                    self.last_error = None
                    return False
                state = _without_collections(self._loader, self.engine, self.tracking_uri,
                                             version, signature)
            except Exception as error:
                # Shown to anyone (/readyz, every 503 while loading): a NotReady says what
                # to run; anything else (a store's or MLflow's own text) only to the log.
                self.last_error = (str(error) if isinstance(error, NotReady) else
                                   f"loading the serving state failed ({type(error).__name__}; "
                                   "see the server log)")
                if not isinstance(error, NotReady):
                    logger.exception("loading the serving state failed")
                else:
                    logger.warning("not ready: %s", error)
                return False
            self._state = state  # the one publishing step
            self.last_error = None
            logger.info("serving model version %s, list %s as of %s", state.model_version,
                        state.list_id, state.as_of)
        settle_heap()
        return True

    def describe(self) -> dict[str, Any]:
        """What /readyz reports about loading."""
        return {"champion_version": self.champion_version, "last_error": self.last_error,
                "last_check": self.last_check}
