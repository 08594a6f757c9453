"""Libraries: the documents one community answers from, each with its own index directory.

The default library answers wherever no library of its own exists (the configured corpus); a
server's library lives under INDEX_DIR/servers/<id>/. This module knows which directory is whose,
what a library holds, and keeps loaded libraries in memory, least recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .documents import Document, DocumentMeta
from .retrieve import Retriever
from .store import CURRENT, IndexManifest, SourceRecord, StoredIndex

DEFAULT_KEY = "default"
SERVERS = "servers"


def library_key(server_id: int | None) -> str:
    """The key of a server's own library; None (a DM, the terminal) is the default library."""
    return DEFAULT_KEY if server_id is None else f"server-{int(server_id)}"


def library_directory(index_dir: Path, key: str) -> Path:
    """Where a library's index lives. The default one is INDEX_DIR itself, as before libraries."""
    if key == DEFAULT_KEY:
        return index_dir
    return index_dir / SERVERS / key.removeprefix("server-")


def has_index(directory: Path) -> bool:
    return (directory / CURRENT).is_file()


@dataclass(frozen=True)
class LiveLibrary:
    """A loaded library: its verified index and the retriever over it."""

    key: str
    stored: StoredIndex
    retriever: Retriever


@dataclass(frozen=True)
class DocumentSummary:
    """One document of a library as members see it in /docs list and autocomplete."""

    key: str
    title: str
    author: str | None
    date: str | None
    paragraphs: int
    sentences: int
    name: str
    origin: str
    added_by: str | None
    added_at: str | None
    url: str | None = None
    via: str | None = None  # "text" or "message" (see SourceRecord)
    link: str | None = None


@dataclass(frozen=True)
class LibrarySummary:
    """What a library holds, read-only, for /about, /docs list and the CLI."""

    is_default: bool
    documents: tuple[DocumentSummary, ...]
    paragraphs: int
    sentences: int
    model: str
    built_at: str
    index_type: str

    @property
    def titles(self) -> tuple[str, ...]:
        return tuple(d.title for d in self.documents)


def summarize(key: str, stored: StoredIndex) -> LibrarySummary:
    manifest: IndexManifest = stored.manifest
    documents = tuple(
        _document_summary(document, record)
        for document, record in zip(stored.documents, _records_for(manifest, len(stored.documents)), strict=True)
    )
    return LibrarySummary(
        is_default=key == DEFAULT_KEY,
        documents=documents,
        paragraphs=manifest.counts.get("body_paragraphs", 0),
        sentences=manifest.counts.get("sentences", 0),
        model=manifest.model,
        built_at=manifest.built_at,
        index_type=manifest.index_type,
    )


def _records_for(manifest: IndexManifest, count: int) -> list[SourceRecord | None]:
    records: list[SourceRecord | None] = list(manifest.sources)
    return (records + [None] * count)[:count]


def _document_summary(document: Document, record: SourceRecord | None) -> DocumentSummary:
    meta: DocumentMeta = document.meta
    return DocumentSummary(
        key=record.key if record else "",
        title=meta.title,
        author=meta.author,
        date=meta.date,
        paragraphs=document.body_paragraph_count,
        sentences=len(document.sentences),
        name=record.name if record else meta.source_name,
        origin=record.origin if record else "configured",
        added_by=record.added_by if record else None,
        added_at=record.added_at if record else None,
        url=record.url if record else None,
        via=record.via if record else None,
        link=record.link if record else None,
    )


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
