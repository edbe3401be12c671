"""What a serving process holds: the champion, its scored list, and every explanation.

One :class:`ServingState` is built completely (model loaded, list read, feature table of the
list's as-of date rebuilt from the store, SHAP computed for every licensee) before it is
published by a single reference assignment in :class:`StateHolder`. A request takes the
reference once and uses that object throughout, so it never sees a half-loaded model or
numbers from two versions. Explanations are array lookups, not model calls.

Which list is served: the newest stored list of the champion version. When the champion
has no stored list yet (promoted, not yet scored), the list is computed at load with the
champion on the as-of date of the newest stored list, exactly as ``dealer-risk score``
would compute it, and marked as not stored (``list_id`` null). Every worker computes the
same list from the same store and model, so nothing needs to be shared between them.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine, select

from features.catalogue import describe, get_feature
from features.io import load_tables, read_table
from features.store import schema
from models.bundle import ModelBundle
from models.registry import REGISTERED_MODEL_NAME, champion_version, load_bundle
from models.scoring import latest_score_list, rankable_features, score_features
from serving.schemas import RankedItemPublic

if TYPE_CHECKING:
    from serving.ranked import RenderedPage

logger = logging.getLogger(__name__)

Floats = npt.NDArray[np.float64]
Objects = npt.NDArray[np.object_]

#: Stored and recomputed raw scores further apart than this are reported at load.
_RAW_SCORE_TOLERANCE = 1e-6


class NotReady(RuntimeError):
    """There is no champion, or no scored list to serve."""


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
    items: tuple[RankedItemPublic, ...]
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
    #: feature the position of its value's sentence: written once at load, so an
    #: explanation looks its sentences up instead of writing them (half its cost).
    sentences: tuple[tuple[str, ...], ...]
    sentence_codes: npt.NDArray[np.int32]


class Sized(Protocol):
    """What a :class:`Memo` holds: values that know their size in bytes."""

    @property
    def nbytes(self) -> int:
        """About how much memory the value holds."""


Value = TypeVar("Value", bound=Sized)


class Memo(Generic[Value]):
    """Answers computed from one state, kept for the next identical request.

    A state never changes, so an answer that depends only on it and the request stays
    right for as long as the state is served, and goes with it. An answer is kept once
    it has been asked for twice among the last ``entries`` distinct keys: a one-off
    request (someone jumping around the list) neither pays for keeping its answer nor
    pushes out one that is asked for again and again. Bounded by count and by bytes; the
    oldest entry goes first. Used on the event loop only (no lock).
    """

    def __init__(self, entries: int, nbytes: int) -> None:
        self.max_entries = entries
        self.max_bytes = nbytes
        self.nbytes = 0
        self._values: dict[Hashable, Value] = {}
        self._seen: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> Value | None:
        """The value kept for ``key``, if any."""
        return self._values.get(key)

    def put(self, key: Hashable, value: Value) -> bool:
        """Offer ``value`` for ``key``; whether it is kept (see the class)."""
        if key in self._values or value.nbytes > self.max_bytes:
            return False
        if key not in self._seen:
            if len(self._seen) >= self.max_entries:
                self._seen.clear()
            self._seen.add(key)
            return False
        self._seen.discard(key)
        self._values[key] = value
        self.nbytes += value.nbytes
        while len(self._values) > self.max_entries or self.nbytes > self.max_bytes:
            oldest = next(iter(self._values))
            self.nbytes -= self._values.pop(oldest).nbytes
        return True


#: Rendered pages of the ranked list kept per state: the first pages of each filter a
#: field division uses, with room to spare, and at most 64 MiB (a 1,000-row CSV export
#: is about 200 KB).
PAGE_MEMO_ENTRIES = 1024
PAGE_MEMO_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ServingState:
    """Everything one request needs, loaded completely before it is published."""

    model_version: str
    as_of: dt.date
    list_id: int | None
    bundle: ModelBundle
    ranked: RankedList
    explanations: ExplanationTable
    loaded_at: dt.datetime
    signature: tuple[str, int | None, int | None]
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


def _text_column(frame: pd.DataFrame, column: str, index: pd.Index) -> Objects:
    values = frame[column].reindex(index) if column in frame.columns else pd.Series(
        None, index=index, dtype=object)
    return np.asarray([None if pd.isna(v) else str(v) for v in values], dtype=object)


def peer_percentiles(values: pd.DataFrame, groups: pd.Series) -> Floats:
    """Per value, the percent of its group with a lower value, counting ties as half.

    ``groups`` (aligned with ``values``) names each row's peer group; unknown values get
    NaN and are not counted among the peers.
    """
    grouped = values.groupby(groups.to_numpy(), sort=False)
    lowest = grouped.rank(method="min").to_numpy(dtype=float)
    highest = grouped.rank(method="max").to_numpy(dtype=float)
    known = values.notna().groupby(groups.to_numpy(), sort=False).transform("sum")
    count = known.to_numpy(dtype=float)
    below = lowest - 1
    ties = highest - lowest + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = 100.0 * (below + 0.5 * ties) / count
    return np.asarray(percent, dtype=float)


def _stored_scores(engine: Engine, list_id: int) -> pd.DataFrame:
    rows = schema.scores
    statement = select(rows.c.license_number, rows.c.score, rows.c.raw_score, rows.c.rank,
                       rows.c.percentile, rows.c.top_reasons).where(rows.c.list_id == list_id)
    with engine.connect() as connection:
        result = connection.execute(statement.order_by(rows.c.rank))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame["top_reasons"] = [json.loads(text) for text in frame["top_reasons"]]
    return frame


def build_ranked_list(scores: pd.DataFrame, dealers: pd.DataFrame) -> RankedList:
    """Arrays and serialised items of a scored list (``scores`` as ``score_features`` has it)."""
    scores = scores.sort_values("rank", kind="stable").reset_index(drop=True)
    profile = dealers.drop_duplicates("license_number").set_index("license_number")
    index = pd.Index(scores["license_number"].astype(str))
    columns = {
        name: _text_column(profile, name, index)
        for name in ("business_name", "premise_city", "premise_state", "field_division",
                     "license_type")
    }
    items = tuple(
        RankedItemPublic(
            license_number=license_number,
            business_name=columns["business_name"][i],
            premise_city=columns["premise_city"][i],
            premise_state=columns["premise_state"][i],
            field_division=columns["field_division"][i],
            license_type=columns["license_type"][i],
            score=float(score), rank=int(rank), percentile=float(percentile),
            top_reasons=[str(reason) for reason in reasons],
        )
        for i, (license_number, score, rank, percentile, reasons) in enumerate(zip(
            index, scores["score"], scores["rank"], scores["percentile"],
            scores["top_reasons"], strict=True))
    )
    encoded = [item.model_dump_json().encode() + b"," for item in items]
    return RankedList(
        license_numbers=np.asarray(index, dtype=object),
        ranks=scores["rank"].to_numpy(dtype=np.int64),
        scores=scores["score"].to_numpy(dtype=float),
        raw_scores=scores["raw_score"].to_numpy(dtype=float),
        percentiles=scores["percentile"].to_numpy(dtype=float),
        field_divisions=columns["field_division"],
        premise_states=columns["premise_state"],
        license_types=columns["license_type"],
        items=items,
        items_buffer=b"".join(encoded),
        item_offsets=np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(
            np.int64),
        positions={number: i for i, number in enumerate(index)},
    )


def build_explanation_table(
    features: pd.DataFrame, bundle: ModelBundle, dealers: pd.DataFrame
) -> ExplanationTable:
    """SHAP for every row of ``features``, with values and peer percentiles by license type."""
    names = bundle.features
    values = features[names].astype(float)
    explanation = bundle.explain(values)
    contributions = explanation.contributions[names].to_numpy(dtype=float)
    index = values.index.astype(str)
    profile = dealers.drop_duplicates("license_number").set_index("license_number")
    types = pd.Series(_text_column(profile, "license_type", index), index=values.index)
    types = types.fillna("unknown")
    sentences, sentence_codes = value_sentences(values.to_numpy(dtype=float), names)
    return ExplanationTable(
        features=tuple(names),
        families=tuple(str(get_feature(name).family) for name in names),
        license_numbers=np.asarray(index, dtype=object),
        license_types=types.to_numpy(dtype=object),
        field_divisions=_text_column(profile, "field_division", index),
        positions={number: i for i, number in enumerate(index)},
        feature_values=values.to_numpy(dtype=float),
        contributions=contributions,
        peer_percentiles=peer_percentiles(values, types),
        base_value=float(explanation.base_value),
        raw_scores=np.asarray(explanation.raw_scores, dtype=float),
        scores=np.asarray(bundle.calibrator.transform(explanation.raw_scores), dtype=float),
        orders=contribution_orders(contributions, names),
        sentences=sentences,
        sentence_codes=sentence_codes,
    )


def value_sentences(
    values: Floats, names: list[str]
) -> tuple[tuple[tuple[str, ...], ...], npt.NDArray[np.int32]]:
    """Per feature, the sentence of each distinct value; per row, which sentence is its own.

    Unknown values (NaN) share one sentence, the catalogue's for an unknown value.
    """
    sentences = []
    codes = np.empty(values.shape, dtype=np.int32)
    for column, name in enumerate(names):
        distinct, inverse = np.unique(values[:, column], return_inverse=True)
        sentences.append(tuple(describe(name, None if math.isnan(value) else value)
                               for value in distinct.tolist()))
        codes[:, column] = inverse.reshape(-1)
    return tuple(sentences), codes


def contribution_orders(contributions: Floats, names: list[str]) -> npt.NDArray[np.int16]:
    """Column order per row: largest absolute contribution first, ties by feature name."""
    by_name = np.argsort(np.argsort(np.asarray(names, dtype=object)))
    keys = (np.broadcast_to(by_name, contributions.shape), -np.abs(contributions))
    return np.lexsort(keys, axis=-1).astype(np.int16)


def state_signature(engine: Engine, version: str) -> tuple[str, int | None, int | None]:
    """What decides the served state: champion, its newest list, else the newest list."""
    own = latest_score_list(engine, model_version=version)
    newest = latest_score_list(engine)
    own_id = int(own["list_id"]) if own else None  # type: ignore[call-overload]
    newest_id = int(newest["list_id"]) if newest else None  # type: ignore[call-overload]
    # With its own list, later lists of other versions do not matter.
    return (version, own_id, None if own_id is not None else newest_id)


def load_state(
    engine: Engine, tracking_uri: str, version: str,
    signature: tuple[str, int | None, int | None] | None = None,
) -> ServingState:
    """Build the complete state for model ``version`` (see the module docstring)."""
    signature = signature or state_signature(engine, version)
    bundle, _ = load_bundle(tracking_uri, f"models:/{REGISTERED_MODEL_NAME}/{version}")
    listing = latest_score_list(engine, model_version=version)
    if listing is None:
        listing_any = latest_score_list(engine)
        if listing_any is None:
            raise NotReady("no scored list in the store: run `dealer-risk score --as-of DATE`")
        as_of = _as_date(listing_any["as_of"])
    else:
        as_of = _as_date(listing["as_of"])
    tables = load_tables(engine, known_before=as_of)
    features = rankable_features(tables, as_of)
    dealers = read_table(engine, "dealers")
    notes: list[str] = []
    if listing is not None:
        list_id: int | None = int(listing["list_id"])  # type: ignore[call-overload]
        scores = _stored_scores(engine, list_id)  # type: ignore[arg-type]
    else:
        list_id = None
        scores = score_features(features, bundle)
        notes.append(f"version {version} has no stored list; computed as of {as_of} at load")
    explanations = build_explanation_table(features, bundle, dealers)
    ranked = build_ranked_list(scores, dealers)
    notes.extend(_compare(ranked, explanations))
    for note in notes:
        logger.warning("%s", note)
    return ServingState(
        model_version=str(version), as_of=as_of, list_id=list_id, bundle=bundle,
        ranked=ranked, explanations=explanations, loaded_at=dt.datetime.now(dt.UTC),
        signature=signature, notes=tuple(notes),
    )


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _compare(ranked: RankedList, explanations: ExplanationTable) -> list[str]:
    """Notes where the stored list and today's rebuild of its features disagree.

    They agree unless facts dated before the list's as-of date arrived after it was
    scored; explanations then describe the rebuilt features, and the operator should
    rescore.
    """
    positions = [explanations.positions.get(n, -1) for n in ranked.license_numbers]
    present = np.asarray(positions) >= 0
    notes = []
    if (~present).any():
        notes.append(f"{int((~present).sum())} listed licensees are missing from the "
                     "rebuilt feature table and have no explanation")
    if present.any():
        stored = ranked.raw_scores[present]
        rebuilt = explanations.raw_scores[np.asarray(positions)[present]]
        differing = int((np.abs(stored - rebuilt) > _RAW_SCORE_TOLERANCE).sum())
        if differing:
            notes.append(f"{differing} stored raw scores differ from the rebuilt features' "
                         "(late-arriving data?); rescore to bring the list up to date")
    return notes


Loader = Callable[[Engine, str, str, tuple[str, int | None, int | None]], ServingState]


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

    @property
    def current(self) -> ServingState | None:
        """The published state, or None before the first successful load."""
        return self._state

    def refresh(self) -> bool:
        """Load a new state if the champion or its list changed; True when one was published.

        On failure the previous state stays published and the error is kept for /readyz.
        """
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
                self.last_error = f"{type(error).__name__}: {error}"
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
