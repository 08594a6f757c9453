"""One library's life: answer from it, change it, keep it healthy.

A library is a server's own documents or the default library (the configured corpus). It owns
its sources: a new document is checked (size, content, duplicates, limits) before anything is
written, kept only while the library's lock is held for the change that needs it, and a change
that fails leaves nothing behind. A library whose index is missing, stale or damaged rebuilds
itself from its sources. What libraries share (the model, the loaded libraries, the build runner)
is the engine's.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .answer import Answer, Exchange, Quoted, answer_metadata, clean_question, metadata_part, respond, summary_answer
from .build import FILE_OR_PAGE, BuildProgress, BuildReport, EmbeddingCache, Provenance, SourceFile
from .documents import Document, QuotedParagraph
from .errors import (
    BuildInProgress,
    CitebotError,
    DocumentRejected,
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    LibraryFull,
    UnknownDocument,
)
from .fetch import fetch
from .ingest import load_document
from .library_info import LibraryInfo, describe
from .library_store import DEFAULT_KEY
from .loaded import LiveLibrary
from .retrieve import PREVIOUS_QUESTION_WEIGHT, FollowUp, Retriever
from .store import SourceRecord, StoredIndex, WriteStep, sha256_bytes
from .summaries import MAX_CENTRAL, asks_for_summary, summary_sentences

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

# A library summary quotes the lede and one central sentence of each of its first documents.
MAX_SUMMARISED_DOCUMENTS = 5
NOT_HERE = "That document is not in this library."
REPAIR_POLL_SECONDS = 0.2  # how often a library another process is repairing is looked at


@dataclasses.dataclass(frozen=True)
class NewDocument:
    """A document to add: its file name, its bytes, the URL it came from, and where else from."""

    name: str
    data: bytes
    url: str | None = None
    provenance: Provenance = FILE_OR_PAGE

    @property
    def shown_name(self) -> str:
        return self.provenance.title or self.name


@dataclasses.dataclass(frozen=True)
class _Checked:
    """A new document that passed every check and is not written anywhere yet."""

    document: NewDocument
    sha256: str
    parsed: Document
    added_by: str | None
    added_at: str


class Library:
    """One library, resolved by `Engine.library` or `Engine.answering`; cheap to make, holds no state.

    Safe to call from worker threads. Its loaded index lives in the engine's loaded libraries.
    """

    def __init__(self, key: str, engine: Engine) -> None:
        self.key = key
        self._engine = engine
        self._store = engine.store

    @property
    def is_default(self) -> bool:
        return self.key == DEFAULT_KEY

    @property
    def exists(self) -> bool:
        """Whether the library has an index (in memory or stored)."""
        return self._engine.libraries.get(self.key) is not None or self._store.exists(self.key)

    def __repr__(self) -> str:
        return f"Library({self.key!r})"

    # ---- reading -----------------------------------------------------------------------------
    def loaded(self, progress: BuildProgress | None = None) -> LiveLibrary:
        """The library in memory: loaded, or rebuilt from its sources when missing, stale or damaged."""
        libraries = self._engine.libraries
        live = libraries.get(self.key)
        if live is not None:
            return live
        with libraries.lock_for(self.key):
            live = libraries.get(self.key)
            if live is not None:
                return live
            version = self._store.version(self.key)
            try:
                stored = self._read_checked()
            except (IndexMissing, IndexMismatch, IndexCorrupt) as problem:
                if isinstance(problem, IndexMissing):
                    log.debug("%s Building it now.", problem)
                else:
                    log.warning("Index unusable (%s); rebuilding from its sources (%s).", problem, self.key)
                stored = self._heal(problem, progress)
                version = self._store.version(self.key)
            live = LiveLibrary(self.key, stored, Retriever(stored), version)
            libraries.put(live)
            return live

    def describe(self) -> LibraryInfo:
        """What the library holds, for /about, /docs list and the terminal."""
        return describe(self.key, self.loaded().stored)

    def described_if_loaded(self) -> LibraryInfo | None:
        """`describe()` when the library is in memory, else None (no disk read)."""
        live = self._engine.libraries.get(self.key)
        return describe(live.key, live.stored) if live else None

    def answer(self, question: str, *, document: str | None = None, context: Exchange | None = None) -> Answer:
        """Answer one question with verbatim citations, or abstain.

        `document` (a document key) limits the answer to that document. `context`, the exchange a
        follow-up replies to, is read with it ("and the tariffs?"). A question that asks what the
        document is about gets its summary.
        """
        started = time.perf_counter()
        question = clean_question(question)
        live = self.loaded()
        stored = live.stored
        only = _document_number(stored, document)
        part = metadata_part(question)
        if part is not None:
            meta_answer = answer_metadata(question, part, stored, only)
            if meta_answer is not None:
                return _timed(meta_answer, {"total": _ms(started)})
        if asks_for_summary(question):
            return _timed(_summary(live, question, only), {"total": _ms(started)})
        follow_up = _follow_up(live, context) if context is not None else None
        encoder = self._engine.query_embedder
        t0 = time.perf_counter()
        if follow_up is None:
            vector = encoder.encode([question])[0]
        else:
            own, previous = encoder.encode([question, follow_up.previous_question])
            vector = _unit(own + PREVIOUS_QUESTION_WEIGHT * previous)
        t1 = time.perf_counter()
        retrieval = live.retriever.retrieve(question, vector, document=only, follow_up=follow_up)
        t2 = time.perf_counter()
        result = respond(question, retrieval, stored, self._engine.config.policy, only, follow_up is not None)
        return _timed(result, {"embed": (t1 - t0) * 1000, "search": (t2 - t1) * 1000, "total": _ms(started)})

    def summarise(self, *, document: str | None = None) -> Answer:
        """The quoted summary of one document, or of each of the library's first documents."""
        started = time.perf_counter()
        live = self.loaded()
        only = _document_number(live.stored, document)
        return _timed(_summary(live, "Summary", only), {"total": _ms(started)})

    def paragraph(self, document: str, paragraph_index: int) -> QuotedParagraph | None:
        """A paragraph of one of the library's documents (None if it is gone)."""
        stored = self.loaded().stored
        number = stored.document_number(document)
        if number is None:
            return None
        found = stored.documents[number]
        if not 0 <= paragraph_index < len(found.paragraphs):
            return None
        sentences = tuple(s.text for s in found.sentences if s.paragraph_index == paragraph_index)
        return QuotedParagraph(found.meta, found.paragraphs[paragraph_index], sentences)

    # ---- changing ----------------------------------------------------------------------------
    def add(
        self, documents: list[NewDocument], *, added_by: str | None = None, progress: BuildProgress | None = None
    ) -> BuildReport:
        """Add documents in one build; none is added if one is refused. Only new documents are embedded."""
        self._heal_before_change()
        checked = [self._check(new, added_by) for new in documents]
        with self._store.locked(self.key, _holder(added_by)):
            current = self._current_sources()
            known = {s.sha256 for s in current}
            for new in checked:
                if new.sha256 in known:
                    raise DocumentRejected(f"“{new.document.shown_name}” is already in this library.")
                known.add(new.sha256)
            self._check_limits(current, checked)
            return self._change(lambda: [*current, *(self._keep(c) for c in checked)], progress)

    def add_url(self, url: str, *, added_by: str | None = None, progress: BuildProgress | None = None) -> BuildReport:
        """Fetch an article by URL (index/fetch.py's rules) and add it like a file."""
        fetched = fetch(url, self._engine.fetch_policy())
        return self.add([NewDocument(fetched.name, fetched.data, url)], added_by=added_by, progress=progress)

    def replace(
        self,
        documents: list[NewDocument],
        *,
        added_by: str | None = None,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
    ) -> BuildReport:
        """Replace what the library holds by these documents."""
        checked = [self._check(new, added_by) for new in documents]
        if len({c.sha256 for c in checked}) < len(checked):
            raise DocumentRejected("The same document is named twice.")
        self._check_limits([], checked)
        with self._store.locked(self.key, _holder(added_by)):
            return self._change(lambda: [self._keep(c) for c in checked], progress, on_step)

    def remove(self, document: str, *, progress: BuildProgress | None = None) -> BuildReport | None:
        """Remove one document; None when it was the last one (the library is then deleted)."""
        self._heal_before_change()
        with self._store.locked(self.key, "removing a document"):
            current = self._current_sources()
            kept = [s for s in current if s.sha256[:12] != document]
            if len(kept) == len(current):
                raise UnknownDocument(NOT_HERE)
            if kept:
                return self._change(lambda: kept, progress)
            if self.is_default:
                raise DocumentRejected("The default library cannot be left empty.")
        self.delete()
        return None

    def rebuild(self, *, progress: BuildProgress | None = None, on_step: WriteStep | None = None) -> BuildReport:
        """Build again from what the library keeps: the configured corpus, or a server's documents
        with each web page fetched again (`changed` names those whose page changed)."""
        if self.is_default:
            with self._store.locked(self.key, "rebuilding the library"):
                return self._change(self._configured_sources, progress, on_step)
        if not self.exists:
            raise UnknownDocument("This server has no documents of its own; it answers from the default library.")
        self._heal_before_change()
        with self._store.locked(self.key, "rebuilding the library"):
            changed: list[str] = []
            current = self._current_sources()
            report = self._change(lambda: self._refetched(current, changed), progress, on_step)
        return dataclasses.replace(report, changed=tuple(changed))

    def build_from_files(
        self,
        paths: list[Path],
        *,
        added_by: str | None = None,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
    ) -> BuildReport:
        """Build the library from files on disk. The default library's configured corpus is indexed
        where it lies; other files are copied in, so the index never depends on files that may move."""
        if self.is_default and _same_files(paths, self._engine.config.corpus_paths):
            return self.rebuild(progress=progress, on_step=on_step)
        if not paths:
            raise DocumentRejected("Name the files to build this library from.")
        read = self._engine.builder.read_capped
        documents = [NewDocument(p.name, read(p)) for p in paths]
        return self.replace(documents, added_by=added_by, progress=progress, on_step=on_step)

    def delete(self) -> bool:
        """Delete a server's library (stored and loaded); the server answers from the default again."""
        if self.is_default:
            raise DocumentRejected("The default library cannot be deleted.")
        with self._engine.libraries.lock_for(self.key):
            self._engine.libraries.drop(self.key)
            return self._store.delete(self.key)

    # ---- how a change is made ------------------------------------------------------------------
    def _check(self, new: NewDocument, added_by: str | None) -> _Checked:
        """Refuse a document that is too large or cannot be read, before anything is written."""
        limit = self._engine.config.max_document_bytes
        if len(new.data) > limit:
            raise DocumentRejected(f"The file is {len(new.data):,} bytes; the limit is {limit:,}.")
        parsed = load_document(new.name, new.data, split=False, title=new.provenance.title)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return _Checked(new, sha256_bytes(new.data), parsed, added_by, now)

    def _check_limits(self, current: list[SourceFile], new: list[_Checked]) -> None:
        config = self._engine.config
        if len(current) + len(new) > config.max_documents_per_library:
            raise LibraryFull(
                f"A library holds at most {config.max_documents_per_library} documents; remove one first."
            )
        total = sum(s.path.stat().st_size for s in current if s.path.exists()) + sum(len(c.document.data) for c in new)
        if total > config.max_library_bytes:
            raise LibraryFull(
                f"That would make the library {total:,} bytes; the limit is {config.max_library_bytes:,}."
            )

    def _keep(self, checked: _Checked) -> SourceFile:
        new = checked.document
        path = self._store.keep_source(self.key, new.name, new.data)
        return SourceFile(
            path,
            Path(new.name).name,
            "upload",
            checked.added_by,
            checked.added_at,
            checked.sha256,
            checked.parsed,
            new.url,
            new.provenance,
        )

    def _change(
        self,
        sources: Callable[[], list[SourceFile]],
        progress: BuildProgress | None,
        on_step: WriteStep | None = None,
    ) -> BuildReport:
        """Build and publish a new version from `sources` (kept here, under the lock the caller
        holds), then serve it. Whatever fails, what the change kept or wrote goes with it."""
        previous = self._engine.libraries.get(self.key)
        try:
            report = self._engine.run_build(
                self.key, sources(), progress, on_step, previous.stored if previous else None
            )
        except BaseException:
            self._discard_unpublished()
            raise
        retriever = Retriever(report.stored, previous=previous.retriever if previous else None)
        live = LiveLibrary(self.key, report.stored, retriever, self._store.version(self.key))
        with self._engine.libraries.lock_for(self.key):  # readers see the old or the new library
            self._engine.libraries.put(live)
        return report

    def refresh(self, version: str | None) -> None:
        """Reload the library when the store's current `version` is not the one in memory (another
        process published one), or forget it when it has none (deleted); nothing when not loaded."""
        live = self._engine.libraries.get(self.key)
        if live is None or version == live.version:
            return
        with self._engine.libraries.lock_for(self.key):
            self._engine.libraries.drop(self.key)
        if version is not None:
            self.loaded()

    def _discard_unpublished(self) -> None:
        """Remove what a failed change kept or wrote (sources, a half-written build, cache entries)."""
        try:
            self._store.drop_unused(self.key)
            live = {s.sha256 for s in self._store.manifest(self.key).sources} if self._store.exists(self.key) else set()
            EmbeddingCache(self._store.scratch(self.key), self._engine.config.model_id).keep_only(live)
        except (OSError, CitebotError):
            log.warning("Could not tidy up after a failed change of %s.", self.key, exc_info=True)

    def _current_sources(self) -> list[SourceFile]:
        """What the library's current version was built from, read under the lock (another process
        may have changed it since it was loaded here)."""
        if not self._store.exists(self.key):
            return []
        return [SourceFile.from_record(s) for s in self._store.manifest(self.key).sources]

    def _heal_before_change(self) -> None:
        """Load (or heal) the library before changing it, outside the lock a heal takes itself."""
        if self.exists:
            self.loaded()

    def _configured_sources(self) -> list[SourceFile]:
        return [SourceFile(p, p.name, "configured") for p in self._engine.config.corpus_paths]

    def _refetched(self, sources: list[SourceFile], changed: list[str]) -> list[SourceFile]:
        """Sources with each web page fetched again; a changed page is kept anew, one that cannot
        be fetched now keeps its last copy."""
        out: list[SourceFile] = []
        for source in sources:
            if not source.url:
                out.append(source)
                continue
            try:
                fetched = fetch(source.url, self._engine.fetch_policy())
            except DocumentRejected as exc:
                log.warning("Kept the last copy of %s: %s", source.url, exc)
                out.append(source)
                continue
            if sha256_bytes(fetched.data) == source.sha256:
                out.append(source)
                continue
            new = NewDocument(fetched.name, fetched.data, source.url, source.provenance)
            kept = self._keep(self._check(new, source.added_by))
            out.append(dataclasses.replace(kept, added_at=source.added_at))
            changed.append(source.url)
        return out

    # ---- healing -----------------------------------------------------------------------------
    def _read_checked(self) -> StoredIndex:
        stored = self._store.read(self.key, model=self._engine.config.model_id)
        stale = self._stale_reason(stored)
        if stale:
            raise IndexMismatch(stale)
        return stored

    def _stale_reason(self, stored: StoredIndex) -> str | None:
        sources = stored.manifest.sources
        if not self.is_default or (sources and all(s.origin == "upload" for s in sources)):
            return None  # uploaded documents stay live until they are changed
        configured = {str(p.resolve()) for p in self._engine.config.corpus_paths}
        if configured != {s.path for s in sources if s.origin == "configured"}:
            return "the configured corpus differs from the indexed one"
        if "related_terms" not in stored.manifest.counts:
            # Built by an earlier version; the embedding cache makes the rebuild embed only words.
            return "it was built before related terms were kept"
        for source in sources:
            path = Path(source.path)
            if source.origin == "configured" and path.exists() and sha256_bytes(path.read_bytes()) != source.sha256:
                return f"{source.name} changed since it was indexed"
        return None

    def _heal(self, problem: CitebotError, progress: BuildProgress | None) -> StoredIndex:
        """Rebuild a missing, stale or damaged library from its kept uploads (and, for the default
        library, the configured corpus unless an upload replaced it)."""
        try:
            with self._store.locked(self.key, "repairing the library"):
                return self._heal_locked(problem, progress)
        except BuildInProgress:
            return self._wait_for_other_repair()

    def _wait_for_other_repair(self) -> StoredIndex:
        """Another process holds the library (it is repairing or changing it, as when the processes
        of a fleet all meet the missing default library at once): load what it publishes."""
        deadline = time.monotonic() + self._engine.config.build_timeout_seconds
        while True:
            time.sleep(REPAIR_POLL_SECONDS)
            try:
                return self._read_checked()
            except (IndexMissing, IndexMismatch, IndexCorrupt):
                if self._store.holder(self.key) is None or time.monotonic() > deadline:
                    raise

    def _heal_locked(self, problem: CitebotError, progress: BuildProgress | None) -> StoredIndex:
        """The repair itself, under the lock; another process may have repaired it just before."""
        try:
            return self._read_checked()
        except (IndexMissing, IndexMismatch, IndexCorrupt):
            pass
        sources = self._healing_sources()
        if not sources and not self.is_default:
            raise IndexMissing(f"The index of this server's library cannot be used ({problem}).") from problem
        missing = [s.name for s in sources if not s.path.exists()]
        if missing or not sources:
            raise IndexMissing(
                f"The index cannot be used ({problem}) and its source is gone: "
                + ", ".join(missing or ["no corpus configured"])
            ) from problem
        try:
            return self._engine.run_build(self.key, sources, progress, None, None).stored
        except BaseException:
            self._discard_unpublished()
            raise

    def _healing_sources(self) -> list[SourceFile]:
        try:
            recorded: tuple[SourceRecord, ...] = self._store.manifest(self.key).sources
        except CitebotError:
            recorded = ()
        uploads = [SourceFile.from_record(s) for s in recorded if s.origin == "upload"]
        if not self.is_default or (uploads and len(uploads) == len(recorded)):
            return uploads
        return [*self._configured_sources(), *uploads]


def _summary(live: LiveLibrary, question: str, only: int | None) -> Answer:
    stored = live.stored
    numbers = [only] if only is not None else list(range(min(len(stored.documents), MAX_SUMMARISED_DOCUMENTS)))
    several = len(numbers) > 1
    picked: list[Quoted] = []
    for number in numbers:
        document = stored.documents[number]
        first, end = live.retriever.spans[number]
        if end <= first:
            continue
        vectors = np.vstack([stored.vectors.reconstruct(i) for i in range(first, end)])
        for sentence in summary_sentences(document, vectors, central=1 if several else MAX_CENTRAL):
            picked.append(Quoted(sentence, document, stored.document_key(number), 1.0))
    source = stored.documents[numbers[0]].meta if len(numbers) == 1 and stored.documents else None
    return summary_answer(question, picked, source)


def _follow_up(live: LiveLibrary, context: Exchange) -> FollowUp:
    """The previous exchange in this library's terms (quoted paragraphs no longer in it are dropped)."""
    paragraphs = set()
    for key, paragraph_index in context.paragraphs:
        number = live.stored.document_number(key)
        if number is not None:
            found = live.retriever.paragraph_number(number, paragraph_index)
            if found is not None:
                paragraphs.add(found)
    return FollowUp(context.question, frozenset(paragraphs))


def _document_number(stored: StoredIndex, document: str | None) -> int | None:
    if not document:
        return None
    number = stored.document_number(document)
    if number is None:
        raise UnknownDocument(NOT_HERE)
    return number


def _holder(added_by: str | None) -> str:
    return f"a change by {added_by}" if added_by else "a change"


def _same_files(paths: list[Path], configured: tuple[Path, ...]) -> bool:
    return not paths or {p.resolve() for p in paths} == {p.resolve() for p in configured}


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _timed(answer: Answer, timing: dict[str, float]) -> Answer:
    return dataclasses.replace(answer, timing_ms=timing)
