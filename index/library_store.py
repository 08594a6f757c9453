"""Where libraries live, as an interface: a second implementation is a new module, nothing else changes.

A library is named by its key ("default", or "server-<id>"). The store keeps each library's
published versions (one is current), the sources its versions were built from, and a lock that
one change at a time holds. `file_store.FileLibraryStore` is the first implementation: folders on
one disk with a `CURRENT` file swapped atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from .store import IndexManifest, NewVersion, StoredIndex, WriteStep

DEFAULT_KEY = "default"


def library_key(server_id: int | None) -> str:
    """The key of a server's own library; None (a DM, the terminal) is the default library."""
    return DEFAULT_KEY if server_id is None else f"server-{int(server_id)}"


def server_of(key: str) -> int | None:
    """The server a library key belongs to (None for the default library)."""
    return None if key == DEFAULT_KEY else int(key.removeprefix("server-"))


class LibraryStore(Protocol):
    """Libraries' versions, sources and locks. Every change happens while its caller holds `locked`."""

    def exists(self, key: str) -> bool:
        """Whether the library has a published version."""
        ...

    def read(self, key: str, *, model: str | None = None) -> StoredIndex:
        """The current version, verified; IndexMissing, IndexMismatch or IndexCorrupt if it cannot serve."""
        ...

    def manifest(self, key: str) -> IndexManifest:
        """The current version's manifest alone (its sources and counts), without the vectors."""
        ...

    def publish(self, key: str, version: NewVersion, on_step: WriteStep | None = None) -> StoredIndex:
        """Make `version` current in one atomic step; on failure the current version stays as it was."""
        ...

    def keep_source(self, key: str, name: str, data: bytes) -> Path:
        """Keep a document's bytes so the library can be rebuilt from them; returns where they are."""
        ...

    def drop_unused(self, key: str) -> None:
        """Remove sources and unfinished versions the current version does not use (all of them if
        there is none). Only while holding `locked(key)`."""
        ...

    def library_keys(self) -> list[str]:
        """Every library with a published version."""
        ...

    def locked(self, key: str, holder: str) -> AbstractContextManager[None]:
        """Hold the library for one change; BuildInProgress, naming the holder, if another holds it."""
        ...

    def holder(self, key: str) -> str | None:
        """Who holds the library's lock now (None when nobody does)."""
        ...

    def delete(self, key: str) -> bool:
        """Delete a library and everything it keeps; False if there was none."""
        ...

    def version(self, key: str) -> str | None:
        """An id of the library's current version, new with every publish (None when it has none)."""
        ...

    def versions(self, keys: list[str]) -> dict[str, str | None]:
        """`version` of each of these libraries, in one look."""
        ...

    def watch(self, changed: Callable[[str | None], None]) -> Callable[[], None]:
        """Call `changed(key)` soon after another process publishes or deletes a library, and
        `changed(None)` when changes may have been missed (check every library); returns the
        function that stops watching."""
        ...

    def scratch(self, key: str) -> Path:
        """A local folder a build may keep reusable work in (the embedding cache)."""
        ...

    def close(self) -> None:
        """Let go of what the store holds open (its database connections); at exit."""
        ...
