"""The engine's one face: answer questions from a library, and change what a library holds.

The engine holds what is shared (the model, the query encoder, the loaded libraries) and decides
which library answers; builds are done by `build.IndexBuilder`, retrieval and composing by
`retrieve` and `answer`. It knows nothing of Discord: a server is just an optional id.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .answer import (
    Answer,
    AnswerPolicy,
    Exchange,
    Quoted,
    abstain,
    answer_metadata,
    compose,
    metadata_part,
    summary_answer,
)
from .build import FILE_OR_PAGE, BuildOptions, BuildProgress, BuildReport, IndexBuilder, Provenance, SourceFile
from .documents import QuotedParagraph
from .embed import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, canonical_model_id
from .errors import (
    BuildCancelled,
    BuildTimedOut,
    CitebotError,
    DocumentRejected,
    IndexCorrupt,
    IndexMismatch,
    IndexMissing,
    LibraryFull,
    QuestionRejected,
    UnknownDocument,
)
from .fetch import FetchPolicy, fetch, is_url
from .ingest import load_document
from .library import (
    DEFAULT_KEY,
    SERVERS,
    LibrarySummary,
    LiveLibrary,
    LoadedLibraries,
    has_index,
    library_directory,
    library_key,
    summarize,
)
from .retrieve import PREVIOUS_QUESTION_WEIGHT, FollowUp, Retriever
from .store import (
    BuildInProgress,
    DiskFull,
    SourceRecord,
    StoredIndex,
    WriteStep,
    is_disk_full,
    keep_upload,
    load_index,
    read_manifest,
    remove_unfinished_builds,
    remove_unused_sources,
    sha256_bytes,
)
from .summaries import MAX_CENTRAL, asks_for_summary, summary_sentences

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
# A library summary quotes the lede and one central sentence of each of its first documents.
MAX_SUMMARISED_DOCUMENTS = 5


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs from the settings."""

    index_dir: Path
    corpus_paths: tuple[Path, ...]
    model: str = DEFAULT_MODEL
    policy: AnswerPolicy = field(default_factory=AnswerPolicy)
    approximate_from: int = 50_000
    max_document_bytes: int = 2_000_000
    batch_size: int = 64
    # "auto": answer with the ONNX export when one exists (made at index time), else the model.
    query_encoder: str = "auto"
    max_documents_per_library: int = 25
    max_library_bytes: int = 10_000_000
    max_loaded_libraries: int = 100
    allow_private_urls: bool = False
    build_timeout_seconds: float = 600.0

    @property
    def model_id(self) -> str:
        return canonical_model_id(self.model)


@dataclass(frozen=True)
class NewDocument:
    """A document to add: its file name, its bytes, the URL it came from, and where else from."""

    name: str
    data: bytes
    url: str | None = None
    provenance: Provenance = FILE_OR_PAGE

    @property
    def shown_name(self) -> str:
        return self.provenance.title or self.name


class BuildRunner(Protocol):
    """Runs one build elsewhere (a child process: index/build_process.py) and returns what it wrote."""

    def __call__(
        self, directory: Path, sources: list[SourceFile], progress: BuildProgress | None, *, timeout: float
    ) -> BuildReport: ...

    def close(self) -> None: ...


class Engine:
    """Answers from libraries and changes them; safe to call from worker threads.

    Builds run in this process with `embedder`, or through `build_runner` (the bot runs them in a
    child process, so the model that builds need is never loaded where questions are answered).
    """

    def __init__(
        self, config: EngineConfig, embedder: Embedder | None = None, *, build_runner: BuildRunner | None = None
    ) -> None:
        self.config = config
        self.build_runner = build_runner
        self._stopping = threading.Event()
        self.embedder: Embedder = embedder or SentenceTransformerEmbedder(config.model)
        self._query_embedder: Embedder | None = None
        self.libraries = LoadedLibraries(config.max_loaded_libraries)
        self.build_options = BuildOptions(
            config.model_id, config.max_document_bytes, config.batch_size, config.approximate_from
        )
        self.builder = IndexBuilder(self.embedder, self.build_options, before_write=self._export_query_encoder)

    # ---- the query encoder ---------------------------------------------------------------
    @property
    def query_embedder(self) -> Embedder:
        """What embeds questions: the ONNX export if there is one, else the build model."""
        if self._query_embedder is None:
            onnx = self._onnx_embedder()
            if onnx is None and self._exports_onnx() and self._has_any_index():
                # Missing or found damaged (and removed): export it again now, from the build model.
                self._export_query_encoder()
                onnx = self._onnx_embedder()
            if onnx is None and self._exports_onnx() and self.build_runner is not None:
                log.warning(
                    "No ONNX export of %s (it could not be exported); questions are embedded with "
                    "sentence-transformers in this process, which loads torch.",
                    self.config.model_id,
                )
            self._query_embedder = onnx or self.embedder
        return self._query_embedder

    def _has_any_index(self) -> bool:
        return has_index(self.config.index_dir) or (self.config.index_dir / SERVERS).is_dir()

    def _exports_onnx(self) -> bool:
        return self.config.query_encoder != "sentence-transformers" and isinstance(
            self.embedder, SentenceTransformerEmbedder
        )

    def _onnx_embedder(self) -> Embedder | None:
        if not self._exports_onnx():
            return None
        from .onnx_encoder import load_onnx_embedder

        return load_onnx_embedder(self.config.index_dir, self.config.model_id)

    def _export_query_encoder(self) -> None:
        if not self._exports_onnx() or not isinstance(self.embedder, SentenceTransformerEmbedder):
            return
        from .onnx_encoder import export_onnx

        with self.embedder.exclusive() as model:
            exported = export_onnx(model, self.config.model_id, self.config.index_dir)
        if exported is not None and self._query_embedder is self.embedder:
            self._query_embedder = None  # the next question picks up the export

    def close(self) -> None:
        """Stop what runs builds elsewhere; a build in progress there changes nothing."""
        self.stop_builds()

    def stop_builds(self) -> None:
        """Stop running builds and refuse new ones (shutting down); the libraries stay as they were."""
        self._stopping.set()
        if self.build_runner is not None:
            self.build_runner.close()

    # ---- which library answers -------------------------------------------------------------
    def _directory(self, key: str) -> Path:
        return library_directory(self.config.index_dir, key)

    def has_own_library(self, server_id: int) -> bool:
        """Whether a server has documents of its own (else it answers from the default library)."""
        key = library_key(server_id)
        return self.libraries.get(key) is not None or has_index(self._directory(key))

    def _answering_key(self, server_id: int | None) -> str:
        if server_id is not None and self.has_own_library(server_id):
            return library_key(server_id)
        return DEFAULT_KEY

    def live(self, server_id: int | None = None, progress: BuildProgress | None = None) -> LiveLibrary:
        """The library that answers for `server_id`, loaded (or rebuilt from its sources) if needed."""
        return self._live(self._answering_key(server_id), progress)

    def _live(self, key: str, progress: BuildProgress | None = None) -> LiveLibrary:
        live = self.libraries.get(key)
        if live is not None:
            return live
        with self.libraries.lock_for(key):
            live = self.libraries.get(key)
            if live is not None:
                return live
            try:
                stored = self._load_checked(key)
            except (IndexMissing, IndexMismatch, IndexCorrupt) as problem:
                if isinstance(problem, IndexMissing):
                    log.debug("%s Building it now.", problem)
                else:
                    log.warning("Index unusable (%s); rebuilding from its sources (library %s).", problem, key)
                stored = self._rebuild_after(key, problem, progress)
            live = LiveLibrary(key, stored, Retriever(stored))
            self.libraries.put(live)
            return live

    def ensure_ready(self, progress: BuildProgress | None = None, server_id: int | None = None) -> StoredIndex:
        """Load the answering library, or rebuild it when it is missing, stale or damaged."""
        return self.live(server_id, progress).stored

    @property
    def loaded(self) -> StoredIndex | None:
        """The default library's index, if it is in memory."""
        live = self.libraries.get(DEFAULT_KEY)
        return live.stored if live else None

    def summary(self, server_id: int | None = None) -> LibrarySummary:
        """What the library answering for `server_id` holds."""
        live = self.live(server_id)
        return summarize(live.key, live.stored)

    def loaded_summary(self, server_id: int | None = None) -> LibrarySummary | None:
        """The summary of the answering library if it is in memory, else None (no disk reads)."""
        live = self.libraries.get(self._answering_key(server_id))
        return summarize(live.key, live.stored) if live else None

    def _load_checked(self, key: str) -> StoredIndex:
        directory = self._directory(key)
        stored = load_index(directory, expected_model=self.config.model_id)
        stale = self._stale_reason(key, stored)
        if stale:
            raise IndexMismatch(stale)
        return stored

    def _stale_reason(self, key: str, stored: StoredIndex) -> str | None:
        sources = stored.manifest.sources
        if key != DEFAULT_KEY or (sources and all(s.origin == "upload" for s in sources)):
            return None  # uploaded documents stay live until they are changed
        configured = {str(p.resolve()) for p in self.config.corpus_paths}
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

    def _rebuild_after(self, key: str, problem: CitebotError, progress: BuildProgress | None) -> StoredIndex:
        sources = self._rebuild_sources(key)
        if not sources and key != DEFAULT_KEY:
            raise IndexMissing(f"The index of this server's library cannot be used ({problem}).") from problem
        missing = [s.name for s in sources if not s.path.exists()]
        if missing or not sources:
            raise IndexMissing(
                f"The index cannot be used ({problem}) and its source is gone: "
                + ", ".join(missing or ["no corpus configured"])
            ) from problem
        return self._run_build(key, sources, progress).stored

    def _rebuild_sources(self, key: str) -> list[SourceFile]:
        """What to rebuild a damaged or stale library from: its kept uploads, and for the default
        library the configured corpus (unless an upload replaced it)."""
        try:
            recorded = read_manifest(self._directory(key)).sources
        except CitebotError:
            recorded = ()
        uploads = [SourceFile.from_record(s) for s in recorded if s.origin == "upload"]
        if key != DEFAULT_KEY or (uploads and len(uploads) == len(recorded)):
            return uploads
        return [*self._configured_sources(), *uploads]

    def _configured_sources(self) -> list[SourceFile]:
        return [SourceFile(p, p.name, "configured") for p in self.config.corpus_paths]

    def _sources(self, key: str) -> list[SourceFile]:
        """The sources a library is built from now (none for a server without a library)."""
        if self.libraries.get(key) is None and not has_index(self._directory(key)):
            return []
        return [SourceFile.from_record(s) for s in self._live(key).stored.manifest.sources]

    # ---- changing a library ------------------------------------------------------------------
    def _run_build(
        self,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        on_step: WriteStep | None = None,
        previous: StoredIndex | None = None,
    ) -> BuildReport:
        try:
            return self._build_here_or_there(key, sources, progress, on_step, previous)
        except BuildInProgress:
            raise  # another build holds this library: what it kept is its own
        except BaseException:
            # An upload kept for this build goes with it; the live library keeps what it uses.
            directory = self._directory(key)
            try:
                live = {s.path for s in read_manifest(directory).sources}
            except CitebotError:
                live = set()
            remove_unused_sources(directory, live)
            remove_unfinished_builds(directory)
            raise

    def _build_here_or_there(
        self,
        key: str,
        sources: list[SourceFile],
        progress: BuildProgress | None,
        on_step: WriteStep | None,
        previous: StoredIndex | None,
    ) -> BuildReport:
        directory = self._directory(key)
        budget = self.config.build_timeout_seconds
        if self._stopping.is_set():
            raise BuildCancelled("citebot is stopping; the build was not started.")
        if self.build_runner is None or on_step is not None:
            guarded = _within_budget(progress, budget, self._stopping)
            return self.builder.build(directory, sources, progress=guarded, on_step=on_step, previous=previous)
        report = self.build_runner(directory, sources, progress, timeout=budget)
        if self._query_embedder is self.embedder:
            self._query_embedder = None  # a first build may have made the ONNX export: use it from now on
        return report

    def _build(
        self, key: str, sources: list[SourceFile], progress: BuildProgress | None, on_step: WriteStep | None = None
    ) -> BuildReport:
        previous = self.libraries.get(key)
        report = self._run_build(key, sources, progress, on_step, previous.stored if previous else None)
        retriever = Retriever(report.stored, previous=previous.retriever if previous else None)
        with self.libraries.lock_for(key):  # one assignment: readers see the old or the new library
            self.libraries.put(LiveLibrary(key, report.stored, retriever))
        return report

    def build_from_paths(
        self,
        paths: list[Path] | None = None,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
        *,
        server_id: int | None = None,
        added_by: str | None = None,
    ) -> BuildReport:
        """Rebuild a library from files on disk (the default library from its configured corpus)."""
        key = library_key(server_id)
        if not paths and key == DEFAULT_KEY:
            return self._build(key, self._configured_sources(), progress, on_step)
        if not paths:
            raise DocumentRejected("Name the files to build this server's library from.")
        if key == DEFAULT_KEY and self._same_as_configured(paths):
            return self._build(key, [SourceFile(p, p.name, "configured") for p in paths], progress, on_step)
        # Other paths are copied in, so the index never depends on files that may move.
        uploads: list[tuple[str, bytes, str | None]] = [(p.name, self.builder.read_capped(p), None) for p in paths]
        return self.replace_with(server_id, uploads, added_by=added_by, progress=progress, on_step=on_step)

    def replace_with(
        self,
        server_id: int | None,
        uploads: list[tuple[str, bytes, str | None]],
        *,
        added_by: str | None = None,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
    ) -> BuildReport:
        """Replace a library by these documents: (file name, bytes, the URL they came from or None)."""
        key = library_key(server_id)
        sources = [self._keep(key, name, data, added_by, url=url) for name, data, url in uploads]
        self._check_limits(sources)
        return self._build(key, sources, progress, on_step)

    def build_from_upload(
        self,
        name: str,
        data: bytes,
        progress: BuildProgress | None = None,
        on_step: WriteStep | None = None,
        *,
        server_id: int | None = None,
        added_by: str | None = None,
    ) -> BuildReport:
        """Replace a library by one uploaded document: validated first, kept, then indexed."""
        return self.replace_with(server_id, [(name, data, None)], added_by=added_by, progress=progress, on_step=on_step)

    def add_document(
        self,
        server_id: int | None,
        name: str,
        data: bytes,
        *,
        added_by: str | None = None,
        progress: BuildProgress | None = None,
        url: str | None = None,
    ) -> BuildReport:
        """Add one document to a server's library; only the new document is embedded."""
        return self.add_documents(server_id, [NewDocument(name, data, url)], added_by=added_by, progress=progress)

    def add_documents(
        self,
        server_id: int | None,
        documents: list[NewDocument],
        *,
        added_by: str | None = None,
        progress: BuildProgress | None = None,
    ) -> BuildReport:
        """Add documents to a server's library in one build; none is added if one is refused.

        A document's `provenance` says where one that is not a file or a web page came from
        (pasted text, a Discord message) and the title its adder gave it."""
        key = library_key(server_id)
        current = self._sources(key)
        known = {s.sha256 for s in current}
        added: list[SourceFile] = []
        for new in documents:
            digest = sha256_bytes(new.data)
            if digest in known:
                raise DocumentRejected(f"“{new.shown_name}” is already in this library.")
            known.add(digest)
            added.append(self._keep(key, new.name, new.data, added_by, url=new.url, provenance=new.provenance))
        self._check_limits([*current, *added])
        return self._build(key, [*current, *added], progress)

    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(max_bytes=self.config.max_document_bytes, allow_private=self.config.allow_private_urls)

    def read_source(self, source: str) -> tuple[str, bytes, str | None]:
        """A file path or an http(s) URL as (file name, bytes, the URL or None), under the size cap
        and, for a URL, the safety rules of index/fetch.py."""
        if is_url(source):
            fetched = fetch(source, self.fetch_policy())
            return fetched.name, fetched.data, source
        path = Path(source)
        return path.name, self.builder.read_capped(path), None

    def add_url(
        self, server_id: int | None, url: str, *, added_by: str | None = None, progress: BuildProgress | None = None
    ) -> BuildReport:
        """Fetch an article by URL and add it like a file."""
        name, data, _ = self.read_source(url)
        return self.add_document(server_id, name, data, added_by=added_by, progress=progress, url=url)

    def remove_document(
        self, server_id: int | None, document_key: str, *, progress: BuildProgress | None = None
    ) -> BuildReport | None:
        """Remove one document from a server's library; None when that was the last one."""
        key = library_key(server_id)
        current = self._sources(key)
        kept = [s for s in current if s.sha256[:12] != document_key]
        if len(kept) == len(current):
            raise UnknownDocument("That document is not in this server's library.")
        if not kept:
            if key == DEFAULT_KEY:
                raise DocumentRejected("The default library cannot be left empty.")
            self.delete_library(server_id)
            return None
        return self._build(key, kept, progress)

    def rebuild(self, server_id: int | None, *, progress: BuildProgress | None = None) -> BuildReport:
        """Rebuild a library from what it keeps: a server's uploads, or the configured corpus."""
        key = library_key(server_id)
        if key == DEFAULT_KEY:
            return self.build_from_paths(None, progress)
        sources = self._sources(key)
        if not sources:
            raise UnknownDocument("This server has no documents of its own; it answers from the default library.")
        refreshed, changed = self._refetch(key, sources)
        report = self._build(key, refreshed, progress)
        return dataclasses.replace(report, changed=tuple(changed))

    def _refetch(self, key: str, sources: list[SourceFile]) -> tuple[list[SourceFile], list[str]]:
        """Fetch URL sources again; those whose page changed are kept anew. A page that cannot be
        fetched now keeps its last copy."""
        out: list[SourceFile] = []
        changed: list[str] = []
        for source in sources:
            if not source.url:
                out.append(source)
                continue
            try:
                fetched = fetch(source.url, self.fetch_policy())
            except DocumentRejected as exc:
                log.warning("Kept the last copy of %s: %s", source.url, exc)
                out.append(source)
                continue
            if sha256_bytes(fetched.data) == source.sha256:
                out.append(source)
                continue
            kept = self._keep(
                key, fetched.name, fetched.data, source.added_by, url=source.url, provenance=source.provenance
            )
            out.append(dataclasses.replace(kept, added_at=source.added_at))
            changed.append(source.url)
        return out, changed

    def delete_library(self, server_id: int | None) -> bool:
        """Delete a server's library from disk and memory; the server answers from the default again."""
        if server_id is None:
            raise DocumentRejected("The default library cannot be deleted.")
        key = library_key(server_id)
        directory = self._directory(key)
        with self.libraries.lock_for(key):
            self.libraries.drop(key)
            if not directory.exists():
                return False
            # One rename takes the library out of use at once; the files go after.
            trash = directory.parent / f".deleted-{directory.name}-{uuid.uuid4().hex[:8]}"
            directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def server_libraries(self) -> list[int]:
        """The ids of servers that have a library on disk."""
        root = self.config.index_dir / SERVERS
        if not root.is_dir():
            return []
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and p.is_dir())

    def _keep(
        self,
        key: str,
        name: str,
        data: bytes,
        added_by: str | None,
        *,
        url: str | None = None,
        provenance: Provenance = FILE_OR_PAGE,
    ) -> SourceFile:
        if len(data) > self.config.max_document_bytes:
            raise DocumentRejected(f"The file is {len(data):,} bytes; the limit is {self.config.max_document_bytes:,}.")
        # Refuse a bad file before anything is written.
        parsed = load_document(name, data, split=False, title=provenance.title)
        try:
            kept = keep_upload(self._directory(key), name, data)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull("No space left on the disk that holds the index; nothing was changed.") from exc
            raise
        return SourceFile(
            kept,
            Path(name).name,
            "upload",
            added_by,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            sha256_bytes(data),
            parsed,
            url,
            provenance,
        )

    def _check_limits(self, sources: list[SourceFile]) -> None:
        if len(sources) > self.config.max_documents_per_library:
            raise LibraryFull(
                f"A library holds at most {self.config.max_documents_per_library} documents; remove one first."
            )
        total = sum(s.path.stat().st_size for s in sources if s.path.exists())
        if total > self.config.max_library_bytes:
            raise LibraryFull(
                f"That would make the library {total:,} bytes; the limit is {self.config.max_library_bytes:,}."
            )

    def _same_as_configured(self, paths: list[Path]) -> bool:
        return {p.resolve() for p in paths} == {p.resolve() for p in self.config.corpus_paths}

    # ---- answering -----------------------------------------------------------------------
    def answer(
        self,
        question: str,
        *,
        server_id: int | None = None,
        document: str | None = None,
        context: Exchange | None = None,
    ) -> Answer:
        """Answer one question with verbatim citations from one library, or abstain.

        `document` (a document key from the library's summary) limits the answer to that document.
        `context`, the exchange a follow-up replies to, is read with it ("and the tariffs?").
        A question that asks what the document is about gets its summary.
        """
        started = time.perf_counter()
        question = clean_question(question)
        live = self.live(server_id)
        stored = live.stored
        only = _document_index(stored, document)
        part = metadata_part(question)
        if part is not None:
            meta_answer = answer_metadata(question, part, stored, only)
            if meta_answer is not None:
                return _timed(meta_answer, {"total": _ms(started)})
        if asks_for_summary(question):
            return _timed(self._summary(live, question, only), {"total": _ms(started)})
        follow_up = _follow_up(live, context) if context is not None else None
        t0 = time.perf_counter()
        if follow_up is None:
            vector = self.query_embedder.encode([question])[0]
        else:
            own, previous = self.query_embedder.encode([question, follow_up.previous_question])
            vector = _unit(own + PREVIOUS_QUESTION_WEIGHT * previous)
        t1 = time.perf_counter()
        retrieval = live.retriever.retrieve(question, vector, document=only, follow_up=follow_up)
        t2 = time.perf_counter()
        wordless = not retrieval.query_stems and (retrieval.best is None or retrieval.best.dense < 0.5)
        if wordless and follow_up is None:
            result = abstain(question, stored.documents[only or 0].meta if stored.documents else None, 0.0)
        else:
            result = compose(question, retrieval, stored, self.config.policy)
        if result.abstained:
            searched = stored.documents if only is None else (stored.documents[only],)
            result = dataclasses.replace(result, searched_titles=tuple(d.meta.title for d in searched))
        return _timed(result, {"embed": (t1 - t0) * 1000, "search": (t2 - t1) * 1000, "total": _ms(started)})

    def paragraph(self, key: str, paragraph_index: int, *, server_id: int | None = None) -> QuotedParagraph | None:
        """A paragraph of a document of the library answering for `server_id` (None if it is gone)."""
        stored = self.live(server_id).stored
        number = stored.document_number(key)
        if number is None:
            return None
        document = stored.documents[number]
        if not 0 <= paragraph_index < len(document.paragraphs):
            return None
        paragraph = document.paragraphs[paragraph_index]
        sentences = tuple(s.text for s in document.sentences if s.paragraph_index == paragraph_index)
        return QuotedParagraph(document.meta, paragraph, sentences)

    def summarise(self, *, server_id: int | None = None, document: str | None = None) -> Answer:
        """The summary of one document, or of each document of the library (a few) in its own words."""
        started = time.perf_counter()
        live = self.live(server_id)
        only = _document_index(live.stored, document)
        return _timed(self._summary(live, "Summary", only), {"total": _ms(started)})

    def _summary(self, live: LiveLibrary, question: str, only: int | None) -> Answer:
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


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _within_budget(progress: BuildProgress | None, budget: float, stopping: threading.Event) -> BuildProgress:
    """Progress that stops a build in this process past its time budget, or when citebot stops."""
    deadline = time.monotonic() + budget

    def guarded(stage: str, done: int, total: int) -> None:
        if time.monotonic() > deadline:
            raise BuildTimedOut.after(budget)
        if stopping.is_set():
            raise BuildCancelled("citebot is stopping; the build was stopped and nothing was changed.")
        if progress is not None:
            progress(stage, done, total)

    return guarded


def clean_question(question: str) -> str:
    """Strip control and zero-width characters and cap the length; refuse an empty question."""
    kept = "".join(ch for ch in question if unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\n\t")
    text = " ".join(kept.split())[:MAX_QUESTION_CHARS]
    if not any(ch.isalnum() for ch in text):
        raise QuestionRejected("Ask a question in words, for example: why did relations rupture?")
    return text


def _document_index(stored: StoredIndex, document: str | None) -> int | None:
    if not document:
        return None
    for number, record in enumerate(stored.manifest.sources):
        if isinstance(record, SourceRecord) and record.key == document and number < len(stored.documents):
            return number
    raise UnknownDocument("That document is not in this server's library.")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _timed(answer: Answer, timing: dict[str, float]) -> Answer:
    return dataclasses.replace(answer, timing_ms=timing)
