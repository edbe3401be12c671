"""Answers kept per serving state: the memo and the rendered pages it holds."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar


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


Kept = TypeVar("Kept")


class KeptValues(Generic[Kept]):
    """The last ``entries`` values by key, for values that never change once stored (a
    stored plan, a monitor result, the comparison of two lists), shared by threads.

    A value missing is computed outside the lock, so a slow computation holds up no other
    key (two requests for the same new key may both compute it); nothing found (None) is
    not kept. The least recently used value goes first.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._values: OrderedDict[Hashable, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Kept | None]) -> Kept | None:
        """The value kept for ``key``, else ``compute()``'s, kept unless it is None."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values.move_to_end(key)
                return found
        found = compute()
        if found is not None:
            with self._lock:
                self._values[key] = found
                while len(self._values) > self.entries:
                    self._values.popitem(last=False)
        return found


#: Rendered pages of the ranked list kept per state: the first pages of each filter a
#: field division uses, with room to spare, and at most 64 MiB (a 1,000-row CSV export
#: is about 200 KB).
PAGE_MEMO_ENTRIES = 1024
PAGE_MEMO_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RenderedPage:
    """A page as answered: its body and headers, and what its audit row says.

    The API keeps these per state (``ServingState.pages``): the same request to the same
    state gets the same page, so only the audit row is written anew.
    """

    body: bytes
    media_type: str
    headers: Mapping[str, str]
    action: str
    detail: Mapping[str, Any]

    @property
    def nbytes(self) -> int:
        """The body's size (what the memo counts)."""
        return len(self.body)
