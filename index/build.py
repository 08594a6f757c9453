"""Index builds: read and clean each source, embed what is new, write the index with the atomic swap.

A build knows nothing of what is live: it takes the sources of one library and the store that
keeps it, publishes a new version there, and returns it; its caller holds the library's lock.
Each source's sentences and vectors are kept in an embedding cache keyed by the source's content
hash, the model and the ingest version, so adding one document to a library embeds that one only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .documents import Document, Paragraph, Sentence
from .embed import Embedder
from .errors import DocumentRejected
from .ingest import INGEST_VERSION, load_document, split_paragraph
from .library_store import LibraryStore
from .related import WordVectors, build_related_terms
from .store import (
    IndexManifest,
    NewVersion,
    SourceRecord,
    StoredIndex,
    WriteStep,
    documents_from_json,
    documents_to_json,
    sha256_bytes,
)
from .vectors import build_vector_index, stored_vectors

log = logging.getLogger(__name__)

# progress(stage, done, total): stages are "parsing", "embedding", "relating", "writing", "done".
BuildProgress = Callable[[str, int, int], None]

_WORD_VECTORS = "words.npz"  # in the embedding cache: the vectors of the library's words (related.py)
_SPLIT_CHUNK = 256
_PARALLEL_SPLIT_FROM = 1000  # paragraphs; below this a process pool costs more than it saves


@dataclass(frozen=True)
class Provenance:
    """Where a document that is not a file or a web page came from, and the title its adder gave it."""

    via: str | None = None  # "text" (pasted in a form) or "message" (a Discord message)
    title: str | None = None
    link: str | None = None  # a message's jump link: citations link there; never fetched


FILE_OR_PAGE = Provenance()  # a file or a web page: its name or URL says where it came from


@dataclass(frozen=True)
class SourceFile:
    """One document to build from: where its bytes are kept and what to show for it."""

    path: Path
    name: str
    origin: str  # "configured" (a path in the settings) or "upload" (kept in the library's sources/)
    added_by: str | None = None
    added_at: str | None = None
    sha256: str = ""  # known for kept sources; a build hashes what it reads either way
    # The document as ingest read it when it was kept (its sentences not split yet), so a build
    # does not parse it twice.
    parsed: Document | None = field(default=None, compare=False, repr=False)
    url: str | None = None
    provenance: Provenance = FILE_OR_PAGE

    @property
    def shown_at(self) -> str | None:
        """The address its citations link to: the page it was fetched from, or its message."""
        return self.url or self.provenance.link

    @classmethod
    def from_record(cls, record: SourceRecord) -> SourceFile:
        return cls(
            Path(record.path),
            record.name,
            record.origin,
            record.added_by,
            record.added_at,
            record.sha256,
            url=record.url,
            provenance=Provenance(record.via, record.title, record.link),
        )


@dataclass(frozen=True)
class BuildReport:
    """What a finished build produced, for the CLI and the bot's summaries."""

    manifest: IndexManifest
    titles: tuple[str, ...]
    seconds: float
    stored: StoredIndex
    embedded_sentences: int  # embedded by this build; the rest came from the embedding cache
    changed: tuple[str, ...] = ()  # URL sources whose page changed since the last build

    @property
    def title(self) -> str:
        return self.titles[0] if self.titles else ""


@dataclass(frozen=True)
class BuildOptions:
    """How builds embed and index; the same for every library."""

    model_id: str
    max_document_bytes: int = 2_000_000
    batch_size: int = 64
    approximate_from: int = 50_000


class IndexBuilder:
    """Builds a library's index from its sources with one embedder shared by all libraries."""

    def __init__(
        self, embedder: Embedder, options: BuildOptions, *, before_write: Callable[[], None] | None = None
    ) -> None:
        self.embedder = embedder
        self.options = options
        self._before_write = before_write or (lambda: None)

    def read_capped(self, path: Path) -> bytes:
        """A source's bytes, refused when it is not a file or is over the size limit."""
        if not path.is_file():
            raise DocumentRejected(f"{path.name} is not a file.")
        size = path.stat().st_size
        limit = self.options.max_document_bytes
        if size > limit:
            raise DocumentRejected(f"{path.name} is {size:,} bytes; the limit is {limit:,}.")
        return path.read_bytes()

    def build(
        self,
        store: LibraryStore,
        key: str,
        sources: list[SourceFile],
        *,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
        previous: StoredIndex | None = None,
    ) -> BuildReport:
        """Build a complete new index of library `key` from `sources` and publish it in `store`.

        The caller holds the library's lock. `previous`, the library's index in memory, lends the
        sentences and vectors of unchanged sources, so they are not even read back from the cache.
        """
        report = progress or (lambda _stage, _done, _total: None)
        started = time.perf_counter()
        cache = EmbeddingCache(store.scratch(key), self.options.model_id)
        in_memory = (
            _reusable(previous) if previous is not None and previous.manifest.model == self.options.model_id else {}
        )
        report("parsing", 0, len(sources))
        records: list[SourceRecord] = []
        cached: dict[int, tuple[Document, np.ndarray]] = {}
        fresh: dict[int, Document] = {}
        for number, source in enumerate(sources):
            data = self.read_capped(source.path)
            digest = sha256_bytes(data)
            records.append(
                SourceRecord(
                    source.name,
                    digest,
                    len(data),
                    source.origin,
                    str(source.path.resolve()),
                    source.added_by,
                    source.added_at,
                    source.url,
                    source.provenance.via,
                    source.provenance.title,
                    source.provenance.link,
                )
            )
            hit = in_memory.get(digest) or cache.get(digest)
            if hit is not None:
                cached[number] = hit
            else:
                reuse = source.parsed if source.sha256 == digest else None
                title = source.provenance.title
                fresh[number] = reuse or load_document(source.name, data, split=False, title=title)
            report("parsing", number + 1, len(sources))
        embedded = self._split_and_embed(fresh, report)
        for number, pair in embedded.items():
            cache.put(records[number].sha256, *pair)
        parts = {**cached, **embedded}
        for number, source in enumerate(sources):  # the same text may come from another page
            document, vectors = parts[number]
            title = source.provenance.title or document.meta.title
            if document.meta.url != source.shown_at or document.meta.title != title:
                meta = dataclasses.replace(document.meta, url=source.shown_at, title=title)
                parts[number] = (dataclasses.replace(document, meta=meta), vectors)
        documents, matrix = _join(len(sources), parts)
        if not documents or matrix.shape[0] == 0:
            raise DocumentRejected("No article text is left after removing page furniture.")
        report("relating", 0, 1)
        texts = (s.text for document in documents for s in document.sentences)
        related = build_related_terms(texts, self.embedder, cache.words, batch_size=self.options.batch_size)
        report("writing", 0, 1)
        self._before_write()
        vectors, kind, params = build_vector_index(matrix, approximate_from=self.options.approximate_from)
        version = NewVersion(
            documents,
            vectors,
            self.options.model_id,
            int(matrix.shape[1]),
            kind,
            params,
            records,
            time.perf_counter() - started,
            related,
        )
        stored = store.publish(key, version, on_step)
        # Only what the live index needs stays.
        store.drop_unused(key)
        cache.keep_only({r.sha256 for r in records})
        report("writing", 1, 1)
        seconds = time.perf_counter() - started
        report("done", 1, 1)
        fresh_sentences = sum(len(doc.sentences) for doc, _ in embedded.values())
        return BuildReport(stored.manifest, tuple(d.meta.title for d in documents), seconds, stored, fresh_sentences)

    def _split_and_embed(
        self, skeletons: dict[int, Document], report: BuildProgress
    ) -> dict[int, tuple[Document, np.ndarray]]:
        """Split every paragraph of the new documents into sentences, then embed them in one pass.

        Splitting is pure Python; on large corpora it runs in worker processes (one per core) so
        it neither holds the GIL nor competes with the model for long.
        """
        if not skeletons:
            return {}
        work = [(d, i, p) for d, doc in skeletons.items() for i, p in enumerate(doc.paragraphs)]
        chunks = [work[k : k + _SPLIT_CHUNK] for k in range(0, len(work), _SPLIT_CHUNK)]
        if len(work) >= _PARALLEL_SPLIT_FROM and (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
            with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), mp_context=context) as pool:
                split = [pair for part in pool.map(_split_chunk, chunks) for pair in part]
        else:
            split = [pair for chunk in chunks for pair in _split_chunk(chunk)]
        sentences: dict[int, list[Sentence]] = {d: [] for d in skeletons}
        for d, sentence in split:
            sentences[d].append(sentence)
        texts = [s.text for _, s in split]
        report("embedding", 0, len(texts))
        matrix = self.embedder.encode(
            texts, batch_size=self.options.batch_size, progress=lambda done, total: report("embedding", done, total)
        )
        out: dict[int, tuple[Document, np.ndarray]] = {}
        start = 0
        for d, doc in skeletons.items():
            own = tuple(dataclasses.replace(s, id=n) for n, s in enumerate(sentences[d]))
            out[d] = (Document(doc.meta, doc.paragraphs, own, doc.dropped_lines), matrix[start : start + len(own)])
            start += len(own)
        return out


class EmbeddingCache:
    """Each source's cleaned document and sentence vectors, keyed by content hash, model and ingest version.

    Entries are plain JSON and .npy files (nothing pickled); an unreadable or inconsistent entry
    is treated as absent, so a damaged cache costs an embedding pass, never a wrong answer.
    """

    def __init__(self, directory: Path, model_id: str) -> None:
        key = sha256_bytes(f"{model_id}\0{INGEST_VERSION}".encode())[:16]
        self.directory = directory / key
        self.root = directory

    @property
    def words(self) -> WordVectors:
        return WordVectors(self.directory / _WORD_VECTORS)

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return self.directory / f"{digest}.json", self.directory / f"{digest}.npy"

    def get(self, digest: str) -> tuple[Document, np.ndarray] | None:
        units, vectors_path = self._paths(digest)
        if not units.is_file() or not vectors_path.is_file():
            return None
        try:
            (document,) = documents_from_json(json.loads(units.read_text("utf-8")))
            vectors = np.load(vectors_path, allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Ignoring a damaged embedding cache entry %s: %s", digest[:12], exc)
            return None
        if vectors.ndim != 2 or vectors.shape[0] != len(document.sentences) or not np.isfinite(vectors).all():
            log.warning("Ignoring an inconsistent embedding cache entry %s", digest[:12])
            return None
        return document, np.ascontiguousarray(vectors, dtype=np.float32)

    def put(self, digest: str, document: Document, vectors: np.ndarray) -> None:
        units, vectors_path = self._paths(digest)
        # The cache is an optimisation: a full disk only costs time, and it is not fsynced since a
        # torn entry is caught by get() and only costs an embedding pass.
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            tag = uuid.uuid4().hex[:8]
            tmp_vectors = self.directory / f".{digest}.{tag}.npy"
            np.save(tmp_vectors, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
            tmp_units = self.directory / f".{digest}.{tag}.json"
            tmp_units.write_text(json.dumps(documents_to_json([document]), ensure_ascii=False), "utf-8")
            os.replace(tmp_vectors, vectors_path)
            os.replace(tmp_units, units)

    def keep_only(self, digests: set[str]) -> None:
        """Drop entries for sources the library no longer has, and caches of other models."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry != self.directory:
                _remove_tree(entry)
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                if entry.name == _WORD_VECTORS:
                    continue
                if entry.name.split(".")[0] not in digests or entry.name.startswith("."):
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _remove_tree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _reusable(stored: StoredIndex) -> dict[str, tuple[Document, np.ndarray]]:
    """Each source of a loaded index by content hash: its document (ids from 0) and its vectors."""
    if len(stored.manifest.sources) != len(stored.documents):
        return {}
    vectors = stored_vectors(stored.vectors)
    out: dict[str, tuple[Document, np.ndarray]] = {}
    first = 0
    for record, document in zip(stored.manifest.sources, stored.documents, strict=True):
        count = len(document.sentences)
        own = tuple(dataclasses.replace(s, id=n) for n, s in enumerate(document.sentences))
        out[record.sha256] = (Document(document.meta, document.paragraphs, own), vectors[first : first + count])
        first += count
    return out


def _join(count: int, parts: dict[int, tuple[Document, np.ndarray]]) -> tuple[list[Document], np.ndarray]:
    """Documents in source order with sentence ids numbered across them, and their vectors stacked."""
    documents: list[Document] = []
    matrices: list[np.ndarray] = []
    next_id = 0
    for number in range(count):
        document, vectors = parts[number]
        numbered = tuple(dataclasses.replace(s, id=next_id + n) for n, s in enumerate(document.sentences))
        next_id += len(numbered)
        documents.append(Document(document.meta, document.paragraphs, numbered, document.dropped_lines))
        matrices.append(vectors)
    if not matrices:
        return documents, np.zeros((0, 0), dtype=np.float32)
    return documents, np.ascontiguousarray(np.vstack(matrices), dtype=np.float32)


def _split_chunk(chunk: list[tuple[int, int, Paragraph]]) -> list[tuple[int, Sentence]]:
    return [(d, sentence) for d, index, paragraph in chunk for sentence in split_paragraph(paragraph, index)]
