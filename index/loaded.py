"""Libraries loaded in memory, by key: the least recently used dropped first, the default kept."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from .library_store import DEFAULT_KEY
from .retrieve import Retriever
from .store import StoredIndex


@dataclass(frozen=True)
class LiveLibrary:
    """A loaded library: its verified index and the retriever over it."""

    key: str
    stored: StoredIndex
    retriever: Retriever
    version: str | None = None  # the store's version id it was loaded as (see LibraryStore.version)


class LoadedLibraries:
    """Loaded libraries by key, at most `capacity` of them; the default one is never dropped.

    Thread-safe. `lock_for(key)` serialises loading and publishing one library, so a load that
    started before a build finished can never put the older index back.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._live: OrderedDict[str, LiveLibrary] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def lock_for(self, key: str) -> threading.Lock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock

    def get(self, key: str) -> LiveLibrary | None:
        with self._lock:
            live = self._live.get(key)
            if live is not None:
                self._live.move_to_end(key)
            return live

    def put(self, live: LiveLibrary) -> None:
        with self._lock:
            self._live[live.key] = live
            self._live.move_to_end(live.key)
            while len(self._live) > self.capacity:
                oldest = next((k for k in self._live if k != DEFAULT_KEY), None)
                if oldest is None:
                    break
                del self._live[oldest]

    def drop(self, key: str) -> None:
        with self._lock:
            self._live.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def loaded_keys(self) -> list[str]:
        with self._lock:
            return list(self._live)
